// The three-band instrument texture: one thread per pixel, 1D gid -> (x, y).
// Mirrors marketphys/render/reference.py::shade line for line; layer order is
// spec section 7. Buffers: fields (3 x n_cells: V normalised, C clamped, Gamma
// normalised), walls (n_walls x 6: centre, half-width, S/S_max, meter, glow, pad),
// ladder (n_horizons x 4: x_hat, pred, actual, valid), out (one RGBA8 per pixel).
#include <metal_stdlib>
using namespace metal;

#include "include/mp_render.h"

inline Rgb shade_band_a(float px, float py, float xt, float ppt, float cx, const device float* fields,
                        const device float* walls, constant RenderParams& p) {
    float ha = float(p.band_a);
    float dx = p.dx;
    const device float* V = fields;
    const device float* Cn = fields + p.n_cells;
    const device float* Gn = fields + 2u * p.n_cells;
    Rgb c = col_bg();
    // 1. grid
    c = vertical_grid(c, xt, py, ppt, dx);
    // 2. terrain fill + contours (height = mid - k V: valleys = attraction)
    float mid = 0.5f * ha;
    float k = 0.30f * ha;
    float dv = 0.0f;
    float v = field_at(V, p.half_cells, p.n_cells, dx, xt, &dv);
    float ty = mid - k * v;
    float below = py > ty ? 1.0f : 0.0f;
    c = blend(c, col_terrain_fill(), 0.30f * below);
    for (uint j = 0u; j < p.n_contours; j++) {
        float level = -1.0f + 2.0f * float(j + 1u) / float(p.n_contours + 1u);
        float ly = mid - k * level;
        c = blend(c, col_contour(), cov(fabs(py - ly), 0.5f) * 0.45f * below);
    }
    float slope = -k * dv / (dx * ppt);
    float d_line = fabs(py - ty) / sqrt(1.0f + slope * slope);
    c = blend(c, col_terrain_line(), cov(d_line, 1.0f) * 0.95f);
    // 3. gates + wear meters
    float m_top = 0.05f * ha;
    float m_bot = 0.22f * ha;
    for (uint w = 0u; w < p.n_walls; w++) {
        const device float* wr = walls + 6u * w;
        float s = wr[2];
        if (s <= 0.0f) {
            continue;
        }
        float gx = cx + wr[0] * ppt;
        float hw = max(wr[1] * ppt, 1.5f);
        float d = fabs(px - gx);
        float inside = d <= hw ? 1.0f : 0.0f;
        c = blend(c, col_gate(), 0.55f * s * inside);
        c = blend(c, col_gate_edge(), cov(fabs(d - hw), 0.5f) * min(1.0f, 1.5f * s));
        float out = d - hw;
        if (out > 0.5f && out < 6.0f) {
            c = blend(c, col_glow(), 0.5f * wr[4] * (1.0f - out / 6.0f));
        }
        if (d <= 1.5f && py >= m_top && py <= m_bot) {
            c = blend(c, col_meter_track(), 0.8f);
            if (py >= m_bot - wr[3] * (m_bot - m_top)) {
                c = blend(c, col_meter(), 0.95f);
            }
        }
    }
    // 4. viscosity haze, horizontal striations, opacity capped by haze_cap
    float unused = 0.0f;
    float g = clamp01(field_at(Gn, p.half_cells, p.n_cells, dx, xt, &unused));
    float row2 = floor(py / 2.0f);
    float stripe = row2 - 3.0f * floor(row2 / 3.0f) < 0.5f ? 1.0f : 0.45f;
    c = blend(c, col_haze(), p.haze_cap * g * stripe);
    // 5. current arrows on a fixed baseline, one per arrow_stride buckets
    int stride = int(p.arrow_stride);
    int half_cells = int(p.half_cells);
    float yb = 0.90f * ha;
    float spacing = dx * ppt * float(stride);
    int jl = int(floor(xt / (dx * float(stride)))) * stride;
    for (int e = 0; e < 2; e++) {
        int j = jl + e * stride;
        if (j < -half_cells || j > half_cells) {
            continue;
        }
        float cv = Cn[j + half_cells];
        float ax = cx + float(j) * dx * ppt;
        float length = fabs(cv) * 0.85f * spacing;
        float dirn = cv >= 0.0f ? 1.0f : -1.0f;
        c = blend(c, col_current(), arrow_cov(px, py, ax, yb, dirn, length, 1.0f) * 0.9f);
    }
    // 6. probe at x = 0 on the terrain, velocity and net-force arrows
    float v0 = field_at(V, p.half_cells, p.n_cells, dx, 0.0f, &unused);
    float cy = mid - k * v0;
    float vdir = p.probe_v >= 0.0f ? 1.0f : -1.0f;
    float vlen = fabs(p.probe_v) * 0.12f * float(p.width);
    c = blend(c, col_velocity(), arrow_cov(px, py, cx + vdir * 8.0f, cy, vdir, vlen, 1.5f));
    float adir = p.probe_a >= 0.0f ? 1.0f : -1.0f;
    float alen = fabs(p.probe_a) * 0.06f * float(p.width);
    c = blend(c, col_force(), arrow_cov(px, py, cx, cy + 12.0f, adir, alen, 1.0f));
    c = blend(c, col_probe(), disc(px, py, cx, cy, 6.0f));
    return c;
}

inline Rgb shade_ladders(float px, float py, float xt, float ppt, float cx, const device float* ladder,
                         constant RenderParams& p) {
    float ha = float(p.band_a);
    float hb = float(p.band_b);
    float hc = float(p.height) - ha - hb;
    bool in_b = py < ha + hb;
    uint nh = p.n_horizons;
    float rb = hb / float(nh);
    float rc = hc / float(nh);
    Rgb c = col_bg();
    c = vertical_grid(c, xt, py, ppt, p.dx);
    c = blend(c, col_separator(), cov(fabs(py - ha), 0.5f));
    c = blend(c, col_separator(), cov(fabs(py - (ha + hb)), 0.5f));
    for (uint h = 1u; h < nh; h++) {
        if (in_b) {
            c = blend(c, col_grid_minor(), cov(fabs(py - (ha + rb * float(h))), 0.5f));
        } else {
            c = blend(c, col_grid_minor(), cov(fabs(py - (ha + hb + rc * float(h))), 0.5f));
        }
    }
    if (in_b) {
        // predicted markers (near horizons larger, more opaque) with drop lines, then the path
        for (uint h = 0u; h < nh; h++) {
            float depth = float(h) / float(max(nh - 1u, 1u));
            float op = 1.0f - 0.55f * depth;
            float r = 6.0f - 3.0f * depth;
            float mx = cx + ladder[4u * h] * ppt;
            float my = ha + rb * (float(h) + 0.5f);
            if (py >= my && py <= ha + hb) {
                c = blend(c, col_forecast(), 0.35f * op * cov(fabs(px - mx), 0.5f));
            }
            c = blend(c, col_forecast(), op * disc(px, py, mx, my, r));
        }
        for (uint h = 0u; h + 1u < nh; h++) {
            float ax = cx + ladder[4u * h] * ppt;
            float bx = cx + ladder[4u * (h + 1u)] * ppt;
            float ay = ha + rb * (float(h) + 0.5f);
            float by = ha + rb * (float(h) + 1.5f);
            c = blend(c, col_forecast(), 0.7f * cov(seg_dist(px, py, ax, ay, bx, by), 0.75f));
        }
        return c;
    }
    if (p.has_resolved == 0u) {
        return c;
    }
    // predicted + actual markers of the last resolved origin, then error bars
    for (uint h = 0u; h < nh; h++) {
        const device float* row = ladder + 4u * h;
        if (row[3] < 0.5f) {
            continue;
        }
        float my = ha + hb + rc * (float(h) + 0.5f);
        float pxm = cx + row[1] * ppt;
        float axm = cx + row[2] * ppt;
        float r = min(5.0f, 0.4f * rc);
        float ex = px - pxm;
        float ey = py - my;
        c = blend(c, col_forecast(), cov(fabs(sqrt(ex * ex + ey * ey) - r), 0.75f));
        c = blend(c, col_actual(), disc(px, py, axm, my, r));
        float lo = min(pxm, axm);
        float hi = max(pxm, axm);
        if (px >= lo && px <= hi) {
            c = blend(c, col_error(), 0.85f * cov(fabs(py - my), 1.0f));
        }
    }
    return c;
}

inline uint pack_rgba(Rgb c) {
    uint r = uint(clamp01(c.r) * 255.0f + 0.5f);
    uint g = uint(clamp01(c.g) * 255.0f + 0.5f);
    uint b = uint(clamp01(c.b) * 255.0f + 0.5f);
    return r | (g << 8u) | (b << 16u) | (255u << 24u);
}

kernel void render_bands(constant RenderParams& p [[buffer(0)]],
                         const device float* fields [[buffer(1)]],
                         const device float* walls [[buffer(2)]],
                         const device float* ladder [[buffer(3)]],
                         device uint* out [[buffer(4)]],
                         uint gid [[thread_position_in_grid]]) {
    if (gid >= p.n_pixels) {
        return;
    }
    float px = float(gid % p.width) + 0.5f;
    float py = float(gid / p.width) + 0.5f;
    float ppt = float(p.width) / (2.0f * p.x_half);
    float xt = (px - float(p.width) * 0.5f) / ppt;
    float cx = float(p.width) * 0.5f;
    Rgb c;
    if (py < float(p.band_a)) {
        c = shade_band_a(px, py, xt, ppt, cx, fields, walls, p);
    } else {
        c = shade_ladders(px, py, xt, ppt, cx, ladder, p);
    }
    out[gid] = pack_rgba(c);
}
