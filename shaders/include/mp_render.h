// Shared math of the three-band instrument texture (docs/architecture.md#visual-encoding).
// Every function has a twin of the same name in
// marketphys/render/reference.py, the NumPy reference the kernel is tested
// against. Plain inline functions over scalars: one source for Metal, msl-cpu
// and CUDA builds (docs/architecture.md#kernels-and-backends subset: 4-byte fields, f literals).
#ifndef MARKETPHYS_RENDER_COMMON_H
#define MARKETPHYS_RENDER_COMMON_H

// Per-column and per-row records written by render_prepass (float32 each);
// mirror COL_FIELDS / ROW_FIELDS in marketphys/render/layout.py.
#define MP_COL_STRIDE 20u
#define MP_ROW_STRIDE 8u
#define MP_COL_GRID 0u
#define MP_COL_GRID_DASH 3u
#define MP_COL_TERRAIN_Y 6u
#define MP_COL_LINE_SCALE 7u
#define MP_COL_GATE_M 8u
#define MP_COL_GATE_B 9u
#define MP_COL_HAZE 12u
#define MP_COL_METER_ON 13u
#define MP_COL_METER_FILL 14u
#define MP_COL_ARROWS 15u
#define MP_COL_LADDER_MASK 19u
#define MP_ROW_DASH 0u
#define MP_ROW_STRIPE 1u
#define MP_ROW_CONTOUR 2u
#define MP_ROW_M 3u
#define MP_ROW_B 4u
// One record per horizon (LADDER_COLS): values, then screen geometry from pack().
#define MP_LADDER_STRIDE 12u
#define MP_LADDER_VALID 3u
#define MP_LADDER_MARK_X 4u
#define MP_LADDER_MARK_Y 5u
#define MP_LADDER_MARK_R 6u
#define MP_LADDER_MARK_OP 7u
#define MP_LADDER_PRED_X 8u
#define MP_LADDER_ACTUAL_X 9u
#define MP_LADDER_RESOLVED_Y 10u
#define MP_LADDER_RESOLVED_R 11u

// Mirrors PARAMS_DTYPE in marketphys/render/layout.py (80 bytes). n is the thread
// count of the pass being dispatched: max(width, height) for render_prepass,
// width * height for render_pixels.
struct RenderParams {
    uint width;
    uint height;
    uint n;
    uint n_cells;
    uint half_cells;
    uint n_walls;
    uint n_horizons;
    uint n_contours;
    uint arrow_stride;
    uint has_resolved;
    uint band_a;
    uint band_b;
    float dx;
    float x_half;
    float haze_cap;
    float probe_v;
    float probe_a;
    float probe_y;
    float pad1;
    float pad2;
};

struct Rgb {
    float r;
    float g;
    float b;
};

inline Rgb rgb(float r, float g, float b) {
    Rgb c;
    c.r = r;
    c.g = g;
    c.b = b;
    return c;
}

// Palette: mirrors PALETTE in marketphys/render/layout.py.
inline Rgb col_bg() { return rgb(0.047f, 0.055f, 0.078f); }
inline Rgb col_grid_minor() { return rgb(0.15f, 0.17f, 0.22f); }
inline Rgb col_grid_major() { return rgb(0.28f, 0.31f, 0.38f); }
inline Rgb col_center() { return rgb(0.85f, 0.86f, 0.90f); }
inline Rgb col_dashed() { return rgb(0.50f, 0.52f, 0.60f); }
inline Rgb col_separator() { return rgb(0.35f, 0.37f, 0.45f); }
inline Rgb col_terrain_fill() { return rgb(0.16f, 0.55f, 0.63f); }
inline Rgb col_terrain_line() { return rgb(0.45f, 0.88f, 0.95f); }
inline Rgb col_contour() { return rgb(0.30f, 0.75f, 0.82f); }
inline Rgb col_gate() { return rgb(0.95f, 0.52f, 0.22f); }
inline Rgb col_gate_edge() { return rgb(1.00f, 0.72f, 0.40f); }
inline Rgb col_glow() { return rgb(1.00f, 0.85f, 0.55f); }
inline Rgb col_meter_track() { return rgb(0.10f, 0.10f, 0.12f); }
inline Rgb col_meter() { return rgb(1.00f, 0.92f, 0.70f); }
inline Rgb col_haze() { return rgb(0.62f, 0.60f, 0.80f); }
inline Rgb col_current() { return rgb(0.40f, 0.80f, 1.00f); }
inline Rgb col_probe() { return rgb(1.00f, 1.00f, 0.95f); }
inline Rgb col_velocity() { return rgb(1.00f, 0.90f, 0.30f); }
inline Rgb col_force() { return rgb(0.95f, 0.35f, 0.85f); }
inline Rgb col_forecast() { return rgb(0.55f, 0.95f, 0.55f); }
inline Rgb col_actual() { return rgb(1.00f, 1.00f, 1.00f); }
inline Rgb col_error() { return rgb(1.00f, 0.35f, 0.35f); }

// Plain compare-and-select min/max: inputs here are validated finite, and the CPU
// build would otherwise call the NaN-aware fminf/fmaxf (a library call per use,
// ~40% of the pixel pass).
inline float mp_min(float a, float b) { return a < b ? a : b; }
inline float mp_max(float a, float b) { return a > b ? a : b; }

inline float clamp01(float v) { return mp_min(mp_max(v, 0.0f), 1.0f); }

// Anti-aliased coverage of a pixel whose centre is d px from a line of half-width hw.
inline float cov(float d, float hw) { return clamp01(hw + 0.5f - d); }

inline Rgb blend(Rgb c, Rgb col, float a) {
    return rgb(c.r * (1.0f - a) + col.r * a, c.g * (1.0f - a) + col.g * a, c.b * (1.0f - a) + col.b * a);
}

// Linear interpolation of a grid array at xt ticks; *slope gets the cell difference.
inline float field_at(const device float* values, uint half_cells, uint n_cells, float dx, float xt, thread float* slope) {
    float f = xt / dx + float(half_cells);
    float fl = mp_min(mp_max(floor(f), 0.0f), float(n_cells - 2u));
    int i0 = int(fl);
    float t = clamp01(f - fl);
    *slope = values[i0 + 1] - values[i0];
    return values[i0] * (1.0f - t) + values[i0 + 1] * t;
}

inline float seg_dist(float px, float py, float ax, float ay, float bx, float by) {
    float vx = bx - ax;
    float vy = by - ay;
    float wx = px - ax;
    float wy = py - ay;
    float ll = vx * vx + vy * vy;
    float t = clamp01((wx * vx + wy * vy) / mp_max(ll, 1e-6f));
    float ex = wx - t * vx;
    float ey = wy - t * vy;
    return sqrt(ex * ex + ey * ey);
}

// Coverage of a horizontal arrow from x0 pointing dirn (+-1) with length px: a shaft of
// half-width hw and a head narrowing to the point. Every edge is anti-aliased (coverage
// is continuous in x0 and length), so backends that round an anchor an ulp apart still
// draw the same pixels; arrows shorter than 1 px fade out.
inline float arrow_cov(float px, float py, float x0, float y0, float dirn, float length, float hw) {
    float along = (px - x0) * dirn;
    float perp = fabs(py - y0);
    float head = mp_min(6.0f, 0.5f * length);
    float shaft = cov(perp, hw) * clamp01(along + 0.5f) * clamp01(length - along + 0.5f);
    float tip = cov(perp, 0.7f * (length - along)) * clamp01(along - (length - head) + 0.5f);
    return mp_max(shaft, tip) * clamp01(length);
}

inline float disc(float px, float py, float cx, float cy, float r) {
    float ex = px - cx;
    float ey = py - cy;
    return clamp01(r + 0.5f - sqrt(ex * ex + ey * ey));
}

// Colour of a grid column over the background: minor (every bucket), major (every
// 10), the dashed +-1 bucket line where dash is 1, and the thick centre line.
inline Rgb grid_colour(float xt, float ppt, float dx, float dash) {
    Rgb c = col_bg();
    float b = xt / dx;
    float d_minor = fabs(b - floor(b + 0.5f)) * dx * ppt;
    if (dx * ppt >= 4.0f) {
        c = blend(c, col_grid_minor(), cov(d_minor, 0.5f) * 0.8f);
    }
    float b10 = b / 10.0f;
    float d_major = fabs(b10 - floor(b10 + 0.5f)) * 10.0f * dx * ppt;
    c = blend(c, col_grid_major(), cov(d_major, 0.5f));
    c = blend(c, col_dashed(), cov(fabs(fabs(xt) - dx) * ppt, 0.5f) * dash);
    c = blend(c, col_center(), cov(fabs(xt) * ppt, 1.5f));
    return c;
}

// A run of blends whose opacities do not depend on the pixel's colour is one affine
// map c -> c * m + b; the prepass folds each column's gates and each row's ladder
// lines into one, so the pixel pass applies them with a multiply-add.
struct Affine {
    float m;
    Rgb b;
};

inline Affine affine_identity() {
    Affine t;
    t.m = 1.0f;
    t.b = rgb(0.0f, 0.0f, 0.0f);
    return t;
}

inline Affine affine_blend(Affine t, Rgb col, float a) {
    t.m = t.m * (1.0f - a);
    t.b = blend(t.b, col, a);
    return t;
}

inline Rgb affine_apply(Rgb c, float m, float br, float bg, float bb) {
    return rgb(c.r * m + br, c.g * m + bg, c.b * m + bb);
}

#endif
