// The prediction ledger at a fixed clock (marketphys/core/ledger.py) for a group of
// MP_LANES lanes replaying the same frames: a ring of pending origins, resolved against
// each new frame's spot; origins complete in order, so completed ones are always a
// prefix of the ring.
//
// Lanes that replay the same frames have the same ring timing (origin times and spots,
// which horizons resolved or expired, the actual moves); only their forecasts, Jacobians,
// the theta behind each forecast and their error sums differ. So the timing is kept once
// per group and walked once per frame, and the per-lane parts are structure-of-arrays rows
// ([... * MP_LANES + j]) that the CPU build updates as SIMD code. The host checks that the
// lanes of a state array are in step (kernels.base.check_ledgers_in_step) before a dispatch.
#ifndef MP_LEDGER_H
#define MP_LEDGER_H

#include "mp_common.h"
#include "mp_params.h"

#define MP_PENDING 0u
#define MP_RESOLVED 1u
#define MP_EXPIRED 2u

struct MpGroupLedger {
    uint head;
    uint count;
    uint overflow;                                // entries dropped this block (ring full)
    int t[MP_LEDGER_CAP];                         // origin time, clock units
    float spot[MP_LEDGER_CAP];                    // origin spot, ticks from the anchor
    float actual[MP_LEDGER_CAP * MP_MAX_H];       // [slot][h]
    uint status[MP_LEDGER_CAP * MP_MAX_H];        // [slot][h]
    uint n_h[MP_MAX_H];                           // resolved this block
    uint n_expired[MP_MAX_H];                     // expired this block
    float x_hat[MP_LEDGER_CAP * MP_MAX_H * MP_LANES];                 // [slot][h][lane]
    float jac[MP_LEDGER_CAP * MP_MAX_H * MP_N_PARAMS * MP_LANES];     // [slot][h][p][lane]
    float theta[MP_LEDGER_CAP * MP_N_PARAMS * MP_LANES];             // [slot][p][lane]
    float sum_abs[MP_MAX_H * MP_LANES];           // running |error| sums, [h][lane]
    float sum_sq[MP_MAX_H * MP_LANES];
};

// Lane j of the group reads lane_of[j]'s state; the ring timing comes from lane_of[0].
inline void mp_group_ledger_load(thread MpGroupLedger& g, device const LaneState* state, thread const uint* lane_of) {
    device const LaneState& s0 = state[lane_of[0]];
    g.head = s0.ledger_head;
    g.count = s0.ledger_count;
    g.overflow = 0u;
    for (int k = 0; k < MP_LEDGER_CAP; ++k) {
        g.t[k] = s0.ledger[k].t;
        g.spot[k] = s0.ledger[k].spot;
        for (int h = 0; h < MP_MAX_H; ++h) {
            g.actual[k * MP_MAX_H + h] = s0.ledger[k].actual[h];
            g.status[k * MP_MAX_H + h] = s0.ledger[k].status[h];
        }
    }
    for (int h = 0; h < MP_MAX_H; ++h) {
        g.n_h[h] = 0u;
        g.n_expired[h] = 0u;
    }
    for (int j = 0; j < MP_LANES; ++j) {
        device const LaneState& s = state[lane_of[j]];
        for (int k = 0; k < MP_LEDGER_CAP; ++k) {
            for (int h = 0; h < MP_MAX_H; ++h) {
                g.x_hat[(k * MP_MAX_H + h) * MP_LANES + j] = s.ledger[k].x_hat[h];
                for (int q = 0; q < MP_N_PARAMS; ++q) {
                    g.jac[((k * MP_MAX_H + h) * MP_N_PARAMS + q) * MP_LANES + j] = s.ledger[k].jac[h * MP_N_PARAMS + q];
                }
            }
            for (int q = 0; q < MP_N_PARAMS; ++q) g.theta[(k * MP_N_PARAMS + q) * MP_LANES + j] = s.ledger[k].theta[q];
        }
        for (int h = 0; h < MP_MAX_H; ++h) {
            g.sum_abs[h * MP_LANES + j] = s.sum_abs[h];
            g.sum_sq[h * MP_LANES + j] = s.sum_sq[h];
        }
    }
}

// Lane j's share of the group ring back into its state.
inline void mp_group_ledger_store(thread const MpGroupLedger& g, device LaneState& s, int j) {
    s.ledger_head = g.head;
    s.ledger_count = g.count;
    s.ledger_overflow += g.overflow;
    for (int h = 0; h < MP_MAX_H; ++h) {
        s.n_h[h] += g.n_h[h];
        s.n_expired[h] += g.n_expired[h];
        s.sum_abs[h] = g.sum_abs[h * MP_LANES + j];
        s.sum_sq[h] = g.sum_sq[h * MP_LANES + j];
    }
    for (int k = 0; k < MP_LEDGER_CAP; ++k) {
        device LedgerSlot& e = s.ledger[k];
        e.t = g.t[k];
        e.spot = g.spot[k];
        for (int h = 0; h < MP_MAX_H; ++h) {
            e.actual[h] = g.actual[k * MP_MAX_H + h];
            e.status[h] = g.status[k * MP_MAX_H + h];
            e.x_hat[h] = g.x_hat[(k * MP_MAX_H + h) * MP_LANES + j];
            for (int q = 0; q < MP_N_PARAMS; ++q) {
                e.jac[h * MP_N_PARAMS + q] = g.jac[((k * MP_MAX_H + h) * MP_N_PARAMS + q) * MP_LANES + j];
            }
        }
        for (int q = 0; q < MP_N_PARAMS; ++q) e.theta[q] = g.theta[(k * MP_N_PARAMS + q) * MP_LANES + j];
    }
}

// Resolve every pending target this frame (time t, spot) answers and add each lane's error
// to its sums. Returns how many ring entries (from the head) completed.
inline uint mp_group_resolve(thread MpGroupLedger& g, int t, float spot, uint H, int dt_units, int tol_units) {
    uint done = 0u;
    bool prefix = true;
    for (uint k = 0; k < g.count; ++k) {
        uint s = (g.head + k) % uint(MP_LEDGER_CAP);
        bool complete = true;
        for (uint h = 0; h < H; ++h) {
            uint i = s * uint(MP_MAX_H) + h;
            if (g.status[i] != MP_PENDING) continue;
            int target = g.t[s] + int(h + 1u) * dt_units;
            int diff = t - target;
            if (diff <= tol_units && -diff <= tol_units) {
                float act = spot - g.spot[s];
                g.actual[i] = act;
                g.status[i] = MP_RESOLVED;
                g.n_h[h] += 1u;
                for (int j = 0; j < MP_LANES; ++j) {
                    float err = act - g.x_hat[i * uint(MP_LANES) + uint(j)];
                    g.sum_abs[h * uint(MP_LANES) + uint(j)] += fabs(err);
                    g.sum_sq[h * uint(MP_LANES) + uint(j)] += err * err;
                }
            } else if (diff > tol_units) {
                g.status[i] = MP_EXPIRED;
                g.n_expired[h] += 1u;
            } else {
                complete = false;
            }
        }
        if (complete && prefix) {
            done += 1u;
        } else {
            prefix = false;
        }
    }
    return done;
}

// Append a forecast slot (timing only; the caller fills the lanes' rows of the returned
// slot); when the ring is full the oldest entry is dropped and counted.
inline uint mp_group_push(thread MpGroupLedger& g, int t, float spot, uint H) {
    if (g.count == uint(MP_LEDGER_CAP)) {
        g.head = (g.head + 1u) % uint(MP_LEDGER_CAP);
        g.count -= 1u;
        g.overflow += 1u;
    }
    uint s = (g.head + g.count) % uint(MP_LEDGER_CAP);
    g.count += 1u;
    g.t[s] = t;
    g.spot[s] = spot;
    for (uint h = 0; h < uint(MP_MAX_H); ++h) {
        g.actual[s * uint(MP_MAX_H) + h] = 0.0f;
        g.status[s * uint(MP_MAX_H) + h] = h < H ? MP_PENDING : MP_EXPIRED;
    }
    return s;
}

#endif
