// Ranks of each column of a (rows x cols) matrix without sorting: one thread per column.
// Three linear passes: min/max, a histogram of p.bins equal-width bins, and a copy of only
// the elements of the bins that hold a requested rank; then a selection (mp_select_rank)
// inside those few elements. Binning is monotone in the value, so the result is exact.
// Used for ensemble bands: the host interpolates between the two ranks around a quantile.
#include <metal_stdlib>
using namespace metal;

#include "include/mp_common.h"
#include "include/mp_params.h"
#include "include/mp_select.h"

#define MP_MAX_RANKS 32
#define MP_NOT_TARGET 0xffffffffu

// Equal-width bin of v in [lo, ...): rounding is monotone, so v <= w gives bin(v) <= bin(w).
// A select, not min(): the input is finite, and the CPU build inlines a select (min() is a
// library call there).
inline uint mp_bin(float v, float lo, float scale, uint bins) {
    float b = (v - lo) * scale;
    float top = float(bins - 1u);
    return uint(int(b < top ? b : top));
}

// x: [rows][cols] (finite); scratch: [cols][rows]; hist: [cols][bins];
// ranks: [n_ranks] ascending, unique, < rows, n_ranks <= 32; out: [cols][n_ranks]
kernel void select_ranks(constant SelectParams& p [[buffer(0)]],
                         device const float* x [[buffer(1)]],
                         device float* scratch [[buffer(2)]],
                         device uint* hist [[buffer(3)]],
                         device const uint* ranks [[buffer(4)]],
                         device float* out [[buffer(5)]],
                         uint gid [[thread_position_in_grid]]) {
    if (gid >= p.n) return;
    uint rows = p.rows;
    uint cols = p.cols;
    uint bins = p.bins;
    device float* a = scratch + gid * rows;
    device uint* cnt = hist + gid * bins;
    float lo = x[gid];
    float hi = x[gid];
    for (uint i = 1; i < rows; ++i) {
        float v = x[i * cols + gid];
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    float scale = float(bins) / (hi - lo);
    if (!(hi > lo) || !mp_isfinite(scale)) scale = 0.0f;  // one bin: select over the whole column
    for (uint b = 0; b < bins; ++b) cnt[b] = 0u;
    for (uint i = 0; i < rows; ++i) cnt[mp_bin(x[i * cols + gid], lo, scale, bins)] += 1u;
    // each rank's bin, the count before that bin, and the bin's size
    uint rank_bin[MP_MAX_RANKS];
    uint before[MP_MAX_RANKS];
    uint size[MP_MAX_RANKS];
    uint start[MP_MAX_RANKS];
    uint nr = p.n_ranks < uint(MP_MAX_RANKS) ? p.n_ranks : uint(MP_MAX_RANKS);
    uint b = 0u;
    uint below = 0u;
    for (uint r = 0; r < nr; ++r) {
        uint k = ranks[r];
        while (below + cnt[b] <= k) {
            below += cnt[b];
            b += 1u;
        }
        rank_bin[r] = b;
        before[r] = below;
        size[r] = cnt[b];
    }
    // target bins get the start of their region in scratch (regions in bin order); others are marked
    uint next = 0u;
    for (uint r = 0; r < nr; ++r) {
        bool fresh = r == 0u || rank_bin[r] != rank_bin[r - 1u];
        start[r] = fresh ? next : start[r - 1u];
        next = fresh ? next + size[r] : next;
    }
    for (uint c = 0; c < bins; ++c) cnt[c] = MP_NOT_TARGET;
    for (uint r = 0; r < nr; ++r) cnt[rank_bin[r]] = start[r];
    for (uint i = 0; i < rows; ++i) {
        float v = x[i * cols + gid];
        uint bi = mp_bin(v, lo, scale, bins);
        uint s = cnt[bi];
        if (s != MP_NOT_TARGET) {
            a[s] = v;
            cnt[bi] = s + 1u;
        }
    }
    for (uint r = 0; r < nr; ++r) {
        bool same = r > 0u && rank_bin[r] == rank_bin[r - 1u];
        int from = same ? int(ranks[r - 1u] - before[r]) : 0;
        out[gid * p.n_ranks + r] = mp_select_rank(a + start[r], from, int(size[r]), int(ranks[r] - before[r]));
    }
}
