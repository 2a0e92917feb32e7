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

// fields: [frame][7][cells]; pairs: [frame][4][cells] from pair_rows, read instead of the fields
// when p.paired (else a 1-element dummy); t: frame time (clock units); spot: ticks from the anchor;
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
                         device const ulong* pairs [[buffer(10)]],
                         uint gid [[thread_position_in_grid]]) {
    if (gid >= p.n) return;
    // This thread's lanes: base .. base + MP_LANES - 1 (those past p.lanes repeat the last
    // lane's work and are never written). Lane state lives in structure-of-arrays form
    // ([k * MP_LANES + j]) while the block runs: the rollout (mp_rollout_group), the learner
    // (mp_learn_group) and the ledger (MpGroupLedger: ring timing shared, forecasts per lane) run
    // the whole group at once.
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
    float loss_sum[MP_LANES];
    float last_loss[MP_LANES];
    uint n_learned[MP_LANES];
    for (int j = 0; j < MP_LANES; ++j) {
        device const LaneState& s = state[lane_of[j]];
        loss_sum[j] = s.loss_sum;
        last_loss[j] = s.last_loss;
        n_learned[j] = s.n_learned;
    }
    MpGroupLedger g;
    mp_group_ledger_load(g, state, lane_of);
    float x0f[MP_LANES];
    float v0f[MP_LANES];
    float a0[MP_LANES];
    float lx[MP_MAX_H * MP_LANES];
    float lv[MP_MAX_H * MP_LANES];
    float lj[MP_MAX_H * MP_N_PARAMS * MP_LANES];
    float loss[MP_LANES];
    MpGroupSlot slot;
    for (uint f = 0; f < p.n_frames; ++f) {
        uint done = mp_group_resolve(g, t[f], spot[f], H, p.dt_units, p.tol_units);
        for (uint k = 0; k < done; ++k) {  // completed origins, oldest first; usually one per frame
            uint e = g.head;
            bool any = false;
            for (uint h = 0; h < H; ++h) {
                uint i = e * uint(MP_MAX_H) + h;
                bool ok = g.status[i] == MP_RESOLVED && mp_isfinite(g.actual[i]);
                any = any || ok;
                float okm = ok ? 1.0f : 0.0f;
                float act = ok ? g.actual[i] : 0.0f;
                for (int j = 0; j < MP_LANES; ++j) {
                    slot.okm[h * uint(MP_LANES) + uint(j)] = okm;
                    slot.act[h * uint(MP_LANES) + uint(j)] = act;
                    slot.xh[h * uint(MP_LANES) + uint(j)] = g.x_hat[i * uint(MP_LANES) + uint(j)];
                }
                for (uint q = 0; q < uint(MP_N_PARAMS); ++q) {
                    for (int j = 0; j < MP_LANES; ++j) {
                        slot.jc[(h * uint(MP_N_PARAMS) + q) * uint(MP_LANES) + uint(j)] =
                            g.jac[(i * uint(MP_N_PARAMS) + q) * uint(MP_LANES) + uint(j)];
                    }
                }
            }
            for (int q = 0; q < MP_N_PARAMS; ++q) {
                for (int j = 0; j < MP_LANES; ++j) slot.et[q * MP_LANES + j] = g.theta[(e * uint(MP_N_PARAMS) + uint(q)) * uint(MP_LANES) + uint(j)];
            }
            mp_learn_group(th, A, bound_hits, n_updates, slot, hp, H, any, loss);
            if (any) {
                for (int j = 0; j < MP_LANES; ++j) {
                    last_loss[j] = loss[j];
                    loss_sum[j] += loss[j];
                    n_learned[j] += 1u;
                }
            }
            g.head = (g.head + 1u) % uint(MP_LEDGER_CAP);
            g.count -= 1u;
        }
        for (int j = 0; j < MP_LANES; ++j) {
            x0f[j] = x0[f];
            v0f[j] = v0[f];
        }
        if (p.paired != 0u) {  // many lanes: the block's pair rows were built once for all groups
            mp_rollout_group(nullptr, cfg, th, x0f, v0f, true, false, false, 0u, 0u, base, 0u, lx, lv, lj, a0, st, true,
                             pairs + f * uint(MP_N_PAIRS) * p.cells);
        } else {
            mp_rollout_group(fields + f * uint(MP_N_FIELDS) * p.cells, cfg, th, x0f, v0f, true, false, false, 0u, 0u, base, 0u,
                             lx, lv, lj, a0, st);
        }
        uint e = mp_group_push(g, t[f], spot[f], H);
        for (uint h = 0; h < uint(MP_MAX_H); ++h) {
            uint i = e * uint(MP_MAX_H) + h;
            for (int j = 0; j < MP_LANES; ++j) g.x_hat[i * uint(MP_LANES) + uint(j)] = h < H ? lx[h * uint(MP_LANES) + uint(j)] : 0.0f;
        }
        for (uint h = 0; h < H; ++h) {
            uint i = e * uint(MP_MAX_H) + h;
            for (uint q = 0; q < uint(MP_N_PARAMS); ++q) {
                for (int j = 0; j < MP_LANES; ++j) {
                    g.jac[(i * uint(MP_N_PARAMS) + q) * uint(MP_LANES) + uint(j)] = lj[(h * uint(MP_N_PARAMS) + q) * uint(MP_LANES) + uint(j)];
                }
            }
        }
        for (int q = 0; q < MP_N_PARAMS; ++q) {
            for (int j = 0; j < MP_LANES; ++j) g.theta[(e * uint(MP_N_PARAMS) + uint(q)) * uint(MP_LANES) + uint(j)] = th[q * MP_LANES + j];
        }
        if (p.write_trace != 0u) {
            for (int j = 0; j < MP_LANES; ++j) {
                if (!live[j]) continue;
                uint lane = lane_of[j];
                for (uint h = 0; h < H; ++h) trace_x[(lane * p.n_frames + f) * H + h] = lx[h * uint(MP_LANES) + uint(j)];
                for (uint q = 0; q < uint(MP_N_PARAMS); ++q) {
                    trace_theta[(lane * p.n_frames + f) * uint(MP_N_PARAMS) + q] = th[q * uint(MP_LANES) + uint(j)];
                }
            }
        }
    }
    mp_mirror_upper(A);
    for (int j = 0; j < MP_LANES; ++j) {
        if (!live[j]) continue;
        device LaneState& s = state[lane_of[j]];
        for (int q = 0; q < MP_N_PARAMS; ++q) {
            s.theta[q] = th[q * MP_LANES + j];
            s.bound_hits[q] = bound_hits[q * MP_LANES + j];
        }
        for (int a = 0; a < MP_N_PARAMS * MP_N_PARAMS; ++a) s.A[a] = A[a * MP_LANES + j];
        s.n_updates = n_updates[j];
        s.loss_sum = loss_sum[j];
        s.last_loss = last_loss[j];
        s.n_learned = n_learned[j];
        s.stats[0] += st[MP_ST_CLAMP_A * MP_LANES + j];
        s.stats[1] += st[MP_ST_CLAMP_V * MP_LANES + j];
        s.stats[2] += st[MP_ST_NONFINITE * MP_LANES + j];
        s.stats[3] += st[MP_ST_OFF_GRID * MP_LANES + j];
        mp_group_ledger_store(g, s, j);
    }
}

// One thread per frame: the frame's pair table (mp_pair_rows), built once per block and read
// by every lane group of replay_lanes.
kernel void pair_rows(constant PairParams& p [[buffer(0)]],
                      device const float* fields [[buffer(1)]],
                      device ulong* pairs [[buffer(2)]],
                      uint gid [[thread_position_in_grid]]) {
    if (gid >= p.n) return;
    mp_pair_rows(fields + gid * uint(MP_N_FIELDS) * p.cells, p.cells, pairs + gid * uint(MP_N_PAIRS) * p.cells);
}
