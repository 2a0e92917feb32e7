// The prediction ledger at a fixed clock (marketphys/core/ledger.py): a ring of
// pending origins per lane, resolved against each new frame's spot; origins
// complete in order, so completed ones are always a prefix of the ring.
#ifndef MP_LEDGER_H
#define MP_LEDGER_H

#include "mp_common.h"
#include "mp_params.h"

#define MP_PENDING 0u
#define MP_RESOLVED 1u
#define MP_EXPIRED 2u

// Resolve every pending target this frame (time t, spot) answers; update the
// per-horizon error sums. Returns how many ring entries (from the head) completed.
inline uint mp_ledger_resolve(device LaneState& s, int t, float spot, uint H, int dt_units, int tol_units) {
    uint done = 0u;
    bool prefix = true;
    for (uint j = 0; j < s.ledger_count; ++j) {
        device LedgerSlot& e = s.ledger[(s.ledger_head + j) % MP_LEDGER_CAP];
        bool complete = true;
        for (uint h = 0; h < H; ++h) {
            if (e.status[h] != MP_PENDING) continue;
            int target = e.t + int(h + 1u) * dt_units;
            int diff = t - target;
            if (diff <= tol_units && -diff <= tol_units) {
                e.actual[h] = spot - e.spot;
                e.status[h] = MP_RESOLVED;
                float err = e.actual[h] - e.x_hat[h];
                s.n_h[h] += 1u;
                s.sum_abs[h] += fabs(err);
                s.sum_sq[h] += err * err;
            } else if (diff > tol_units) {
                e.status[h] = MP_EXPIRED;
                s.n_expired[h] += 1u;
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

inline bool mp_slot_any_resolved(device const LedgerSlot& e, uint H) {
    bool any = false;
    for (uint h = 0; h < H; ++h) any = any || (e.status[h] == MP_RESOLVED && mp_isfinite(e.actual[h]));
    return any;
}

// Append a forecast; when the ring is full the oldest entry is dropped and counted.
inline device LedgerSlot& mp_ledger_push(device LaneState& s) {
    if (s.ledger_count == MP_LEDGER_CAP) {
        s.ledger_head = (s.ledger_head + 1u) % MP_LEDGER_CAP;
        s.ledger_count -= 1u;
        s.ledger_overflow += 1u;
    }
    device LedgerSlot& e = s.ledger[(s.ledger_head + s.ledger_count) % MP_LEDGER_CAP];
    s.ledger_count += 1u;
    return e;
}

#endif
