// Field composition: producers' summed contributions + walls -> U, C, G, O, D, dU/dx, dO/dx.
// One thread per frame: it copies U, C, G, O, D, adds each wall's energy over the cells
// within 6 widths of it (mp_wall_cells), then differentiates U and O. No barriers, no
// per-cell index division; a replay block holds thousands of frames, plenty of threads.
#include <metal_stdlib>
using namespace metal;

#include "include/mp_common.h"
#include "include/mp_params.h"
#include "include/mp_fields.h"

// contrib: [frame][5][cells] (U, C, G, O, D); walls: [frame][n_walls][3]; fields: [frame][7][cells]
kernel void compose_frames(constant ComposeParams& p [[buffer(0)]],
                           device const float* contrib [[buffer(1)]],
                           device const float* walls [[buffer(2)]],
                           device float* fields [[buffer(3)]],
                           uint gid [[thread_position_in_grid]]) {
    if (gid >= p.n) return;
    uint cells = p.cells;
    device const float* c = contrib + gid * 5u * cells;
    device const float* w = walls + gid * 3u * p.n_walls;
    device float* out = fields + gid * uint(MP_N_FIELDS) * cells;
    for (uint k = 0; k < 5u; ++k) {
        for (uint i = 0; i < cells; ++i) out[k * cells + i] = c[k * cells + i];
    }
    device float* O = out + MP_F_O * cells;
    int size = int(cells);
    for (uint k = 0; k < p.n_walls; ++k) {
        MpCellRange r = mp_wall_cells(w[3u * k], w[3u * k + 1u], w[3u * k + 2u], p.grid_n, p.dx);
        for (int i = r.lo; i <= r.hi; ++i) {
            float x = float(i - p.grid_n) * p.dx;
            O[i] += mp_wall_energy(x, w[3u * k], w[3u * k + 1u], w[3u * k + 2u]);
        }
    }
    device const float* U = out + MP_F_U * cells;
    for (int i = 0; i < size; ++i) {
        int il = i > 0 ? i - 1 : i;
        int ir = i < size - 1 ? i + 1 : i;
        out[MP_F_DU * cells + uint(i)] = mp_grid_gradient(U[il], U[i], U[ir], i, size, p.dx);
        out[MP_F_DO * cells + uint(i)] = mp_grid_gradient(O[il], O[i], O[ir], i, size, p.dx);
    }
}
