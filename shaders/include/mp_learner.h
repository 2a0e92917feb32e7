// The online learner (marketphys/core/learner.py): Huber loss as IRLS weights,
// RLS information matrix with forgetting, damped Gauss-Newton step, projection.
#ifndef MP_LEARNER_H
#define MP_LEARNER_H

#include "mp_common.h"
#include "mp_params.h"

inline float mp_huber_loss(float r, float delta) {
    float a = fabs(r);
    return a <= delta ? 0.5f * r * r : delta * (a - 0.5f * delta);
}

// IRLS weight psi(r)/r: 1 inside delta, delta/|r| outside.
inline float mp_huber_weight(float r, float delta) {
    float a = fabs(r);
    return a <= delta ? 1.0f : delta / (a > 1e-30f ? a : 1e-30f);
}

// Solve the 5x5 system M x = b by Gaussian elimination with partial pivoting.
// M and b are overwritten. Returns false when M is singular (then x is zero).
inline bool mp_solve5(thread float* M, thread float* b, thread float* x) {
    for (int c = 0; c < MP_N_PARAMS; ++c) {
        int piv = c;
        float best = fabs(M[c * MP_N_PARAMS + c]);
        for (int r = c + 1; r < MP_N_PARAMS; ++r) {
            float m = fabs(M[r * MP_N_PARAMS + c]);
            if (m > best) {
                best = m;
                piv = r;
            }
        }
        if (!(best > 0.0f)) {
            for (int p = 0; p < MP_N_PARAMS; ++p) x[p] = 0.0f;
            return false;
        }
        if (piv != c) {
            for (int k = 0; k < MP_N_PARAMS; ++k) {
                float tmp = M[c * MP_N_PARAMS + k];
                M[c * MP_N_PARAMS + k] = M[piv * MP_N_PARAMS + k];
                M[piv * MP_N_PARAMS + k] = tmp;
            }
            float tb = b[c];
            b[c] = b[piv];
            b[piv] = tb;
        }
        for (int r = c + 1; r < MP_N_PARAMS; ++r) {
            float f = M[r * MP_N_PARAMS + c] / M[c * MP_N_PARAMS + c];
            for (int k = c; k < MP_N_PARAMS; ++k) M[r * MP_N_PARAMS + k] -= f * M[c * MP_N_PARAMS + k];
            b[r] -= f * b[c];
        }
    }
    for (int r = MP_N_PARAMS - 1; r >= 0; --r) {
        float s = b[r];
        for (int k = r + 1; k < MP_N_PARAMS; ++k) s -= M[r * MP_N_PARAMS + k] * x[k];
        x[r] = s / M[r * MP_N_PARAMS + r];
    }
    return true;
}

// learn_one for one resolved origin held in a ledger slot. theta/A are the lane's
// live learner state (thread copies). Returns the weighted Huber loss before the update.
inline float mp_learn_one(thread float* theta, thread float* A, device const LedgerSlot& e, uint H,
                          device const LaneHyper& hp, constant ReplayParams& p,
                          thread uint* bound_hits, thread uint& n_updates) {
    float r[MP_MAX_H];
    float m[MP_MAX_H];
    float loss = 0.0f;
    for (uint h = 0; h < H; ++h) {
        bool ok = e.status[h] == 1u && mp_isfinite(e.actual[h]);
        m[h] = ok ? 1.0f : 0.0f;
        float pred = e.x_hat[h];
        for (int q = 0; q < MP_N_PARAMS; ++q) pred += e.jac[h * MP_N_PARAMS + q] * (theta[q] - e.theta[q]);
        r[h] = ok ? e.actual[h] - pred : 0.0f;
        loss += hp.alpha[h] * mp_huber_loss(r[h], hp.huber_delta) * m[h];
    }
    if (hp.learn == 0u) return loss;
    float g[MP_N_PARAMS];
    for (int a = 0; a < MP_N_PARAMS * MP_N_PARAMS; ++a) A[a] = hp.forgetting * A[a];
    for (int q = 0; q < MP_N_PARAMS; ++q) g[q] = 0.0f;
    for (uint h = 0; h < H; ++h) {
        float w = hp.alpha[h] * mp_huber_weight(r[h], hp.huber_delta) * m[h];
        for (int i = 0; i < MP_N_PARAMS; ++i) {
            float wji = w * e.jac[h * MP_N_PARAMS + i];
            g[i] += wji * r[h];
            for (int j = 0; j < MP_N_PARAMS; ++j) A[i * MP_N_PARAMS + j] += wji * e.jac[h * MP_N_PARAMS + j];
        }
    }
    float M[MP_N_PARAMS * MP_N_PARAMS];
    for (int i = 0; i < MP_N_PARAMS; ++i) {
        for (int j = 0; j < MP_N_PARAMS; ++j) M[i * MP_N_PARAMS + j] = A[i * MP_N_PARAMS + j];
        M[i * MP_N_PARAMS + i] += hp.damping * A[i * MP_N_PARAMS + i] + hp.ridge;
    }
    float step[MP_N_PARAMS];
    mp_solve5(M, g, step);
    bool finite = true;
    for (int q = 0; q < MP_N_PARAMS; ++q) finite = finite && mp_isfinite(step[q]);
    for (int q = 0; q < MP_N_PARAMS; ++q) {
        float proposed = theta[q] + hp.step_size * (finite ? step[q] : 0.0f);
        float projected = mp_clip(proposed, p.lo[q], p.hi[q]);
        if (projected != proposed) bound_hits[q] += 1u;
        theta[q] = projected;
    }
    n_updates += 1u;
    return loss;
}

#endif
