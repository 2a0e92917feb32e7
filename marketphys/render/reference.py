"""NumPy reference renderer of the three-band texture, in the kernel's two passes.

``column_data`` / ``row_data`` are the twins of shaders/render.metal's
``render_prepass`` (everything that depends on x alone or y alone, computed once per
column / row); ``shade_pixels`` is the twin of ``render_pixels``, vectorised over
whole blocks of rows instead of one thread per pixel, and touching only the rows a
shape can cover (coverage is exactly zero elsewhere, and a zero-opacity blend leaves
a colour unchanged). All math is float32 like the kernel. Layer order is spec
section 7: band A grid -> terrain fill + contours -> gates -> wear meters ->
viscosity haze -> current arrows -> probe with velocity and force arrows; bands B
and C: grid -> separators and row lines -> markers -> path / error bars. Text is
left to the widget's JS.
"""

from __future__ import annotations

import numpy as np

from marketphys.render.layout import COL_FIELDS, LADDER_COLS, PALETTE, ROW_FIELDS
from marketphys.render.scene import Packed

F = np.float32
COL = {k: np.array(v, dtype=F) for k, v in PALETTE.items()}
TERRAIN_MID = F(0.5)      # terrain midline as a fraction of band A
TERRAIN_K = F(0.30)       # terrain amplitude k as a fraction of band A (height = mid − k·V)
METER_TOP = F(0.05)       # wear meter spans these fractions of band A, at the gate centre
METER_BOTTOM = F(0.22)
CURRENT_BASELINE = F(0.90)
PROBE_RADIUS = F(6.0)
C_ = {name: i for i, name in enumerate(COL_FIELDS)}
R_ = {name: i for i, name in enumerate(ROW_FIELDS)}


def cov(d, hw):
    """Anti-aliased coverage of a pixel whose centre is ``d`` px from a line of half-width ``hw``."""
    return np.clip(hw + F(0.5) - d, F(0.0), F(1.0))


def blend(c, col, a):
    """Source-over blend of colour ``col`` (3,) at opacity ``a`` onto ``c`` (..., 3)."""
    a = np.asarray(a, dtype=F)[..., None]
    return c * (F(1.0) - a) + col * a


def affine_blend(m, b, col, a):
    """Fold one more blend into the affine map c -> c·m + b (m (...,), b (..., 3))."""
    a = np.asarray(a, dtype=F)
    return m * (F(1.0) - a), blend(b, col, a)


def field_at(values, half_cells, n_cells, dx, xt):
    """Linear interpolation of a grid array at ``xt`` ticks (edge value held outside)."""
    f = xt / dx + F(half_cells)
    fl = np.clip(np.floor(f), F(0.0), F(n_cells - 2))
    i0 = fl.astype(np.int64)
    t = np.clip(f - fl, F(0.0), F(1.0))
    return values[i0] * (F(1.0) - t) + values[i0 + 1] * t, values[i0 + 1] - values[i0]


def seg_dist(px, py, ax, ay, bx, by):
    """Distance from (px, py) to the segment a-b."""
    vx, vy = bx - ax, by - ay
    wx, wy = px - ax, py - ay
    ll = vx * vx + vy * vy
    t = np.clip((wx * vx + wy * vy) / np.maximum(ll, F(1e-6)), F(0.0), F(1.0))
    ex, ey = wx - t * vx, wy - t * vy
    return np.sqrt(ex * ex + ey * ey)


def arrow_cov(px, py, x0, y0, dirn, length, hw):
    """Coverage of a horizontal arrow from x0 pointing ``dirn`` (±1) with ``length`` px, every edge anti-aliased."""
    along = (px - x0) * dirn
    perp = np.abs(py - y0)
    head = np.minimum(F(6.0), F(0.5) * length)
    one = lambda v: np.clip(v, F(0.0), F(1.0))  # noqa: E731
    shaft = cov(perp, hw) * one(along + F(0.5)) * one(length - along + F(0.5))
    tip = cov(perp, F(0.7) * (length - along)) * one(along - (length - head) + F(0.5))
    return np.maximum(shaft, tip) * one(length)


def disc(px, py, cx, cy, r):
    ex, ey = px - cx, py - cy
    return np.clip(r + F(0.5) - np.sqrt(ex * ex + ey * ey), F(0.0), F(1.0))


def grid_colour(xt, ppt, dx, dash):
    """(W, 3) colour of each grid column over the background, dashed ±1 bucket line where ``dash`` is 1."""
    c = np.broadcast_to(COL["bg"], (xt.size, 3)).astype(F)
    b = xt / dx
    d_minor = np.abs(b - np.floor(b + F(0.5))) * dx * ppt
    if dx * ppt >= F(4.0):
        c = blend(c, COL["grid_minor"], cov(d_minor, F(0.5)) * F(0.8))
    b10 = b / F(10.0)
    d_major = np.abs(b10 - np.floor(b10 + F(0.5))) * F(10.0) * dx * ppt
    c = blend(c, COL["grid_major"], cov(d_major, F(0.5)))
    c = blend(c, COL["dashed"], cov(np.abs(np.abs(xt) - dx) * ppt, F(0.5)) * F(dash))
    return blend(c, COL["center"], cov(np.abs(xt) * ppt, F(1.5)))


def column_data(pk: Packed) -> np.ndarray:
    """(W, len(COL_FIELDS)) float32: what each pixel column shares (twin of the prepass's columns)."""
    p = pk.params
    W = int(p["width"])
    n_cells, half = int(p["n_cells"]), int(p["half_cells"])
    dx, x_half, ha = F(p["dx"]), F(p["x_half"]), F(p["band_a"])
    V, Cn, Gn = pk.fields[0], pk.fields[1], pk.fields[2]
    px = np.arange(W, dtype=F) + F(0.5)
    cx = F(W) * F(0.5)
    ppt = F(W) / (F(2.0) * x_half)
    xt = (px - cx) / ppt
    cd = np.zeros((W, len(COL_FIELDS)), dtype=F)
    cd[:, C_["grid_r"]:C_["grid_r"] + 3] = grid_colour(xt, ppt, dx, 0.0)
    cd[:, C_["dash_r"]:C_["dash_r"] + 3] = grid_colour(xt, ppt, dx, 1.0)

    k = TERRAIN_K * ha
    v, dv = field_at(V, half, n_cells, dx, xt)
    slope = -k * dv / (dx * ppt)
    cd[:, C_["terrain_y"]] = TERRAIN_MID * ha - k * v
    cd[:, C_["line_scale"]] = F(1.0) / np.sqrt(F(1.0) + slope * slope)

    m_top, m_bot = METER_TOP * ha, METER_BOTTOM * ha
    gm, gb = np.ones(W, dtype=F), np.zeros((W, 3), dtype=F)
    for w in pk.walls:
        center, hw_t, s, meter, glow = F(w[0]), F(w[1]), F(w[2]), F(w[3]), F(w[4])
        if s <= F(0.0):
            continue
        hw = np.maximum(hw_t * ppt, F(1.5))
        d = np.abs(px - (cx + center * ppt))
        out = d - hw
        near = out < F(7.0)                    # columns this gate can touch
        a_in = F(0.55) * s * np.clip(hw - d + F(0.5), F(0.0), F(1.0))
        a_edge = cov(np.abs(out), F(0.5)) * np.minimum(F(1.0), F(1.5) * s)
        a_glow = np.where((out > F(0.5)) & (out < F(6.0)), F(0.5) * glow * (F(1.0) - out / F(6.0)), F(0.0))
        for col, a in (("gate", a_in), ("gate_edge", a_edge), ("glow", a_glow)):
            m2, b2 = affine_blend(gm, gb, COL[col], a)
            gm, gb = np.where(near, m2, gm), np.where(near[:, None], b2, gb)
        on = near & (d <= F(1.5))
        cd[on, C_["meter_on"]] = F(1.0)
        cd[on, C_["meter_fill"]] = m_bot - meter * (m_bot - m_top)
    cd[:, C_["gate_m"]] = gm
    cd[:, C_["gate_r"]:C_["gate_r"] + 3] = gb

    g, _ = field_at(Gn, half, n_cells, dx, xt)
    cd[:, C_["haze"]] = F(p["haze_cap"]) * np.clip(g, F(0.0), F(1.0))

    stride = int(p["arrow_stride"])
    spacing = dx * ppt * F(stride)
    jl = np.floor(xt / (dx * F(stride))).astype(np.int64) * stride
    for e, j in enumerate((jl, jl + stride)):
        ok = np.abs(j) <= half
        cv = Cn[np.clip(j + half, 0, n_cells - 1)]
        length = np.abs(cv) * F(0.85) * spacing
        cd[:, C_["arrow0_x"] + 2 * e] = np.where(ok, cx + j.astype(F) * dx * ppt, F(0.0))
        cd[:, C_["arrow0_len"] + 2 * e] = np.where(ok, np.where(cv >= F(0.0), length, -length), F(0.0))

    g = {name: pk.ladder[:, i] for i, name in enumerate(LADDER_COLS)}
    nh = int(p["n_horizons"])
    mask = np.zeros(W, dtype=np.uint32)
    for h in range(nh):
        mask |= (np.abs(px - g["mark_x"][h]) < max(F(1.0), g["mark_r"][h] + F(0.5))).astype(np.uint32) << h
        if h + 1 < nh:
            ax, bx = g["mark_x"][h], g["mark_x"][h + 1]
            mask |= ((px > min(ax, bx) - F(1.25)) & (px < max(ax, bx) + F(1.25))).astype(np.uint32) << (8 + h)
        pxm, axm = g["pred_x"][h], g["actual_x"][h]
        if int(p["has_resolved"]) and g["valid"][h] >= F(0.5):
            mask |= ((px > min(pxm, axm) - F(6.5)) & (px < max(pxm, axm) + F(6.5))).astype(np.uint32) << (16 + h)
    cd[:, C_["ladder_mask"]] = mask.astype(F)
    return cd


def row_data(pk: Packed) -> np.ndarray:
    """(H, len(ROW_FIELDS)) float32: what each pixel row shares (twin of the prepass's rows)."""
    p = pk.params
    H = int(p["height"])
    ha, hb = F(p["band_a"]), F(p["band_b"])
    py = np.arange(H, dtype=F) + F(0.5)
    rd = np.zeros((H, len(ROW_FIELDS)), dtype=F)
    rd[:, R_["dash"]] = (py - F(8.0) * np.floor(py / F(8.0)) < F(4.0)).astype(F)
    row2 = np.floor(py / F(2.0))
    rd[:, R_["stripe"]] = np.where(row2 - F(3.0) * np.floor(row2 / F(3.0)) < F(0.5), F(1.0), F(0.45))

    in_a = py < ha
    mid, k = TERRAIN_MID * ha, TERRAIN_K * ha
    nc = int(p["n_contours"])
    keep = np.ones(H, dtype=F)
    for j in range(nc):
        level = F(-1.0) + F(2.0) * F(j + 1) / F(nc + 1)
        keep = keep * (F(1.0) - cov(np.abs(py - (mid - k * level)), F(0.5)) * F(0.45))
    rd[:, R_["contour"]] = np.where(in_a, F(1.0) - keep, F(0.0))

    nh = int(p["n_horizons"])
    rb, rc = hb / F(nh), (F(H) - ha - hb) / F(nh)
    m, b = np.ones(H, dtype=F), np.zeros((H, 3), dtype=F)
    m, b = affine_blend(m, b, COL["separator"], cov(np.abs(py - ha), F(0.5)))
    m, b = affine_blend(m, b, COL["separator"], cov(np.abs(py - (ha + hb)), F(0.5)))
    for h in range(1, nh):
        ly = np.where(py < ha + hb, ha + rb * F(h), ha + hb + rc * F(h))
        m, b = affine_blend(m, b, COL["grid_minor"], cov(np.abs(py - ly), F(0.5)))
    rd[:, R_["m"]] = np.where(in_a, F(1.0), m)
    rd[:, R_["b_r"]:R_["b_r"] + 3] = np.where(in_a[:, None], F(0.0), b)
    return rd


def render_packed(pk: Packed) -> np.ndarray:
    """Shade every pixel; returns an (H, W, 4) uint8 RGBA texture."""
    c = shade_pixels(pk, column_data(pk), row_data(pk))
    H, W = c.shape[:2]
    out = np.empty((H, W, 4), dtype=np.uint8)
    out[..., :3] = (np.clip(c, F(0.0), F(1.0)) * F(255.0) + F(0.5)).astype(np.uint8)
    out[..., 3] = 255
    return out


def _rows(py, lo, hi):
    """Slice of the rows whose centre lies strictly between ``lo`` and ``hi`` (a superset is fine)."""
    a = int(np.searchsorted(py, F(lo), side="right"))
    b = int(np.searchsorted(py, F(hi), side="left"))
    return slice(a, max(a, b))


def shade_pixels(pk: Packed, cd: np.ndarray, rd: np.ndarray) -> np.ndarray:
    """(H, W, 3) float32 colour of every pixel from the column and row records (twin of render_pixels)."""
    p = pk.params
    W, H = int(p["width"]), int(p["height"])
    A = int(p["band_a"])
    px = np.arange(W, dtype=F) + F(0.5)
    py = np.arange(H, dtype=F) + F(0.5)
    dash = rd[:, R_["dash"]] > F(0.5)
    c = np.where(dash[:, None, None], cd[None, :, C_["dash_r"]:C_["dash_r"] + 3], cd[None, :, C_["grid_r"]:C_["grid_r"] + 3])
    c = np.ascontiguousarray(c, dtype=F)
    c[:A] = shade_band_a(c[:A], px, py[:A], cd, rd[:A], pk)
    cb = c[A:] * rd[A:, R_["m"], None, None] + rd[A:, None, R_["b_r"]:R_["b_r"] + 3]
    c[A:] = shade_ladders(cb, px, py[A:], pk)
    return c


def shade_band_a(c, px, py, cd, rd, pk: Packed):
    p = pk.params
    W = int(p["width"])
    ha = F(p["band_a"])
    cx = F(W) * F(0.5)
    ty = cd[:, C_["terrain_y"]]
    below = (py[:, None] > ty[None, :]).astype(F)
    c = blend(c, COL["terrain_fill"], F(0.30) * below)
    c = blend(c, COL["contour"], rd[:, R_["contour"], None] * below)
    c = blend(c, COL["terrain_line"], cov(np.abs(py[:, None] - ty[None, :]) * cd[None, :, C_["line_scale"]], F(1.0)) * F(0.95))
    c = c * cd[None, :, C_["gate_m"], None] + cd[None, :, C_["gate_r"]:C_["gate_r"] + 3]

    mr = _rows(py, METER_TOP * ha - F(1.0), METER_BOTTOM * ha + F(1.0))
    mc = np.flatnonzero(cd[:, C_["meter_on"]] > F(0.5))
    if mc.size and mr.stop > mr.start:
        q = py[mr, None]
        blk = c[mr][:, mc]
        inm = ((q >= METER_TOP * ha) & (q <= METER_BOTTOM * ha)).astype(F) * np.ones((1, mc.size), F)
        blk = blend(blk, COL["meter_track"], F(0.8) * inm)
        blk = blend(blk, COL["meter"], F(0.95) * inm * (q >= cd[None, mc, C_["meter_fill"]]).astype(F))
        c[mr.start:mr.stop, mc] = blk

    c = blend(c, COL["haze"], cd[None, :, C_["haze"]] * rd[:, R_["stripe"], None])

    yb = CURRENT_BASELINE * ha
    ar = _rows(py, yb - F(5.5), yb + F(5.5))
    if ar.stop > ar.start:
        blk, q = c[ar], py[ar, None]
        for e in range(2):
            ln = cd[None, :, C_["arrow0_len"] + 2 * e]
            dirn = np.where(ln >= F(0.0), F(1.0), F(-1.0))
            a = arrow_cov(px[None, :], q, cd[None, :, C_["arrow0_x"] + 2 * e], yb, dirn, np.abs(ln), F(1.0))
            blk = blend(blk, COL["current"], a * F(0.9))
        c[ar] = blk

    cy = F(p["probe_y"])
    pr = _rows(py, cy - F(7.0), cy + F(17.5))
    if pr.stop > pr.start:
        blk, q, x = c[pr], py[pr, None], px[None, :]
        pv, pa = F(p["probe_v"]), F(p["probe_a"])
        vdir = F(1.0) if pv >= F(0.0) else F(-1.0)
        vlen = np.abs(pv) * F(0.12) * F(W)
        blk = blend(blk, COL["velocity"], arrow_cov(x, q, cx + vdir * (PROBE_RADIUS + F(2.0)), cy, vdir, vlen, F(1.5)))
        adir = F(1.0) if pa >= F(0.0) else F(-1.0)
        alen = np.abs(pa) * F(0.06) * F(W)
        blk = blend(blk, COL["force"], arrow_cov(x, q, cx, cy + F(12.0), adir, alen, F(1.0)))
        c[pr] = blend(blk, COL["probe"], disc(x, q, cx, cy, PROBE_RADIUS))
    return c


def shade_ladders(c, px, py, pk: Packed):
    """Bands B and C after grid and row lines: markers -> path (B) / error bars (C)."""
    p = pk.params
    W = int(p["width"])
    ha, hb = F(p["band_a"]), F(p["band_b"])
    nh = int(p["n_horizons"])
    g = {name: pk.ladder[:, i] for i, name in enumerate(LADDER_COLS)}
    x = px[None, :]
    nb = int(np.searchsorted(py, ha + hb, side="left"))    # rows of band B within c
    for h in range(nh):
        mx, my, r, op = g["mark_x"][h], g["mark_y"][h], g["mark_r"][h], g["mark_op"][h]
        dr = slice(int(np.searchsorted(py[:nb], my, side="left")), nb)
        c[dr] = blend(c[dr], COL["forecast"], np.broadcast_to(F(0.35) * op * cov(np.abs(x - mx), F(0.5)), (dr.stop - dr.start, W)))
        mr = _rows(py[:nb], my - r - F(0.5), my + r + F(0.5))
        c[mr] = blend(c[mr], COL["forecast"], op * disc(x, py[mr, None], mx, my, r))
    for h in range(nh - 1):
        ax, ay, bx, by = g["mark_x"][h], g["mark_y"][h], g["mark_x"][h + 1], g["mark_y"][h + 1]
        sr = _rows(py[:nb], ay - F(1.25), by + F(1.25))
        c[sr] = blend(c[sr], COL["forecast"], F(0.7) * cov(seg_dist(x, py[sr, None], ax, ay, bx, by), F(0.75)))

    if not int(p["has_resolved"]):
        return c
    for h in range(nh):
        if g["valid"][h] < F(0.5):
            continue
        my, r = g["resolved_y"][h], g["resolved_r"][h]
        sl = _rows(py, my - F(6.5), my + F(6.5))
        sl = slice(max(sl.start, nb), max(sl.stop, nb))
        q = py[sl, None]
        pxm, axm = g["pred_x"][h], g["actual_x"][h]
        blk = blend(c[sl], COL["pred"], cov(np.abs(np.sqrt((x - pxm) ** 2 + (q - my) ** 2) - r), F(0.75)))
        blk = blend(blk, COL["actual"], disc(x, q, axm, my, r))
        bar = ((x >= min(pxm, axm)) & (x <= max(pxm, axm))).astype(F) * cov(np.abs(q - my), F(1.0))
        c[sl] = blend(blk, COL["error"], F(0.85) * bar)
    return c
