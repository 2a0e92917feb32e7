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

// The learner for a group of MP_LANES lanes at once (structure of arrays, [k * MP_LANES + j]),
// with selects instead of branches, so the CPU build vectorises it. The lanes learn from the
// same ledger slot (its timing is shared, mp_ledger.h): nothing changes unless `active` (a
// horizon of the slot resolved).
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
                              bool active, thread float* loss) {
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
    for (int j = 0; j < MP_L; ++j) upd[j] = (active && hp.learn[j] != 0.0f) ? 1.0f : 0.0f;
    // The information matrix is symmetric: only its upper triangle (i <= k) is accumulated,
    // solved with and kept; the caller mirrors it when it stores the state (mp_mirror_upper).
    float An[MP_NP * MP_NP * MP_L];  // the new information matrix, committed where upd
    float g[MP_NP * MP_L];
    for (int i = 0; i < MP_NP; ++i) {
        for (int k = i; k < MP_NP; ++k) {
            for (int j = 0; j < MP_L; ++j) An[(i * MP_NP + k) * MP_L + j] = hp.forget[j] * A[(i * MP_NP + k) * MP_L + j];
        }
    }
    for (int k = 0; k < MP_NP * MP_L; ++k) g[k] = 0.0f;
    for (uint h = 0; h < H; ++h) {
        for (int j = 0; j < MP_L; ++j) {
            float rj = r[h * MP_L + j];
            f[j] = hp.alpha[h * MP_L + j] * mp_huber_weight(rj, hp.delta[j]) * e.okm[h * MP_L + j];
        }
        for (int i = 0; i < MP_NP; ++i) {
            for (int j = 0; j < MP_L; ++j) g[i * MP_L + j] += f[j] * e.jc[(h * MP_NP + i) * MP_L + j] * r[h * MP_L + j];
            for (int k = i; k < MP_NP; ++k) {
                for (int j = 0; j < MP_L; ++j) {
                    An[(i * MP_NP + k) * MP_L + j] += f[j] * e.jc[(h * MP_NP + i) * MP_L + j] * e.jc[(h * MP_NP + k) * MP_L + j];
                }
            }
        }
    }
    // M = A + damping diag(A) + ridge I is symmetric positive definite (A is a forgotten sum of
    // J^T W J with W >= 0, started from prior * I), so Gaussian elimination needs no pivoting:
    // the pivots stay positive. Eliminate on the upper triangle; a pivot that is not > 0 (a
    // singular or non-finite system) leaves the lane's theta unchanged.
    float M[MP_NP * MP_NP * MP_L];
    for (int i = 0; i < MP_NP; ++i) {
        for (int k = i; k < MP_NP; ++k) {
            for (int j = 0; j < MP_L; ++j) M[(i * MP_NP + k) * MP_L + j] = An[(i * MP_NP + k) * MP_L + j];
        }
    }
    for (int i = 0; i < MP_NP; ++i) {
        for (int j = 0; j < MP_L; ++j) {
            float a = An[(i * MP_NP + i) * MP_L + j];
            M[(i * MP_NP + i) * MP_L + j] = a + hp.damp[j] * a + hp.ridge[j];
        }
    }
    float singular[MP_L];  // 1 where a pivot was not > 0
    float inv_piv[MP_NP * MP_L];
    for (int j = 0; j < MP_L; ++j) singular[j] = 0.0f;
    for (int c = 0; c < MP_NP; ++c) {
        for (int j = 0; j < MP_L; ++j) {
            float piv = M[(c * MP_NP + c) * MP_L + j];
            bool ok = piv > 0.0f;
            singular[j] = ok ? singular[j] : 1.0f;
            inv_piv[c * MP_L + j] = 1.0f / (ok ? piv : 1.0f);
        }
        for (int rr = c + 1; rr < MP_NP; ++rr) {
            for (int j = 0; j < MP_L; ++j) f[j] = M[(c * MP_NP + rr) * MP_L + j] * inv_piv[c * MP_L + j];
            for (int k = rr; k < MP_NP; ++k) {
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
        for (int j = 0; j < MP_L; ++j) x[rr * MP_L + j] = f[j] * inv_piv[rr * MP_L + j];
    }
    // a lane steps only if its solve was regular and every component finite (loops over the
    // lanes innermost, flags as floats: each loop is one SIMD pass)
    float finite[MP_L];
    for (int j = 0; j < MP_L; ++j) finite[j] = singular[j] == 0.0f ? 1.0f : 0.0f;
    for (int q = 0; q < MP_NP; ++q) {
        for (int j = 0; j < MP_L; ++j) finite[j] = mp_isfinite(x[q * MP_L + j]) ? finite[j] : 0.0f;
    }
    for (int q = 0; q < MP_NP; ++q) {
        for (int j = 0; j < MP_L; ++j) {
            float t0 = theta[q * MP_L + j];
            float proposed = t0 + hp.step[j] * (finite[j] != 0.0f ? x[q * MP_L + j] : 0.0f);
            float projected = mp_clip(proposed, hp.lo[q], hp.hi[q]);
            bound_hits[q * MP_L + j] += (upd[j] != 0.0f && projected != proposed) ? 1u : 0u;
            theta[q * MP_L + j] = upd[j] != 0.0f ? projected : t0;
        }
    }
    for (int j = 0; j < MP_L; ++j) n_updates[j] += upd[j] != 0.0f ? 1u : 0u;
    for (int i = 0; i < MP_NP; ++i) {
        for (int k = i; k < MP_NP; ++k) {
            int a = i * MP_NP + k;
            for (int j = 0; j < MP_L; ++j) A[a * MP_L + j] = upd[j] != 0.0f ? An[a * MP_L + j] : A[a * MP_L + j];
        }
    }
}

// The full symmetric matrix from its upper triangle (rows of MP_LANES), before A leaves the kernel.
inline void mp_mirror_upper(thread float* A) {
    for (int i = 1; i < MP_NP; ++i) {
        for (int k = 0; k < i; ++k) {
            for (int j = 0; j < MP_L; ++j) A[(i * MP_NP + k) * MP_L + j] = A[(k * MP_NP + i) * MP_L + j];
        }
    }
}

#undef MP_L
#undef MP_NP

#endif
