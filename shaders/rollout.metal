// Batched rollout: one thread per lane (ensemble path or theta candidate) runs
// H horizons x substeps with forward sensitivities and optional seeded diffusion.
#include <metal_stdlib>
using namespace metal;

#include "include/mp_common.h"
#include "include/mp_params.h"
#include "include/mp_rng.h"
#include "include/mp_fields.h"
#include "include/mp_integrator.h"

// fields: [7][cells] for one frame; theta: [lane*theta_stride + p]; outputs per lane.
kernel void rollout_lanes(constant RolloutParams& p [[buffer(0)]],
                          device const float* fields [[buffer(1)]],
                          device const float* theta [[buffer(2)]],
                          device const float* v0 [[buffer(3)]],
                          device const float* x0 [[buffer(4)]],
                          device float* xs [[buffer(5)]],
                          device float* vs [[buffer(6)]],
                          device float* jac [[buffer(7)]],
                          device float* a0 [[buffer(8)]],
                          device uint* stats [[buffer(9)]],
                          uint gid [[thread_position_in_grid]]) {
    if (gid >= p.n) return;
    MpRolloutCfg cfg;
    cfg.grid_n = p.grid_n;
    cfg.cells = p.cells;
    cfg.dx = p.dx;
    cfg.horizons = p.horizons;
    cfg.substeps = p.substeps;
    cfg.h = p.h;
    cfg.a_max = p.a_max;
    cfg.v_max = p.v_max;
    float th[MP_N_PARAMS];
    for (uint q = 0; q < uint(MP_N_PARAMS); ++q) th[q] = theta[gid * p.theta_stride + q];
    float lx[MP_MAX_H];
    float lv[MP_MAX_H];
    float lj[MP_MAX_H * MP_N_PARAMS];
    float la0 = 0.0f;
    MpStats st = mp_stats_zero();
    float xs0 = x0[gid * p.x0_stride];
    float vs0 = v0[gid * p.v0_stride];
    uint lane = gid + p.lane_offset;
    // constant flags per call site, so each variant compiles without the branches it does not take
    if (p.sensitivities != 0u) {
        if (p.diffusion != 0u) {
            mp_rollout_lane(fields, cfg, th, xs0, vs0, true, true, p.seed_lo, p.seed_hi, lane, p.stream, lx, lv, lj, la0, st);
        } else {
            mp_rollout_lane(fields, cfg, th, xs0, vs0, true, false, p.seed_lo, p.seed_hi, lane, p.stream, lx, lv, lj, la0, st);
        }
    } else if (p.diffusion != 0u) {
        mp_rollout_lane(fields, cfg, th, xs0, vs0, false, true, p.seed_lo, p.seed_hi, lane, p.stream, lx, lv, lj, la0, st);
    } else {
        mp_rollout_lane(fields, cfg, th, xs0, vs0, false, false, p.seed_lo, p.seed_hi, lane, p.stream, lx, lv, lj, la0, st);
    }
    for (uint h = 0; h < p.horizons; ++h) {
        xs[gid * p.horizons + h] = lx[h];
        vs[gid * p.horizons + h] = lv[h];
    }
    if (p.sensitivities != 0u) {
        for (uint k = 0; k < p.horizons * uint(MP_N_PARAMS); ++k) jac[gid * p.horizons * uint(MP_N_PARAMS) + k] = lj[k];
    }
    a0[gid] = la0;
    stats[4u * gid] = st.clamp_a;
    stats[4u * gid + 1u] = st.clamp_v;
    stats[4u * gid + 2u] = st.nonfinite;
    stats[4u * gid + 3u] = st.off_grid;
}
