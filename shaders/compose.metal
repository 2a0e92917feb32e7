// Field composition: producers' summed contributions + walls -> U, C, G, O, D, dU/dx, dO/dx.
// One thread per (frame, cell); a thread recomputes O at its two neighbours for the
// gradient, so no barriers are needed.
#include <metal_stdlib>
using namespace metal;

#include "include/mp_common.h"
#include "include/mp_params.h"
#include "include/mp_fields.h"

// contrib: [frame][5][cells] (U, C, G, O, D); walls: [frame][n_walls][3]; fields: [frame][7][cells]
kernel void compose_fields(constant ComposeParams& p [[buffer(0)]],
                           device const float* contrib [[buffer(1)]],
                           device const float* walls [[buffer(2)]],
                           device float* fields [[buffer(3)]],
                           uint gid [[thread_position_in_grid]]) {
    if (gid >= p.n) return;
    uint f = gid / p.cells;
    int i = int(gid % p.cells);
    int size = int(p.cells);
    device const float* c = contrib + f * 5u * p.cells;
    device const float* w = walls + f * 3u * p.n_walls;
    device float* out = fields + f * uint(MP_N_FIELDS) * p.cells;
    for (uint k = 0; k < 5u; ++k) out[k * p.cells + uint(i)] = c[k * p.cells + uint(i)];
    int il = i > 0 ? i - 1 : i;
    int ir = i < size - 1 ? i + 1 : i;
    float xl = float(il - p.grid_n) * p.dx;
    float xc = float(i - p.grid_n) * p.dx;
    float xr = float(ir - p.grid_n) * p.dx;
    float o_l = c[MP_F_O * p.cells + uint(il)] + mp_obstacle_at(xl, w, p.n_walls);
    float o_c = c[MP_F_O * p.cells + uint(i)] + mp_obstacle_at(xc, w, p.n_walls);
    float o_r = c[MP_F_O * p.cells + uint(ir)] + mp_obstacle_at(xr, w, p.n_walls);
    out[MP_F_O * p.cells + uint(i)] = o_c;
    device const float* U = c + MP_F_U * p.cells;
    out[MP_F_DU * p.cells + uint(i)] = mp_grid_gradient(U[il], U[i], U[ir], i, size, p.dx);
    out[MP_F_DO * p.cells + uint(i)] = mp_grid_gradient(o_l, o_c, o_r, i, size, p.dx);
}
