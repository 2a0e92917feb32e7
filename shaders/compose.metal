// Field composition: producers' summed contributions + walls -> U, C, G, O, D, dU/dx, dO/dx.
// Two passes, one thread per (frame, cell) each: compose_fields writes U, C, G, D and
// O (contribution + every wall's energy), then compose_gradients differentiates U and O.
// Two coarse dispatches instead of barriers; each wall is evaluated once per cell.
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
    uint i = gid % p.cells;
    device const float* c = contrib + f * 5u * p.cells;
    device float* out = fields + f * uint(MP_N_FIELDS) * p.cells;
    for (uint k = 0; k < 5u; ++k) out[k * p.cells + i] = c[k * p.cells + i];
    float x = float(int(i) - p.grid_n) * p.dx;
    out[MP_F_O * p.cells + i] = c[MP_F_O * p.cells + i] + mp_obstacle_at(x, walls + f * 3u * p.n_walls, p.n_walls);
}

// Central differences of U and O (one-sided at the edges), after compose_fields.
kernel void compose_gradients(constant ComposeParams& p [[buffer(0)]],
                              device float* fields [[buffer(1)]],
                              uint gid [[thread_position_in_grid]]) {
    if (gid >= p.n) return;
    uint f = gid / p.cells;
    int i = int(gid % p.cells);
    int size = int(p.cells);
    int il = i > 0 ? i - 1 : i;
    int ir = i < size - 1 ? i + 1 : i;
    device float* out = fields + f * uint(MP_N_FIELDS) * p.cells;
    device float* U = out + MP_F_U * p.cells;
    device float* O = out + MP_F_O * p.cells;
    out[MP_F_DU * p.cells + uint(i)] = mp_grid_gradient(U[il], U[i], U[ir], i, size, p.dx);
    out[MP_F_DO * p.cells + uint(i)] = mp_grid_gradient(O[il], O[i], O[ir], i, size, p.dx);
}
