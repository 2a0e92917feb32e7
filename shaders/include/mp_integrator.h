// One lane's fixed-step rollout with forward sensitivities (marketphys/core/integrator.py).
// a = wU(-dU/dx) + wC(C - v) + wG(-G v) + wO(-dO/dx) + b ; semi-implicit Euler with the
// drag terms implicit: v' = (v + h*A(x)) / (1 + h*kappa(x)), A = wU F_U + wC C + wO F_O + b,
// kappa = wC + wG G; caps on |a| and |v|; every guard that fires is counted, never hidden.
#ifndef MP_INTEGRATOR_H
#define MP_INTEGRATOR_H

#include "mp_common.h"
#include "mp_rng.h"
#include "mp_fields.h"

struct MpRolloutCfg {
    int grid_n;
    uint cells;
    float dx;
    uint horizons;
    uint substeps;
    float h;
    float a_max;
    float v_max;
};

struct MpStats {
    uint clamp_a;
    uint clamp_v;
    uint nonfinite;
    uint off_grid;
};

inline MpStats mp_stats_zero() {
    MpStats s;
    s.clamp_a = 0u;
    s.clamp_v = 0u;
    s.nonfinite = 0u;
    s.off_grid = 0u;
    return s;
}

// F: one composed frame (MP_N_FIELDS rows of cfg.cells). Writes xs/vs[H], jac[H*5], a0.
inline void mp_rollout_lane(device const float* F, MpRolloutCfg cfg, thread const float* theta,
                            float x0, float v0, bool sens, bool diffuse, uint k0, uint k1,
                            uint lane, uint stream, thread float* xs, thread float* vs,
                            thread float* jac, thread float& a0, thread MpStats& st) {
    device const float* dU = F + MP_F_DU * cfg.cells;
    device const float* C = F + MP_F_C * cfg.cells;
    device const float* G = F + MP_F_G * cfg.cells;
    device const float* dO = F + MP_F_DO * cfg.cells;
    device const float* D = F + MP_F_D * cfg.cells;
    float wU = theta[0], wC = theta[1], wG = theta[2], wO = theta[3], b = theta[4];
    float inv_dx = 1.0f / cfg.dx;
    float x = x0;
    float v = v0;
    if (fabs(v) > cfg.v_max) st.clamp_v += 1u;
    v = mp_clip(v, -cfg.v_max, cfg.v_max);
    float sx[MP_N_PARAMS];
    float sv[MP_N_PARAMS];
    for (int p = 0; p < MP_N_PARAMS; ++p) {
        sx[p] = 0.0f;
        sv[p] = 0.0f;
    }
    bool first = true;
    float h = cfg.h;
    float inv_h = 1.0f / h;
    for (uint hz = 0; hz < cfg.horizons; ++hz) {
        for (uint k = 0; k < cfg.substeps; ++k) {
            MpLoc loc = mp_locate(x, cfg.grid_n, inv_dx);
            if (!loc.inside) st.off_grid += 1u;
            float f_u = -mp_lerp(dU, loc);
            float c = mp_lerp(C, loc);
            float gam = mp_lerp(G, loc);
            float f_o = -mp_lerp(dO, loc);
            // explicit part A(x) and the drag coefficient kappa(x) = wC + wG*G(x) >= 0, taken implicitly
            float A = wU * f_u + wC * c + wO * f_o + b;
            float kappa = wC + wG * gam;
            bool bad = !(mp_isfinite(A) && mp_isfinite(kappa));
            if (bad) {
                st.nonfinite += 1u;
                A = 0.0f;
                kappa = 0.0f;
            }
            float inv_denom = 1.0f / (1.0f + h * kappa);
            float v_new = (v + h * A) * inv_denom;
            float a = (v_new - v) * inv_h;
            bool clamped = fabs(a) > cfg.a_max;
            if (clamped) {
                st.clamp_a += 1u;
                a = mp_clip(a, -cfg.a_max, cfg.a_max);
                v_new = v + h * a;
            }
            if (first) {
                a0 = a;
                first = false;
            }
            if (sens && !(clamped || bad)) {
                float s_fu = -mp_lerp_slope(dU, loc, inv_dx);
                float s_c = mp_lerp_slope(C, loc, inv_dx);
                float s_g = mp_lerp_slope(G, loc, inv_dx);
                float s_fo = -mp_lerp_slope(dO, loc, inv_dx);
                float dA_dx = wU * s_fu + wC * s_c + wO * s_fo;
                float dk_dx = wG * s_g;
                float coupling = dA_dx - v_new * dk_dx;
                float comps[MP_N_PARAMS] = {f_u, c - v_new, -gam * v_new, f_o, 1.0f};
                for (int p = 0; p < MP_N_PARAMS; ++p) sv[p] = (sv[p] + h * (comps[p] + coupling * sx[p])) * inv_denom;
            }
            v = v_new;
            if (fabs(v) > cfg.v_max) {
                st.clamp_v += 1u;
                v = mp_clip(v, -cfg.v_max, cfg.v_max);
                if (sens) {
                    for (int p = 0; p < MP_N_PARAMS; ++p) sv[p] = 0.0f;
                }
            }
            x = x + v * h;
            if (diffuse) {
                float z = mp_normal(k0, k1, lane, hz * cfg.substeps + k, stream);
                float d = mp_lerp(D, loc);
                x = x + sqrt(2.0f * mp_max0(d) * h) * z;
            }
            if (sens) {
                for (int p = 0; p < MP_N_PARAMS; ++p) sx[p] = sx[p] + h * sv[p];
            }
        }
        xs[hz] = x;
        vs[hz] = v;
        for (int p = 0; p < MP_N_PARAMS; ++p) jac[hz * MP_N_PARAMS + p] = sens ? sx[p] : 0.0f;
    }
}

#endif
