// Batched rollout: each thread runs a group of MP_LANES lanes (ensemble paths or theta
// candidates) through H horizons x substeps with forward sensitivities and optional seeded
// diffusion (mp_rollout_group); lanes past p.lanes repeat the last lane and are not written.
#include <metal_stdlib>
using namespace metal;

#include "include/mp_common.h"
#include "include/mp_params.h"
#include "include/mp_rng.h"
#include "include/mp_fields.h"
#include "include/mp_integrator.h"

// fields: [7][cells] for one frame; table: [3][cells] pairs from medium_table, read instead of
// fields when p.tabled (one theta for all lanes, no sensitivities; else a 1-element dummy);
// theta: [lane*theta_stride + p]; outputs per lane.
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
                          device const ulong* table [[buffer(10)]],
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
    uint base = gid * uint(MP_LANES);
    float th[MP_N_PARAMS * MP_LANES];
    float lx0[MP_LANES];
    float lv0[MP_LANES];
    float la0[MP_LANES];
    uint st[4 * MP_LANES];
    for (int j = 0; j < MP_LANES; ++j) {
        uint lane = min(base + uint(j), p.lanes - 1u);
        for (int q = 0; q < MP_N_PARAMS; ++q) th[q * MP_LANES + j] = theta[lane * p.theta_stride + uint(q)];
        lx0[j] = x0[lane * p.x0_stride];
        lv0[j] = v0[lane * p.v0_stride];
        la0[j] = 0.0f;
    }
    for (int k = 0; k < 4 * MP_LANES; ++k) st[k] = 0u;
    float lx[MP_MAX_H * MP_LANES];
    float lv[MP_MAX_H * MP_LANES];
    float lj[MP_MAX_H * MP_N_PARAMS * MP_LANES];
    uint lane0 = base + p.lane_offset;
    // constant flags per call site, so each variant compiles without the work it does not do
    bool diffuse = p.diffusion != 0u;
    if (p.sensitivities != 0u) {
        if (diffuse) {
            mp_rollout_group(fields, cfg, th, lx0, lv0, true, true, false, p.seed_lo, p.seed_hi, lane0, p.stream, lx, lv, lj, la0, st);
        } else {
            mp_rollout_group(fields, cfg, th, lx0, lv0, true, false, false, p.seed_lo, p.seed_hi, lane0, p.stream, lx, lv, lj, la0, st);
        }
    } else if (p.tabled != 0u) {
        if (diffuse) {
            mp_rollout_group(nullptr, cfg, th, lx0, lv0, false, true, true, p.seed_lo, p.seed_hi, lane0, p.stream, lx, lv, lj, la0, st,
                             false, table);
        } else {
            mp_rollout_group(nullptr, cfg, th, lx0, lv0, false, false, true, p.seed_lo, p.seed_hi, lane0, p.stream, lx, lv, lj, la0, st,
                             false, table);
        }
    } else if (diffuse) {
        mp_rollout_group(fields, cfg, th, lx0, lv0, false, true, false, p.seed_lo, p.seed_hi, lane0, p.stream, lx, lv, lj, la0, st);
    } else {
        mp_rollout_group(fields, cfg, th, lx0, lv0, false, false, false, p.seed_lo, p.seed_hi, lane0, p.stream, lx, lv, lj, la0, st);
    }
    uint H = p.horizons;
    for (int j = 0; j < MP_LANES; ++j) {
        uint lane = base + uint(j);
        if (lane >= p.lanes) break;
        for (uint h = 0; h < H; ++h) {
            xs[lane * H + h] = lx[h * uint(MP_LANES) + uint(j)];
            vs[lane * H + h] = lv[h * uint(MP_LANES) + uint(j)];
        }
        if (p.sensitivities != 0u) {
            for (uint h = 0; h < H; ++h) {
                for (uint q = 0; q < uint(MP_N_PARAMS); ++q) {
                    jac[(lane * H + h) * uint(MP_N_PARAMS) + q] = lj[(h * uint(MP_N_PARAMS) + q) * uint(MP_LANES) + uint(j)];
                }
            }
        }
        a0[lane] = la0[j];
        for (uint r = 0; r < 4u; ++r) stats[4u * lane + r] = st[r * uint(MP_LANES) + uint(j)];
    }
}

// One thread per cell: the frame's medium table for one theta (mp_medium_table), built once
// and then shared by every path of an ensemble (rollout_lanes with p.tabled).
kernel void medium_table(constant TableParams& p [[buffer(0)]],
                         device const float* fields [[buffer(1)]],
                         device ulong* table [[buffer(2)]],
                         uint gid [[thread_position_in_grid]]) {
    if (gid >= p.n) return;
    float th[MP_N_PARAMS];
    for (int q = 0; q < MP_N_PARAMS; ++q) th[q] = p.theta[q];
    mp_medium_table(fields, p.n, gid, th, table);
}
