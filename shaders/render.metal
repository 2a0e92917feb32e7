// The three-band instrument texture in two passes (layer order: spec section 7).
//
// render_prepass (one thread per column and per row, n = max(width, height)) does
// everything that depends on x alone or y alone once: the grid colour of a column,
// terrain height and line slope, all gates folded into one affine map, haze
// opacity, wear-meter extent and the two current arrows a column can meet; per row
// the dash/striation phase, contour coverage and the ladder rows' lines folded into
// one affine map. render_pixels (one thread per pixel, n = width * height) then does
// O(1) work: lookups, a few blends, and shapes (arrows, probe, ladder markers) only
// in the rows where they can cover the pixel.
// Mirrors marketphys/render/reference.py (column_data, row_data, shade_pixels).
// Buffers: fields (3 x n_cells: V normalised, C clamped, Gamma normalised), walls
// (n_walls x 6: centre, half-width, S/S_max, meter, glow, pad), ladder (n_horizons x
// MP_LADDER_STRIDE: the values and their screen geometry, see LADDER_COLS), cols (width x MP_COL_STRIDE), rows (height x
// MP_ROW_STRIDE), out (one RGBA8 per pixel).
#include <metal_stdlib>
using namespace metal;

#include "include/mp_render.h"

inline void column_data(uint x, constant RenderParams& p, const device float* fields, const device float* walls,
                        const device float* ladder, device float* cd) {
    float px = float(x) + 0.5f;
    float cx = float(p.width) * 0.5f;
    float ppt = float(p.width) / (2.0f * p.x_half);
    float xt = (px - cx) / ppt;
    float dx = p.dx;
    float ha = float(p.band_a);
    const device float* V = fields;
    const device float* Cn = fields + p.n_cells;
    const device float* Gn = fields + 2u * p.n_cells;
    // 1. grid colour without / with the dashed +-1 bucket line
    Rgb g0 = grid_colour(xt, ppt, dx, 0.0f);
    Rgb g1 = grid_colour(xt, ppt, dx, 1.0f);
    cd[MP_COL_GRID] = g0.r;
    cd[MP_COL_GRID + 1u] = g0.g;
    cd[MP_COL_GRID + 2u] = g0.b;
    cd[MP_COL_GRID_DASH] = g1.r;
    cd[MP_COL_GRID_DASH + 1u] = g1.g;
    cd[MP_COL_GRID_DASH + 2u] = g1.b;
    // 2. terrain height (mid - k V: valleys = attraction) and the line's slope factor
    float k = 0.30f * ha;
    float dv = 0.0f;
    float v = field_at(V, p.half_cells, p.n_cells, dx, xt, &dv);
    float slope = -k * dv / (dx * ppt);
    cd[MP_COL_TERRAIN_Y] = 0.5f * ha - k * v;
    cd[MP_COL_LINE_SCALE] = 1.0f / sqrt(1.0f + slope * slope);
    // 3. gates (fill, crisp edge, glow) folded into one affine map; the wear meter
    //    of the last gate whose centre is within 1.5 px of this column
    float m_top = 0.05f * ha;
    float m_bot = 0.22f * ha;
    Affine gate = affine_identity();
    float meter_on = 0.0f;
    float meter_fill = 0.0f;
    for (uint w = 0u; w < p.n_walls; w++) {
        const device float* wr = walls + 6u * w;
        float s = wr[2];
        if (s <= 0.0f) {
            continue;
        }
        float hw = mp_max(wr[1] * ppt, 1.5f);
        float d = fabs(px - (cx + wr[0] * ppt));
        float out = d - hw;
        if (out >= 7.0f) {
            continue;
        }
        gate = affine_blend(gate, col_gate(), 0.55f * s * clamp01(hw - d + 0.5f));
        gate = affine_blend(gate, col_gate_edge(), cov(fabs(out), 0.5f) * mp_min(1.0f, 1.5f * s));
        gate = affine_blend(gate, col_glow(), out > 0.5f && out < 6.0f ? 0.5f * wr[4] * (1.0f - out / 6.0f) : 0.0f);
        if (d <= 1.5f) {
            meter_on = 1.0f;
            meter_fill = m_bot - wr[3] * (m_bot - m_top);
        }
    }
    cd[MP_COL_GATE_M] = gate.m;
    cd[MP_COL_GATE_B] = gate.b.r;
    cd[MP_COL_GATE_B + 1u] = gate.b.g;
    cd[MP_COL_GATE_B + 2u] = gate.b.b;
    cd[MP_COL_METER_ON] = meter_on;
    cd[MP_COL_METER_FILL] = meter_fill;
    // 4. viscosity haze opacity before striation (capped by haze_cap)
    float unused = 0.0f;
    cd[MP_COL_HAZE] = p.haze_cap * clamp01(field_at(Gn, p.half_cells, p.n_cells, dx, xt, &unused));
    // 5. the two current arrows (one per arrow_stride buckets) that can reach this column:
    //    start x and signed length (sign = direction of C; 0 = none)
    int stride = int(p.arrow_stride);
    int half_cells = int(p.half_cells);
    float spacing = dx * ppt * float(stride);
    int jl = int(floor(xt / (dx * float(stride)))) * stride;
    for (int e = 0; e < 2; e++) {
        int j = jl + e * stride;
        float ax = 0.0f;
        float len = 0.0f;
        if (j >= -half_cells && j <= half_cells) {
            float cv = Cn[j + half_cells];
            ax = cx + float(j) * dx * ppt;
            len = fabs(cv) * 0.85f * spacing;
            len = cv >= 0.0f ? len : -len;
        }
        cd[MP_COL_ARROWS + 2u * uint(e)] = ax;
        cd[MP_COL_ARROWS + 2u * uint(e) + 1u] = len;
    }
    // 6. which ladder shapes can reach this column (bits: 0-7 band B marker/drop line of
    //    horizon h, 8-15 path segment h -> h+1, 16-23 band C row h); most columns have none
    uint mask = 0u;
    for (uint h = 0u; h < p.n_horizons; h++) {
        const device float* g = ladder + MP_LADDER_STRIDE * h;
        if (fabs(px - g[MP_LADDER_MARK_X]) < mp_max(1.0f, g[MP_LADDER_MARK_R] + 0.5f)) {
            mask = mask | (1u << h);
        }
        if (h + 1u < p.n_horizons) {
            float ax = g[MP_LADDER_MARK_X];
            float bx = g[MP_LADDER_STRIDE + MP_LADDER_MARK_X];
            if (px > mp_min(ax, bx) - 1.25f && px < mp_max(ax, bx) + 1.25f) {
                mask = mask | (1u << (8u + h));
            }
        }
        float pxm = g[MP_LADDER_PRED_X];
        float axm = g[MP_LADDER_ACTUAL_X];
        if (p.has_resolved != 0u && g[MP_LADDER_VALID] >= 0.5f && px > mp_min(pxm, axm) - 6.5f &&
            px < mp_max(pxm, axm) + 6.5f) {
            mask = mask | (1u << (16u + h));
        }
    }
    cd[MP_COL_LADDER_MASK] = float(mask);
}

inline void row_data(uint y, constant RenderParams& p, device float* rd) {
    float py = float(y) + 0.5f;
    float ha = float(p.band_a);
    float hb = float(p.band_b);
    rd[MP_ROW_DASH] = py - 8.0f * floor(py / 8.0f) < 4.0f ? 1.0f : 0.0f;
    float row2 = floor(py / 2.0f);
    rd[MP_ROW_STRIPE] = row2 - 3.0f * floor(row2 / 3.0f) < 0.5f ? 1.0f : 0.45f;
    // band A: contour lines (3-7 levels) as one coverage; drawn only below the terrain
    float keep = 1.0f;
    Affine t = affine_identity();
    if (py < ha) {
        float mid = 0.5f * ha;
        float k = 0.30f * ha;
        for (uint j = 0u; j < p.n_contours; j++) {
            float level = -1.0f + 2.0f * float(j + 1u) / float(p.n_contours + 1u);
            keep = keep * (1.0f - cov(fabs(py - (mid - k * level)), 0.5f) * 0.45f);
        }
    } else {
        // bands B and C: separators and the lines between horizon rows
        uint nh = p.n_horizons;
        float rb = hb / float(nh);
        float rc = (float(p.height) - ha - hb) / float(nh);
        t = affine_blend(t, col_separator(), cov(fabs(py - ha), 0.5f));
        t = affine_blend(t, col_separator(), cov(fabs(py - (ha + hb)), 0.5f));
        for (uint h = 1u; h < nh; h++) {
            float ly = py < ha + hb ? ha + rb * float(h) : ha + hb + rc * float(h);
            t = affine_blend(t, col_grid_minor(), cov(fabs(py - ly), 0.5f));
        }
    }
    rd[MP_ROW_CONTOUR] = 1.0f - keep;
    rd[MP_ROW_M] = t.m;
    rd[MP_ROW_B] = t.b.r;
    rd[MP_ROW_B + 1u] = t.b.g;
    rd[MP_ROW_B + 2u] = t.b.b;
    rd[MP_ROW_STRIDE - 1u] = 0.0f;
}

kernel void render_prepass(constant RenderParams& p [[buffer(0)]],
                           const device float* fields [[buffer(1)]],
                           const device float* walls [[buffer(2)]],
                           const device float* ladder [[buffer(3)]],
                           device float* cols [[buffer(4)]],
                           device float* rows [[buffer(5)]],
                           uint gid [[thread_position_in_grid]]) {
    if (gid >= p.n) return;
    if (gid < p.width) {
        column_data(gid, p, fields, walls, ladder, cols + MP_COL_STRIDE * gid);
    }
    if (gid < p.height) {
        row_data(gid, p, rows + MP_ROW_STRIDE * gid);
    }
}

inline Rgb shade_band_a(float px, float py, const device float* cd, const device float* rd, Rgb c,
                        constant RenderParams& p) {
    float ha = float(p.band_a);
    float cx = float(p.width) * 0.5f;
    // 2. terrain fill and contours below the terrain line, then the line itself
    float ty = cd[MP_COL_TERRAIN_Y];
    if (py > ty) {
        c = blend(c, col_terrain_fill(), 0.30f);
        c = blend(c, col_contour(), rd[MP_ROW_CONTOUR]);
    }
    // (a zero-opacity blend is the identity, so the common empty cases are skipped)
    float a_line = cov(fabs(py - ty) * cd[MP_COL_LINE_SCALE], 1.0f) * 0.95f;
    if (a_line > 0.0f) {
        c = blend(c, col_terrain_line(), a_line);
    }
    // 3. gates, then wear meters
    if (cd[MP_COL_GATE_M] < 1.0f) {
        c = affine_apply(c, cd[MP_COL_GATE_M], cd[MP_COL_GATE_B], cd[MP_COL_GATE_B + 1u], cd[MP_COL_GATE_B + 2u]);
    }
    if (cd[MP_COL_METER_ON] > 0.5f && py >= 0.05f * ha && py <= 0.22f * ha) {
        c = blend(c, col_meter_track(), 0.8f);
        if (py >= cd[MP_COL_METER_FILL]) {
            c = blend(c, col_meter(), 0.95f);
        }
    }
    // 4. viscosity haze with horizontal striations
    if (cd[MP_COL_HAZE] > 0.0f) {
        c = blend(c, col_haze(), cd[MP_COL_HAZE] * rd[MP_ROW_STRIPE]);
    }
    // 5. current arrows on the fixed baseline (they reach at most 5.05 px off it)
    float yb = 0.90f * ha;
    if (fabs(py - yb) < 5.5f) {
        for (uint e = 0u; e < 2u; e++) {
            float len = cd[MP_COL_ARROWS + 2u * e + 1u];
            float dirn = len >= 0.0f ? 1.0f : -1.0f;
            c = blend(c, col_current(), arrow_cov(px, py, cd[MP_COL_ARROWS + 2u * e], yb, dirn, fabs(len), 1.0f) * 0.9f);
        }
    }
    // 6. probe at x = 0 on the terrain with velocity and net-force arrows (rows cy-7 .. cy+17)
    float cy = p.probe_y;
    if (py > cy - 7.0f && py < cy + 17.5f) {
        float vdir = p.probe_v >= 0.0f ? 1.0f : -1.0f;
        float vlen = fabs(p.probe_v) * 0.12f * float(p.width);
        c = blend(c, col_velocity(), arrow_cov(px, py, cx + vdir * 8.0f, cy, vdir, vlen, 1.5f));
        float adir = p.probe_a >= 0.0f ? 1.0f : -1.0f;
        float alen = fabs(p.probe_a) * 0.06f * float(p.width);
        c = blend(c, col_force(), arrow_cov(px, py, cx, cy + 12.0f, adir, alen, 1.0f));
        c = blend(c, col_probe(), disc(px, py, cx, cy, 6.0f));
    }
    return c;
}

inline Rgb shade_ladders(float px, float py, const device float* ladder, uint mask, Rgb c, constant RenderParams& p) {
    uint nh = p.n_horizons;
    if (py < float(p.band_a + p.band_b)) {
        // band B: predicted markers (near horizons larger, more opaque) with drop lines, then the path
        for (uint h = 0u; h < nh; h++) {
            if (((mask >> h) & 1u) == 0u) {
                continue;
            }
            const device float* g = ladder + MP_LADDER_STRIDE * h;
            float mx = g[MP_LADDER_MARK_X];
            float my = g[MP_LADDER_MARK_Y];
            float op = g[MP_LADDER_MARK_OP];
            if (py >= my && fabs(px - mx) < 1.0f) {
                c = blend(c, col_forecast(), 0.35f * op * cov(fabs(px - mx), 0.5f));
            }
            float r = g[MP_LADDER_MARK_R];
            if (fabs(py - my) < r + 0.5f && fabs(px - mx) < r + 0.5f) {
                c = blend(c, col_forecast(), op * disc(px, py, mx, my, r));
            }
        }
        for (uint h = 0u; h + 1u < nh; h++) {
            if (((mask >> (8u + h)) & 1u) == 0u) {
                continue;
            }
            const device float* a = ladder + MP_LADDER_STRIDE * h;
            const device float* b = a + MP_LADDER_STRIDE;
            float ay = a[MP_LADDER_MARK_Y];
            float by = b[MP_LADDER_MARK_Y];
            if (py > ay - 1.25f && py < by + 1.25f) {
                float d = seg_dist(px, py, a[MP_LADDER_MARK_X], ay, b[MP_LADDER_MARK_X], by);
                c = blend(c, col_forecast(), 0.7f * cov(d, 0.75f));
            }
        }
        return c;
    }
    if (p.has_resolved == 0u) {
        return c;
    }
    // band C: predicted + actual markers of the last resolved origin, then error bars
    for (uint h = 0u; h < nh; h++) {
        if (((mask >> (16u + h)) & 1u) == 0u) {
            continue;
        }
        const device float* g = ladder + MP_LADDER_STRIDE * h;
        float my = g[MP_LADDER_RESOLVED_Y];
        if (g[MP_LADDER_VALID] < 0.5f || fabs(py - my) >= 6.5f) {
            continue;
        }
        float pxm = g[MP_LADDER_PRED_X];
        float axm = g[MP_LADDER_ACTUAL_X];
        float r = g[MP_LADDER_RESOLVED_R];
        float ex = px - pxm;
        float ey = py - my;
        c = blend(c, col_forecast(), cov(fabs(sqrt(ex * ex + ey * ey) - r), 0.75f));
        c = blend(c, col_actual(), disc(px, py, axm, my, r));
        if (px >= mp_min(pxm, axm) && px <= mp_max(pxm, axm)) {
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

kernel void render_pixels(constant RenderParams& p [[buffer(0)]],
                          const device float* cols [[buffer(1)]],
                          const device float* rows [[buffer(2)]],
                          const device float* ladder [[buffer(3)]],
                          device uint* out [[buffer(4)]],
                          uint gid [[thread_position_in_grid]]) {
    if (gid >= p.n) return;
    uint x = gid % p.width;
    uint y = gid / p.width;
    const device float* cd = cols + MP_COL_STRIDE * x;
    const device float* rd = rows + MP_ROW_STRIDE * y;
    float px = float(x) + 0.5f;
    float py = float(y) + 0.5f;
    // 1. grid (the row picks the dashed phase)
    uint g = rd[MP_ROW_DASH] > 0.5f ? MP_COL_GRID_DASH : MP_COL_GRID;
    Rgb c = rgb(cd[g], cd[g + 1u], cd[g + 2u]);
    if (py < float(p.band_a)) {
        c = shade_band_a(px, py, cd, rd, c, p);
    } else {
        c = affine_apply(c, rd[MP_ROW_M], rd[MP_ROW_B], rd[MP_ROW_B + 1u], rd[MP_ROW_B + 2u]);
        uint mask = uint(cd[MP_COL_LADDER_MASK]);
        if (mask != 0u) {
            c = shade_ladders(px, py, ladder, mask, c, p);
        }
    }
    out[gid] = pack_rgba(c);
}
