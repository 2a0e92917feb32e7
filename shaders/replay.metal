// Replay / batched calibration: each lane (MP_LANES per thread, learning together) runs the whole online loop over a block
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
    // This thread's lanes: base .. base + MP_LANES - 1 (those past p.lanes repeat the last
    // lane's work and are never written). Lane state lives in structure-of-arrays form
    // ([k * MP_LANES + j]) while the block runs: the rollout (mp_rollout_group) and the learner
    // (mp_learn_group) run the whole group at once; only the ledger ring is walked lane by lane.
    uint base = gid * uint(MP_LANES);
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
    uint lane_of[MP_LANES];
    bool live[MP_LANES];
    float th[MP_N_PARAMS * MP_LANES];
    float A[MP_N_PARAMS * MP_N_PARAMS * MP_LANES];
    uint bound_hits[MP_N_PARAMS * MP_LANES];
    uint n_updates[MP_LANES];
    MpGroupHyper hp;
    for (int q = 0; q < MP_N_PARAMS; ++q) {
        hp.lo[q] = p.lo[q];
        hp.hi[q] = p.hi[q];
    }
    for (int j = 0; j < MP_LANES; ++j) {
        lane_of[j] = min(base + uint(j), p.lanes - 1u);
        live[j] = base + uint(j) < p.lanes;
        device const LaneState& s = state[lane_of[j]];
        device const LaneHyper& hl = hyper[lane_of[j]];
        n_updates[j] = s.n_updates;
        for (int q = 0; q < MP_N_PARAMS; ++q) {
            th[q * MP_LANES + j] = s.theta[q];
            bound_hits[q * MP_LANES + j] = s.bound_hits[q];
        }
        for (int a = 0; a < MP_N_PARAMS * MP_N_PARAMS; ++a) A[a * MP_LANES + j] = s.A[a];
        hp.delta[j] = hl.huber_delta;
        hp.forget[j] = hl.forgetting;
        hp.damp[j] = hl.damping;
        hp.ridge[j] = hl.ridge;
        hp.step[j] = hl.step_size;
        hp.learn[j] = hl.learn != 0u ? 1.0f : 0.0f;
        for (int h = 0; h < MP_MAX_H; ++h) hp.alpha[h * MP_LANES + j] = hl.alpha[h];
    }
    uint st[4 * MP_LANES];
    for (int k = 0; k < 4 * MP_LANES; ++k) st[k] = 0u;
    float x0f[MP_LANES];
    float v0f[MP_LANES];
    float a0[MP_LANES];
    float lx[MP_MAX_H * MP_LANES];
    float lv[MP_MAX_H * MP_LANES];
    float lj[MP_MAX_H * MP_N_PARAMS * MP_LANES];
    uint done[MP_LANES];
    bool active[MP_LANES];
    float loss[MP_LANES];
    MpGroupSlot slot;
    for (uint f = 0; f < p.n_frames; ++f) {
        uint most = 0u;
        for (int j = 0; j < MP_LANES; ++j) {
            done[j] = live[j] ? mp_ledger_resolve(state[lane_of[j]], t[f], spot[f], H, p.dt_units, p.tol_units) : 0u;
            most = max(most, done[j]);
        }
        for (uint k = 0; k < most; ++k) {  // completed origins, oldest first; usually one per frame
            for (int j = 0; j < MP_LANES; ++j) {
                device const LaneState& s = state[lane_of[j]];
                device const LedgerSlot& e = s.ledger[s.ledger_head];
                bool on = k < done[j];
                active[j] = on && mp_slot_any_resolved(e, H);
                for (uint h = 0; h < H; ++h) {
                    bool ok = on && e.status[h] == MP_RESOLVED && mp_isfinite(e.actual[h]);
                    slot.okm[h * uint(MP_LANES) + uint(j)] = ok ? 1.0f : 0.0f;
                    slot.xh[h * uint(MP_LANES) + uint(j)] = on ? e.x_hat[h] : 0.0f;
                    slot.act[h * uint(MP_LANES) + uint(j)] = ok ? e.actual[h] : 0.0f;
                    for (uint q = 0; q < uint(MP_N_PARAMS); ++q) {
                        slot.jc[(h * uint(MP_N_PARAMS) + q) * uint(MP_LANES) + uint(j)] = on ? e.jac[h * uint(MP_N_PARAMS) + q] : 0.0f;
                    }
                }
                for (int q = 0; q < MP_N_PARAMS; ++q) slot.et[q * MP_LANES + j] = on ? e.theta[q] : 0.0f;
            }
            mp_learn_group(th, A, bound_hits, n_updates, slot, hp, H, active, loss);
            for (int j = 0; j < MP_LANES; ++j) {
                if (k >= done[j]) continue;
                device LaneState& s = state[lane_of[j]];
                if (active[j]) {
                    s.last_loss = loss[j];
                    s.loss_sum += loss[j];
                    s.n_learned += 1u;
                }
                s.ledger_head = (s.ledger_head + 1u) % MP_LEDGER_CAP;
                s.ledger_count -= 1u;
            }
        }
        for (int j = 0; j < MP_LANES; ++j) {
            x0f[j] = x0[f];
            v0f[j] = v0[f];
        }
        mp_rollout_group(fields + f * uint(MP_N_FIELDS) * p.cells, cfg, th, x0f, v0f, true, false, false, 0u, 0u, base, 0u,
                         lx, lv, lj, a0, st);
        for (int j = 0; j < MP_LANES; ++j) {
            if (!live[j]) continue;
            uint lane = lane_of[j];
            device LaneState& s = state[lane];
            device LedgerSlot& e = mp_ledger_push(s);
            e.t = t[f];
            e.spot = spot[f];
            for (uint h = 0; h < uint(MP_MAX_H); ++h) {
                e.x_hat[h] = h < H ? lx[h * uint(MP_LANES) + uint(j)] : 0.0f;
                e.actual[h] = 0.0f;
                e.status[h] = h < H ? MP_PENDING : MP_EXPIRED;
            }
            for (uint h = 0; h < H; ++h) {
                for (uint q = 0; q < uint(MP_N_PARAMS); ++q) {
                    e.jac[h * uint(MP_N_PARAMS) + q] = lj[(h * uint(MP_N_PARAMS) + q) * uint(MP_LANES) + uint(j)];
                }
            }
            for (int q = 0; q < MP_N_PARAMS; ++q) e.theta[q] = th[q * MP_LANES + j];
            if (p.write_trace != 0u) {
                for (uint h = 0; h < H; ++h) trace_x[(lane * p.n_frames + f) * H + h] = lx[h * uint(MP_LANES) + uint(j)];
                for (uint q = 0; q < uint(MP_N_PARAMS); ++q) {
                    trace_theta[(lane * p.n_frames + f) * uint(MP_N_PARAMS) + q] = th[q * uint(MP_LANES) + uint(j)];
                }
            }
        }
    }
    for (int j = 0; j < MP_LANES; ++j) {
        if (!live[j]) continue;
        device LaneState& s = state[lane_of[j]];
        for (int q = 0; q < MP_N_PARAMS; ++q) {
            s.theta[q] = th[q * MP_LANES + j];
            s.bound_hits[q] = bound_hits[q * MP_LANES + j];
        }
        for (int a = 0; a < MP_N_PARAMS * MP_N_PARAMS; ++a) s.A[a] = A[a * MP_LANES + j];
        s.n_updates = n_updates[j];
        s.stats[0] += st[MP_ST_CLAMP_A * MP_LANES + j];
        s.stats[1] += st[MP_ST_CLAMP_V * MP_LANES + j];
        s.stats[2] += st[MP_ST_NONFINITE * MP_LANES + j];
        s.stats[3] += st[MP_ST_OFF_GRID * MP_LANES + j];
    }
}
