// The fixed-step rollout of a group of lanes with forward sensitivities (marketphys/core/integrator.py).
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

// Rows of a medium table (mp_medium_table): A(x) and kappa(x) at the cells for one theta, and D.
#define MP_T_A 0
#define MP_T_KAPPA 1
#define MP_T_D 2
#define MP_N_TABLE 3

// One cell of the table: the combination the integrator needs, built once per frame so the
// paths of an ensemble (one theta) only interpolate it. Stored as pairs (mp_pair: the values
// at cells i and i+1), so a path reads one 64-bit element per row and substep.
inline float mp_table_a(device const float* F, uint cells, uint i, thread const float* th) {
    float f_u = -F[MP_F_DU * cells + i];
    float c = F[MP_F_C * cells + i];
    float f_o = -F[MP_F_DO * cells + i];
    return th[0] * f_u + th[1] * c + th[3] * f_o + th[4];
}
inline float mp_table_kappa(device const float* F, uint cells, uint i, thread const float* th) {
    return th[1] + th[2] * F[MP_F_G * cells + i];
}
// The right partner of cell i in a pair: i + 1, and the last cell pairs with itself (it is
// never a lane's left cell).
inline uint mp_right_cell(uint i, uint cells) { return i + 1u < cells ? i + 1u : i; }

inline void mp_medium_table(device const float* F, uint cells, uint i, thread const float* th, device ulong* T) {
    uint r = mp_right_cell(i, cells);
    T[MP_T_A * cells + i] = mp_pair(mp_table_a(F, cells, i, th), mp_table_a(F, cells, r, th));
    T[MP_T_KAPPA * cells + i] = mp_pair(mp_table_kappa(F, cells, i, th), mp_table_kappa(F, cells, r, th));
    T[MP_T_D * cells + i] = mp_pair(F[MP_F_D * cells + i], F[MP_F_D * cells + r]);
}

// Rows of a frame's pair table (mp_pair_rows): dU/dx, C, Gamma, dO/dx as (cell i, cell i+1).
#define MP_P_DU 0
#define MP_P_C 1
#define MP_P_G 2
#define MP_P_DO 3
#define MP_N_PAIRS 4

// One frame's pair table from its composed fields: P[r][i] = (row[i], row[mp_right_cell(i)]).
inline void mp_pair_rows(device const float* F, uint cells, device ulong* P) {
    const int rows[MP_N_PAIRS] = {MP_F_DU, MP_F_C, MP_F_G, MP_F_DO};
    for (int r = 0; r < MP_N_PAIRS; ++r) {
        device const float* row = F + uint(rows[r]) * cells;
        for (uint i = 0; i < cells; ++i) P[uint(r) * cells + i] = mp_pair(row[i], row[mp_right_cell(i, cells)]);
    }
}

// Per-lane guard counters of a lane group, rows of MP_LANES: st[MP_ST_* * MP_LANES + j].
#define MP_ST_CLAMP_A 0
#define MP_ST_CLAMP_V 1
#define MP_ST_NONFINITE 2
#define MP_ST_OFF_GRID 3

// A group of MP_LANES lanes advanced together. Every per-lane quantity is an array of
// MP_LANES (structure of arrays) and every inner loop runs over the lanes with selects
// instead of branches, so the CPU build turns each into SIMD code with independent chains;
// on Metal MP_LANES is 1 and this is the plain one-lane loop.
// F: one composed frame (MP_N_FIELDS rows of cfg.cells); or, with `tabled` (shared theta, no
// sensitivities, F null), the frame's table P from mp_medium_table: each substep then
// interpolates 3 pair rows instead of 5 rows; or, with `paired` (F null, no diffusion), the
// frame's pair rows P from mp_pair_rows: one 64-bit element per field and lane instead of two
// floats. Lane j's inputs and outputs:
// theta[q*L + j], x0[j], v0[j] -> xs/vs[hz*L + j], jac[(hz*5 + q)*L + j], a0[j]; st counts add up.
// Lane j draws its noise with counter lane0 + j.
MP_INLINE void mp_rollout_group(device const float* F, MpRolloutCfg cfg, thread const float* theta,
                             thread const float* x0, thread const float* v0, bool sens, bool diffuse, bool tabled,
                             uint k0, uint k1, uint lane0, uint stream, thread float* xs, thread float* vs,
                             thread float* jac, thread float* a0, thread uint* st, bool paired = false,
                             device const ulong* P = nullptr) {
    // `paired`: P holds the frame's pair rows (mp_pair_rows); `tabled`: P holds the frame's
    // medium table (mp_medium_table). F is then null, else P is null; the null one gets row
    // stride 0, so no offset is ever applied to a null pointer.
    const bool use_p = paired || tabled;
    const uint fs = use_p ? 0u : cfg.cells;
    const uint ps = use_p ? cfg.cells : 0u;
    device const float* dU = F + MP_F_DU * fs;
    device const float* C = F + MP_F_C * fs;
    device const float* G = F + MP_F_G * fs;
    device const float* dO = F + MP_F_DO * fs;
    device const float* D = F + MP_F_D * fs;
    device const ulong* PU = P + MP_P_DU * ps;
    device const ulong* PC = P + MP_P_C * ps;
    device const ulong* PG = P + MP_P_G * ps;
    device const ulong* PO = P + MP_P_DO * ps;
    device const ulong* TA = P + MP_T_A * ps;
    device const ulong* TK = P + MP_T_KAPPA * ps;
    device const ulong* TD = P + MP_T_D * ps;
    const float inv_dx = 1.0f / cfg.dx;  // one divide per call, none per substep
    const float h = cfg.h;
    const float inv_h = 1.0f / h;
    const float a_max = cfg.a_max;
    const float v_max = cfg.v_max;
    const float gn = float(cfg.grid_n);
    const float last = float(2 * cfg.grid_n);          // index of the last cell
    const float last_left = float(2 * cfg.grid_n - 1);  // last valid left neighbour
    float x[MP_LANES];
    float v[MP_LANES];
    float sx[MP_N_PARAMS * MP_LANES];
    float sv[MP_N_PARAMS * MP_LANES];
    // per-substep values handed from the physics loop to the sensitivity and noise loops
    int cell[MP_LANES];
    float frac[MP_LANES];
    float on_grid[MP_LANES];
    float comp[MP_N_PARAMS * MP_LANES];  // d(A - kappa v)/d theta_q at the new velocity
    float coupling[MP_LANES];            // d(A - kappa v)/dx
    float gain[MP_LANES];                // 1 / (1 + h kappa)
    float pass[MP_LANES];                // 1: the step carries sensitivity, 0: a guard fired
    float reset[MP_LANES];               // 0: |v| was capped, sensitivities restart
    float acc[MP_LANES];                 // this substep's acceleration (a0 is the first one)
    uint n_clamp_a[MP_LANES];            // guard counters, local until the end (no aliasing)
    uint n_clamp_v[MP_LANES];
    uint n_nonfinite[MP_LANES];
    uint n_off_grid[MP_LANES];
    for (int j = 0; j < MP_LANES; ++j) {
        x[j] = x0[j];
        n_clamp_a[j] = 0u;
        n_nonfinite[j] = 0u;
        n_off_grid[j] = 0u;
        n_clamp_v[j] = fabs(v0[j]) > v_max ? 1u : 0u;
        v[j] = mp_clip(v0[j], -v_max, v_max);
    }
    float w[MP_N_PARAMS * MP_LANES];     // theta, local: no aliasing with the outputs
    for (int k = 0; k < MP_N_PARAMS * MP_LANES; ++k) {
        sx[k] = 0.0f;
        sv[k] = 0.0f;
        w[k] = theta[k];
    }
    for (uint hz = 0; hz < cfg.horizons; ++hz) {
        for (uint k = 0; k < cfg.substeps; ++k) {
            for (int j = 0; j < MP_LANES; ++j) {
                // locate x on the grid (as mp_locate). `a > 0 ? a : 0` also maps NaN to 0 (one
                // max instruction), so after it int() is floor() and t is finite in [0, 1].
                float f = x[j] * inv_dx + gn;
                bool inside = (f >= 0.0f) && (f <= last);
                float ff = f > 0.0f ? f : 0.0f;
                int i0 = int(ff < last_left ? ff : last_left);
                float t = f - float(i0);
                t = t > 0.0f ? t : 0.0f;
                cell[j] = i0;
                frac[j] = t < 1.0f ? t : 1.0f;
                on_grid[j] = inside ? 1.0f : 0.0f;
                n_off_grid[j] += inside ? 0u : 1u;
            }
            // a separate loop: indices loaded as 32-bit ints let the compiler use 16-wide gathers
            MP_LANE_LOOP_16
            for (int j = 0; j < MP_LANES; ++j) {
                int i0 = cell[j];
                float t = frac[j];
                float s = 1.0f - t;
                bool inside = on_grid[j] != 0.0f;
                float wU = w[0 * MP_LANES + j], wC = w[1 * MP_LANES + j], wG = w[2 * MP_LANES + j];
                float wO = w[3 * MP_LANES + j], b = w[4 * MP_LANES + j];
                float u0 = 0.0f, u1 = 0.0f, c0 = 0.0f, c1 = 0.0f, g0 = 0.0f, g1 = 0.0f, o0 = 0.0f, o1 = 0.0f;
                float f_u = 0.0f, c = 0.0f, gam = 0.0f, f_o = 0.0f, A, kappa;
                if (tabled) {  // constant per call site: A and kappa straight from the frame's table
                    ulong pa = TA[i0], pk = TK[i0];
                    A = mp_pair_left(pa) * s + mp_pair_right(pa) * t;
                    kappa = mp_pair_left(pk) * s + mp_pair_right(pk) * t;
                } else {
                    if (paired) {  // one 64-bit element per field: the cells left and right of x
                        ulong pu = PU[i0], pc = PC[i0], pg = PG[i0], po = PO[i0];
                        u0 = mp_pair_left(pu);
                        u1 = mp_pair_right(pu);
                        c0 = mp_pair_left(pc);
                        c1 = mp_pair_right(pc);
                        g0 = mp_pair_left(pg);
                        g1 = mp_pair_right(pg);
                        o0 = mp_pair_left(po);
                        o1 = mp_pair_right(po);
                    } else {
                        u0 = dU[i0];
                        u1 = dU[i0 + 1];
                        c0 = C[i0];
                        c1 = C[i0 + 1];
                        g0 = G[i0];
                        g1 = G[i0 + 1];
                        o0 = dO[i0];
                        o1 = dO[i0 + 1];
                    }
                    f_u = -(u0 * s + u1 * t);
                    c = c0 * s + c1 * t;
                    gam = g0 * s + g1 * t;
                    f_o = -(o0 * s + o1 * t);
                    // explicit part A(x) and the drag kappa(x) = wC + wG*G(x) >= 0, taken implicitly
                    A = wU * f_u + wC * c + wO * f_o + b;
                    kappa = wC + wG * gam;
                }
                bool bad = !(mp_isfinite(A) && mp_isfinite(kappa));
                n_nonfinite[j] += bad ? 1u : 0u;
                A = bad ? 0.0f : A;
                kappa = bad ? 0.0f : kappa;
                float inv_denom = 1.0f / (1.0f + h * kappa);
                float vj = v[j];
                float v_new = (vj + h * A) * inv_denom;
                float a = (v_new - vj) * inv_h;
                bool clamped = fabs(a) > a_max;
                n_clamp_a[j] += clamped ? 1u : 0u;
                a = clamped ? mp_clip(a, -a_max, a_max) : a;
                v_new = clamped ? vj + h * a : v_new;
                acc[j] = a;
                bool v_capped = fabs(v_new) > v_max;
                n_clamp_v[j] += v_capped ? 1u : 0u;
                // slopes of the interpolants (differences / dx), zero off the grid (fields hold their
                // edge value): the 1/dx and the off-grid zero factored out of the combination
                float slope_scale = inside ? inv_dx : 0.0f;
                coupling[j] = ((wU * (u0 - u1) + wC * (c1 - c0) + wO * (o0 - o1)) - v_new * (wG * (g1 - g0))) * slope_scale;
                comp[0 * MP_LANES + j] = f_u;
                comp[1 * MP_LANES + j] = c - v_new;
                comp[2 * MP_LANES + j] = -gam * v_new;
                comp[3 * MP_LANES + j] = f_o;
                comp[4 * MP_LANES + j] = 1.0f;
                gain[j] = inv_denom;
                pass[j] = (clamped || bad) ? 0.0f : 1.0f;
                reset[j] = v_capped ? 0.0f : 1.0f;
                v_new = mp_clip(v_new, -v_max, v_max);  // identity unless v_capped (NaN passes)
                v[j] = v_new;
                x[j] = x[j] + v_new * h;
            }
            if (hz == 0u && k == 0u) {
                for (int j = 0; j < MP_LANES; ++j) a0[j] = acc[j];
            }
            if (sens) {
                for (int q = 0; q < MP_N_PARAMS; ++q) {
                    for (int j = 0; j < MP_LANES; ++j) {
                        float sq = sv[q * MP_LANES + j];
                        float upd = (sq + h * (comp[q * MP_LANES + j] + coupling[j] * sx[q * MP_LANES + j])) * gain[j];
                        sq = pass[j] != 0.0f ? upd : sq;
                        sq = reset[j] != 0.0f ? sq : 0.0f;
                        sv[q * MP_LANES + j] = sq;
                        sx[q * MP_LANES + j] = sx[q * MP_LANES + j] + h * sq;
                    }
                }
            }
            if (diffuse) {
                uint step = hz * cfg.substeps + k;
                MP_LANE_LOOP_16
                for (int j = 0; j < MP_LANES; ++j) {
                    float z = mp_normal(k0, k1, lane0 + uint(j), step, stream);
                    float t = frac[j];
                    float d;
                    if (tabled) {
                        ulong pd = TD[cell[j]];
                        d = mp_pair_left(pd) * (1.0f - t) + mp_pair_right(pd) * t;
                    } else {
                        d = D[cell[j]] * (1.0f - t) + D[cell[j] + 1] * t;
                    }
                    x[j] = x[j] + sqrt(2.0f * mp_max0(d) * h) * z;
                }
            }
        }
        for (int j = 0; j < MP_LANES; ++j) {
            xs[hz * MP_LANES + j] = x[j];
            vs[hz * MP_LANES + j] = v[j];
        }
        for (int k = 0; k < MP_N_PARAMS * MP_LANES; ++k) jac[hz * MP_N_PARAMS * MP_LANES + k] = sx[k];
    }
    for (int j = 0; j < MP_LANES; ++j) {
        st[MP_ST_CLAMP_A * MP_LANES + j] += n_clamp_a[j];
        st[MP_ST_CLAMP_V * MP_LANES + j] += n_clamp_v[j];
        st[MP_ST_NONFINITE * MP_LANES + j] += n_nonfinite[j];
        st[MP_ST_OFF_GRID * MP_LANES + j] += n_off_grid[j];
    }
}

#endif
