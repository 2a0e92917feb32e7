// Philox draws for the cross-backend RNG check: one thread per (lane, step).
#include <metal_stdlib>
using namespace metal;

#include "include/mp_common.h"
#include "include/mp_params.h"
#include "include/mp_rng.h"

kernel void philox_draws(constant RngParams& p [[buffer(0)]],
                         device uint* words [[buffer(1)]],
                         device float* normals [[buffer(2)]],
                         uint gid [[thread_position_in_grid]]) {
    if (gid >= p.n) return;
    uint lane = gid / p.n_steps + p.lane_offset;
    uint step = gid % p.n_steps;
    MpPhilox o = mp_philox4x32(lane, step, p.stream, 0u, p.seed_lo, p.seed_hi);
    words[4u * gid] = o.w0;
    words[4u * gid + 1u] = o.w1;
    words[4u * gid + 2u] = o.w2;
    words[4u * gid + 3u] = o.w3;
    normals[gid] = mp_normal(p.seed_lo, p.seed_hi, lane, step, p.stream);
}
