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

// The learner for a group of MP_LANES lanes at once (structure of arrays, [k * MP_LANES + j]),
// the same arithmetic as mp_learn_one with selects instead of branches, so the CPU build
// vectorises it. Lane j learns from its slot only where active[j]; elsewhere nothing changes.
// Slot inputs (gathered by the caller): xh/act/okm [h], jc [h*5 + q], et [q]; hyper-parameters:
// delta, forget, damp, ridge, step, learn [j], alpha [h]. Returns each lane's loss in loss[j].
struct MpGroupSlot {
    float xh[MP_MAX_H * MP_LANES];
    float act[MP_MAX_H * MP_LANES];
    float okm[MP_MAX_H * MP_LANES];
    float jc[MP_MAX_H * MP_N_PARAMS * MP_LANES];
    float et[MP_N_PARAMS * MP_LANES];
};

struct MpGroupHyper {
    float delta[MP_LANES];
    float forget[MP_LANES];
    float damp[MP_LANES];
    float ridge[MP_LANES];
    float step[MP_LANES];
    float learn[MP_LANES];  // 1 or 0
    float alpha[MP_MAX_H * MP_LANES];
    float lo[MP_N_PARAMS];
    float hi[MP_N_PARAMS];
};

#define MP_L MP_LANES
#define MP_NP MP_N_PARAMS

MP_INLINE void mp_learn_group(thread float* theta, thread float* A, thread uint* bound_hits, thread uint* n_updates,
                              thread const MpGroupSlot& e, thread const MpGroupHyper& hp, uint H,
                              thread const bool* active, thread float* loss) {
    float r[MP_MAX_H * MP_L];
    float f[MP_L];  // scratch row
    for (int j = 0; j < MP_L; ++j) loss[j] = 0.0f;
    for (uint h = 0; h < H; ++h) {
        for (int j = 0; j < MP_L; ++j) f[j] = e.xh[h * MP_L + j];
        for (int q = 0; q < MP_NP; ++q) {
            for (int j = 0; j < MP_L; ++j) f[j] += e.jc[(h * MP_NP + q) * MP_L + j] * (theta[q * MP_L + j] - e.et[q * MP_L + j]);
        }
        for (int j = 0; j < MP_L; ++j) {
            float pred = f[j];
            float m = e.okm[h * MP_L + j];
            float rj = m != 0.0f ? e.act[h * MP_L + j] - pred : 0.0f;
            r[h * MP_L + j] = rj;
            loss[j] += hp.alpha[h * MP_L + j] * mp_huber_loss(rj, hp.delta[j]) * m;
        }
    }
    float upd[MP_L];  // 1: this lane updates (float, not bool: same width as the data, so loops vectorise)
    for (int j = 0; j < MP_L; ++j) upd[j] = (active[j] && hp.learn[j] != 0.0f) ? 1.0f : 0.0f;
    float An[MP_NP * MP_NP * MP_L];  // the new information matrix, committed where upd
    float g[MP_NP * MP_L];
    for (int a = 0; a < MP_NP * MP_NP; ++a) {
        for (int j = 0; j < MP_L; ++j) An[a * MP_L + j] = hp.forget[j] * A[a * MP_L + j];
    }
    for (int k = 0; k < MP_NP * MP_L; ++k) g[k] = 0.0f;
    for (uint h = 0; h < H; ++h) {
        for (int j = 0; j < MP_L; ++j) {
            float rj = r[h * MP_L + j];
            f[j] = hp.alpha[h * MP_L + j] * mp_huber_weight(rj, hp.delta[j]) * e.okm[h * MP_L + j];
        }
        for (int i = 0; i < MP_NP; ++i) {
            for (int j = 0; j < MP_L; ++j) g[i * MP_L + j] += f[j] * e.jc[(h * MP_NP + i) * MP_L + j] * r[h * MP_L + j];
            for (int k = 0; k < MP_NP; ++k) {
                for (int j = 0; j < MP_L; ++j) {
                    An[(i * MP_NP + k) * MP_L + j] += f[j] * e.jc[(h * MP_NP + i) * MP_L + j] * e.jc[(h * MP_NP + k) * MP_L + j];
                }
            }
        }
    }
    // M x = g by Gaussian elimination with partial pivoting (as mp_solve5), lane-wise selects
    float M[MP_NP * MP_NP * MP_L];
    for (int k = 0; k < MP_NP * MP_NP * MP_L; ++k) M[k] = An[k];
    for (int i = 0; i < MP_NP; ++i) {
        for (int j = 0; j < MP_L; ++j) {
            float a = An[(i * MP_NP + i) * MP_L + j];
            M[(i * MP_NP + i) * MP_L + j] = a + hp.damp[j] * a + hp.ridge[j];
        }
    }
    float singular[MP_L];  // 1 where a pivot vanished
    float best[MP_L];
    int piv[MP_L];
    for (int j = 0; j < MP_L; ++j) singular[j] = 0.0f;
    for (int c = 0; c < MP_NP; ++c) {
        for (int j = 0; j < MP_L; ++j) {
            best[j] = fabs(M[(c * MP_NP + c) * MP_L + j]);
            piv[j] = c;
        }
        for (int rr = c + 1; rr < MP_NP; ++rr) {
            for (int j = 0; j < MP_L; ++j) {
                float m = fabs(M[(rr * MP_NP + c) * MP_L + j]);
                bool take = m > best[j];
                best[j] = take ? m : best[j];
                piv[j] = take ? rr : piv[j];
            }
        }
        for (int j = 0; j < MP_L; ++j) singular[j] = (best[j] > 0.0f) ? singular[j] : 1.0f;
        for (int rr = c + 1; rr < MP_NP; ++rr) {  // swap rows c and piv (at most one rr matches)
            for (int k = 0; k < MP_NP; ++k) {
                for (int j = 0; j < MP_L; ++j) {
                    bool sw = piv[j] == rr;
                    float top = M[(c * MP_NP + k) * MP_L + j];
                    float low = M[(rr * MP_NP + k) * MP_L + j];
                    M[(c * MP_NP + k) * MP_L + j] = sw ? low : top;
                    M[(rr * MP_NP + k) * MP_L + j] = sw ? top : low;
                }
            }
            for (int j = 0; j < MP_L; ++j) {
                bool sw = piv[j] == rr;
                float gt = g[c * MP_L + j];
                float gl = g[rr * MP_L + j];
                g[c * MP_L + j] = sw ? gl : gt;
                g[rr * MP_L + j] = sw ? gt : gl;
            }
        }
        for (int rr = c + 1; rr < MP_NP; ++rr) {
            for (int j = 0; j < MP_L; ++j) f[j] = M[(rr * MP_NP + c) * MP_L + j] / M[(c * MP_NP + c) * MP_L + j];
            for (int k = c; k < MP_NP; ++k) {
                for (int j = 0; j < MP_L; ++j) M[(rr * MP_NP + k) * MP_L + j] -= f[j] * M[(c * MP_NP + k) * MP_L + j];
            }
            for (int j = 0; j < MP_L; ++j) g[rr * MP_L + j] -= f[j] * g[c * MP_L + j];
        }
    }
    float x[MP_NP * MP_L];
    for (int rr = MP_NP - 1; rr >= 0; --rr) {
        for (int j = 0; j < MP_L; ++j) f[j] = g[rr * MP_L + j];
        for (int k = rr + 1; k < MP_NP; ++k) {
            for (int j = 0; j < MP_L; ++j) f[j] -= M[(rr * MP_NP + k) * MP_L + j] * x[k * MP_L + j];
        }
        for (int j = 0; j < MP_L; ++j) x[rr * MP_L + j] = f[j] / M[(rr * MP_NP + rr) * MP_L + j];
    }
    for (int j = 0; j < MP_L; ++j) {
        bool finite = singular[j] == 0.0f;
        for (int q = 0; q < MP_NP; ++q) finite = finite && mp_isfinite(x[q * MP_L + j]);
        for (int q = 0; q < MP_NP; ++q) {
            float t0 = theta[q * MP_L + j];
            float proposed = t0 + hp.step[j] * (finite ? x[q * MP_L + j] : 0.0f);
            float projected = mp_clip(proposed, hp.lo[q], hp.hi[q]);
            bound_hits[q * MP_L + j] += (upd[j] != 0.0f && projected != proposed) ? 1u : 0u;
            theta[q * MP_L + j] = upd[j] != 0.0f ? projected : t0;
        }
        n_updates[j] += upd[j] != 0.0f ? 1u : 0u;
    }
    for (int a = 0; a < MP_NP * MP_NP; ++a) {
        for (int j = 0; j < MP_L; ++j) A[a * MP_L + j] = upd[j] != 0.0f ? An[a * MP_L + j] : A[a * MP_L + j];
    }
}

#undef MP_L
#undef MP_NP

#endif
