// Fields on the spot-centred grid: gradients, interpolation at continuous x and
// walls -> obstacle energy O. Mirrors marketphys/core/fields.py and walls.py.
#ifndef MP_FIELDS_H
#define MP_FIELDS_H

#include "mp_common.h"

struct MpLoc {
    int i0;       // left neighbour cell (0-based), in [0, size-2]
    float t;      // fraction in [0, 1]
    bool inside;  // x lies on the grid
};

// inv_dx = 1/dx, precomputed by the caller: a multiply instead of a divide per substep.
inline MpLoc mp_locate(float x, int n, float inv_dx) {
    float f = x * inv_dx + float(n);
    int size = 2 * n + 1;
    MpLoc loc;
    loc.inside = (f >= 0.0f) && (f <= float(size - 1));
    float ff = mp_isnan(f) ? 0.0f : f;
    ff = floor(mp_clip(ff, 0.0f, float(size - 2)));
    loc.i0 = int(ff);
    float t = mp_clip(f - ff, 0.0f, 1.0f);
    loc.t = mp_isfinite(t) ? t : 0.0f;
    return loc;
}

inline float mp_lerp(device const float* a, MpLoc loc) {
    return a[loc.i0] * (1.0f - loc.t) + a[loc.i0 + 1] * loc.t;
}

// Slope of the linear interpolant; zero off the grid (fields hold their edge value).
inline float mp_lerp_slope(device const float* a, MpLoc loc, float inv_dx) {
    return loc.inside ? (a[loc.i0 + 1] - a[loc.i0]) * inv_dx : 0.0f;
}

// Central difference on the grid, one-sided at the two edges.
inline float mp_grid_gradient(float left, float centre, float right, int i, int size, float dx) {
    if (i == 0) return (right - centre) / dx;
    if (i == size - 1) return (centre - left) / dx;
    return (right - left) / (2.0f * dx);
}

// One Gaussian wall's energy S * exp(-z^2/2) at x (ticks from spot); width floored.
// Beyond |z| = 6 the factor (< 1.6e-8) is under float32's resolution of S, so it is skipped.
inline float mp_wall_energy(float x, float center, float strength, float width) {
    float sig = width > MP_MIN_WIDTH ? width : MP_MIN_WIDTH;
    float d = x - center;
    if (d * d > 36.0f * sig * sig) return 0.0f * strength;  // |z| > 6: skip the divide and exp
    float z = d / sig;
    return strength * exp(-0.5f * z * z);
}

struct MpCellRange {
    int lo;
    int hi;  // inclusive; lo > hi when the wall touches no cell
};

// Cells a wall can reach (|z| <= 6, one cell of margin); every cell when the wall is not
// finite, so a NaN wall poisons O exactly as in the reference.
inline MpCellRange mp_wall_cells(float center, float strength, float width, int n, float dx) {
    MpCellRange r;
    r.lo = 0;
    r.hi = 2 * n;
    float sig = width > MP_MIN_WIDTH ? width : MP_MIN_WIDTH;
    if (!(mp_isfinite(center) && mp_isfinite(strength) && mp_isfinite(sig))) return r;
    float flo = (center - 6.0f * sig) / dx + float(n) - 1.0f;
    float fhi = (center + 6.0f * sig) / dx + float(n) + 1.0f;
    if (fhi < 0.0f || flo > float(2 * n)) {
        r.hi = -1;
        return r;
    }
    r.lo = int(floor(mp_clip(flo, 0.0f, float(2 * n))));
    r.hi = int(ceil(mp_clip(fhi, 0.0f, float(2 * n))));
    return r;
}

// Sum over walls stored as (center, strength, width) triples.
inline float mp_obstacle_at(float x, device const float* walls, uint n_walls) {
    float o = 0.0f;
    for (uint k = 0; k < n_walls; ++k) {
        o += mp_wall_energy(x, walls[3 * k], walls[3 * k + 1], walls[3 * k + 2]);
    }
    return o;
}

#endif
