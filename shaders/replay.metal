// Replay / batched calibration: each lane runs the whole online loop over a block
// of composed frames with its own theta0 and hyper-parameters: resolve the ledger
// and learn from completed origins, roll out H steps with sensitivities, record the
// forecast. Lane state (theta, A, ledger ring, scores) persists across blocks.
#include <metal_stdlib>
using namespace metal;

#include "include/mp_common.h"
#include "include/mp_params.h"
#include "include/mp_fields.h"
#include "include/mp_integrator.h"
#include "include/mp_learner.h"
#include "include/mp_ledger.h"

// fields: [frame][7][cells]; t: frame time (clock units); spot: ticks from the anchor;
// v0 / x0: initial velocity and position (ticks from spot) per frame; trace_x: [lane][frame][H]; trace_theta: [lane][frame][5].
kernel void replay_lanes(constant ReplayParams& p [[buffer(0)]],
                         device const float* fields [[buffer(1)]],
                         device const int* t [[buffer(2)]],
                         device const float* spot [[buffer(3)]],
                         device const float* v0 [[buffer(4)]],
                         device const LaneHyper* hyper [[buffer(5)]],
                         device LaneState* state [[buffer(6)]],
                         device float* trace_x [[buffer(7)]],
                         device float* trace_theta [[buffer(8)]],
                         device const float* x0 [[buffer(9)]],
                         uint gid [[thread_position_in_grid]]) {
    if (gid >= p.n) return;
    device LaneState& s = state[gid];
    device const LaneHyper& hp = hyper[gid];
    uint H = p.horizons;
    MpRolloutCfg cfg;
    cfg.grid_n = p.grid_n;
    cfg.cells = p.cells;
    cfg.dx = p.dx;
    cfg.horizons = H;
    cfg.substeps = p.substeps;
    cfg.h = p.h;
    cfg.a_max = p.a_max;
    cfg.v_max = p.v_max;
    float theta[MP_N_PARAMS];
    float A[MP_N_PARAMS * MP_N_PARAMS];
    uint bound_hits[MP_N_PARAMS];
    uint n_updates = s.n_updates;
    for (int q = 0; q < MP_N_PARAMS; ++q) {
        theta[q] = s.theta[q];
        bound_hits[q] = s.bound_hits[q];
    }
    for (int a = 0; a < MP_N_PARAMS * MP_N_PARAMS; ++a) A[a] = s.A[a];
    MpStats st = mp_stats_zero();
    float lx[MP_MAX_H];
    float lv[MP_MAX_H];
    float lj[MP_MAX_H * MP_N_PARAMS];
    for (uint f = 0; f < p.n_frames; ++f) {
        uint done = mp_ledger_resolve(s, t[f], spot[f], H, p.dt_units, p.tol_units);
        for (uint j = 0; j < done; ++j) {
            device const LedgerSlot& e = s.ledger[s.ledger_head];
            if (mp_slot_any_resolved(e, H)) {
                float loss = mp_learn_one(theta, A, e, H, hp, p, bound_hits, n_updates);
                s.last_loss = loss;
                s.loss_sum += loss;
                s.n_learned += 1u;
            }
            s.ledger_head = (s.ledger_head + 1u) % MP_LEDGER_CAP;
            s.ledger_count -= 1u;
        }
        float a0 = 0.0f;
        mp_rollout_lane(fields + f * uint(MP_N_FIELDS) * p.cells, cfg, theta, x0[f], v0[f], true, false,
                        0u, 0u, gid, 0u, lx, lv, lj, a0, st);
        device LedgerSlot& e = mp_ledger_push(s);
        e.t = t[f];
        e.spot = spot[f];
        for (uint h = 0; h < uint(MP_MAX_H); ++h) {
            e.x_hat[h] = h < H ? lx[h] : 0.0f;
            e.actual[h] = 0.0f;
            e.status[h] = h < H ? MP_PENDING : MP_EXPIRED;
        }
        for (uint k = 0; k < H * uint(MP_N_PARAMS); ++k) e.jac[k] = lj[k];
        for (int q = 0; q < MP_N_PARAMS; ++q) e.theta[q] = theta[q];
        if (p.write_trace != 0u) {
            for (uint h = 0; h < H; ++h) trace_x[(gid * p.n_frames + f) * H + h] = lx[h];
            for (uint q = 0; q < uint(MP_N_PARAMS); ++q) trace_theta[(gid * p.n_frames + f) * uint(MP_N_PARAMS) + q] = theta[q];
        }
    }
    for (int q = 0; q < MP_N_PARAMS; ++q) {
        s.theta[q] = theta[q];
        s.bound_hits[q] = bound_hits[q];
    }
    for (int a = 0; a < MP_N_PARAMS * MP_N_PARAMS; ++a) s.A[a] = A[a];
    s.n_updates = n_updates;
    s.stats[0] += st.clamp_a;
    s.stats[1] += st.clamp_v;
    s.stats[2] += st.nonfinite;
    s.stats[3] += st.off_grid;
}
