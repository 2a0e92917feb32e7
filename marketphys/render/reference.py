"""NumPy reference renderer of the three-band texture, written per pixel.

Each function here has a twin of the same name in shaders/include/mp_render.h; the
arrays are whole columns of pixels instead of one thread's scalars, and ``if``
becomes a coverage factor. All math is float32 like the kernel. Layer order is
spec section 7: band A grid -> terrain fill + contours -> gates + wear meters ->
viscosity haze -> current arrows -> probe with velocity and force arrows; bands B
and C: ladder grid -> markers -> connecting path / error bars. Text is left to
the widget's JS.
"""

from __future__ import annotations

import numpy as np

from marketphys.render.layout import PALETTE
from marketphys.render.scene import Packed

F = np.float32
COL = {k: np.array(v, dtype=F) for k, v in PALETTE.items()}
TERRAIN_MID = F(0.5)      # terrain midline as a fraction of band A
TERRAIN_K = F(0.30)       # terrain amplitude k as a fraction of band A (height = mid − k·V)
METER_TOP = F(0.05)       # wear meter spans these fractions of band A, at the gate centre
METER_BOTTOM = F(0.22)
CURRENT_BASELINE = F(0.90)
PROBE_RADIUS = F(6.0)


def cov(d, hw):
    """Anti-aliased coverage of a pixel whose centre is ``d`` px from a line of half-width ``hw``."""
    return np.clip(hw + F(0.5) - d, F(0.0), F(1.0))


def blend(c, col, a):
    """Source-over blend of colour ``col`` at opacity ``a`` onto ``c`` (N, 3)."""
    a = np.asarray(a, dtype=F)[:, None]
    return c * (F(1.0) - a) + col[None, :] * a


def field_at(values, half_cells, n_cells, dx, xt):
    """Linear interpolation of a grid array at ``xt`` ticks (edge value held outside)."""
    f = xt / dx + F(half_cells)
    i0 = np.clip(np.floor(f), 0, n_cells - 2).astype(np.int64)
    t = np.clip(f - i0.astype(F), F(0.0), F(1.0))
    return values[i0] * (F(1.0) - t) + values[i0 + 1] * t, values[i0 + 1] - values[i0]


def seg_dist(px, py, ax, ay, bx, by):
    """Distance from (px, py) to the segment a-b."""
    vx, vy = bx - ax, by - ay
    wx, wy = px - ax, py - ay
    ll = vx * vx + vy * vy
    t = np.clip((wx * vx + wy * vy) / np.maximum(ll, F(1e-6)), F(0.0), F(1.0))
    dx_, dy_ = wx - t * vx, wy - t * vy
    return np.sqrt(dx_ * dx_ + dy_ * dy_)


def arrow_cov(px, py, x0, y0, dirn, length, hw):
    """Coverage of a horizontal arrow from x0 pointing ``dirn`` (±1) with ``length`` px."""
    along = (px - x0) * dirn
    perp = np.abs(py - y0)
    head = np.minimum(F(6.0), F(0.5) * length)
    shaft = np.where((along >= F(0.0)) & (along <= length - head), cov(perp, hw), F(0.0))
    tip = np.where((along > length - head) & (along <= length), cov(perp, F(0.7) * (length - along)), F(0.0))
    return np.where(length >= F(1.0), np.maximum(shaft, tip), F(0.0))


def vertical_grid(c, xt, py, ppt, dx, mask):
    """Minor (every bucket), major (every 10), dashed ±1 bucket and the thick centre line."""
    b = xt / dx
    d_minor = np.abs(b - np.floor(b + F(0.5))) * dx * ppt
    minor_ok = F(1.0) if dx * ppt >= F(4.0) else F(0.0)
    c = blend(c, COL["grid_minor"], cov(d_minor, F(0.5)) * F(0.8) * minor_ok * mask)
    b10 = b / F(10.0)
    d_major = np.abs(b10 - np.floor(b10 + F(0.5))) * F(10.0) * dx * ppt
    c = blend(c, COL["grid_major"], cov(d_major, F(0.5)) * mask)
    dash = (py - F(8.0) * np.floor(py / F(8.0)) < F(4.0)).astype(F)
    d_dash = np.abs(np.abs(xt) - dx) * ppt
    c = blend(c, COL["dashed"], cov(d_dash, F(0.5)) * dash * mask)
    c = blend(c, COL["center"], cov(np.abs(xt) * ppt, F(1.5)) * mask)
    return c


def render_packed(pk: Packed) -> np.ndarray:
    """Shade every pixel; returns an (H, W, 4) uint8 RGBA texture."""
    p = pk.params
    W, H = int(p["width"]), int(p["height"])
    n_cells, half = int(p["n_cells"]), int(p["half_cells"])
    dx, x_half = F(p["dx"]), F(p["x_half"])
    ha, hb = F(p["band_a"]), F(p["band_b"])
    V, Cn, Gn = pk.fields[0], pk.fields[1], pk.fields[2]

    out = np.empty((W * H, 4), dtype=np.uint8)
    out[:, 3] = 255
    # Each band shades only its own rows (a thread would skip the others' branches).
    for lo, hi in ((0, int(ha)), (int(ha), H)):
        gid = np.arange(lo * W, hi * W, dtype=np.int64)
        c = shade(gid, pk)
        out[gid, :3] = (np.clip(c, F(0.0), F(1.0)) * F(255.0) + F(0.5)).astype(np.uint8)
    return out.reshape(H, W, 4)


def shade(gid: np.ndarray, pk: Packed) -> np.ndarray:
    """Colour (N, 3) float32 of the pixels ``gid`` (row-major), the kernel's per-thread body."""
    p = pk.params
    W, H = int(p["width"]), int(p["height"])
    n_cells, half = int(p["n_cells"]), int(p["half_cells"])
    dx, x_half = F(p["dx"]), F(p["x_half"])
    ha, hb = F(p["band_a"]), F(p["band_b"])
    V, Cn, Gn = pk.fields[0], pk.fields[1], pk.fields[2]
    px = (gid % W).astype(F) + F(0.5)
    py = (gid // W).astype(F) + F(0.5)
    ppt = F(W) / (F(2.0) * x_half)                     # pixels per tick
    xt = (px - F(W) * F(0.5)) / ppt                    # ticks from spot at t0
    cx = F(W) * F(0.5)
    in_a = (py < ha).astype(F)
    in_b = ((py >= ha) & (py < ha + hb)).astype(F)
    in_c = (py >= ha + hb).astype(F)
    c = np.broadcast_to(COL["bg"], (gid.size, 3)).astype(F)
    if not in_a.any():
        return shade_ladders(c, px, py, xt, ppt, cx, pk, in_b, in_c)

    # ---- band A, layer 1: grid
    c = vertical_grid(c, xt, py, ppt, dx, in_a)

    # ---- layer 2: terrain fill + contours (height = mid − k·V: valleys = attraction)
    mid, k = TERRAIN_MID * ha, TERRAIN_K * ha
    v, dv = field_at(V, half, n_cells, dx, xt)
    ty = mid - k * v
    below = (py > ty).astype(F)
    c = blend(c, COL["terrain_fill"], F(0.30) * below * in_a)
    nc = int(p["n_contours"])
    for j in range(nc):
        level = F(-1.0) + F(2.0) * F(j + 1) / F(nc + 1)
        ly = mid - k * level
        c = blend(c, COL["contour"], cov(np.abs(py - ly), F(0.5)) * F(0.45) * below * in_a)
    slope = -k * dv / (dx * ppt)
    d_line = np.abs(py - ty) / np.sqrt(F(1.0) + slope * slope)
    c = blend(c, COL["terrain_line"], cov(d_line, F(1.0)) * F(0.95) * in_a)

    # ---- layer 3: gates + wear meters
    m_top, m_bot = METER_TOP * ha, METER_BOTTOM * ha
    for w in pk.walls:
        center, hw_t, s, meter, glow = F(w[0]), F(w[1]), F(w[2]), F(w[3]), F(w[4])
        if s <= F(0.0):
            continue
        gx = cx + center * ppt
        hw = np.maximum(hw_t * ppt, F(1.5))
        near = np.flatnonzero((np.abs(px - gx) < hw + F(7.0)) & (in_a > F(0.0)))   # pixels the gate can touch
        if near.size == 0:
            continue
        qx, qy, cq = px[near], py[near], c[near]
        d = np.abs(qx - gx)
        inside = (d <= hw).astype(F)
        cq = blend(cq, COL["gate"], F(0.55) * s * inside)
        edge = np.minimum(F(1.0), F(1.5) * s)
        cq = blend(cq, COL["gate_edge"], cov(np.abs(d - hw), F(0.5)) * edge)
        out = d - hw
        cq = blend(cq, COL["glow"], np.where((out > F(0.5)) & (out < F(6.0)), F(0.5) * glow * (F(1.0) - out / F(6.0)), F(0.0)))
        in_meter = ((d <= F(1.5)) & (qy >= m_top) & (qy <= m_bot)).astype(F)
        cq = blend(cq, COL["meter_track"], F(0.8) * in_meter)
        filled = (qy >= m_bot - meter * (m_bot - m_top)).astype(F)
        cq = blend(cq, COL["meter"], F(0.95) * in_meter * filled)
        c[near] = cq

    # ---- layer 4: viscosity haze with horizontal striations, opacity capped
    g, _ = field_at(Gn, half, n_cells, dx, xt)
    row2 = np.floor(py / F(2.0))
    stripe = np.where(row2 - F(3.0) * np.floor(row2 / F(3.0)) < F(0.5), F(1.0), F(0.45))
    c = blend(c, COL["haze"], F(p["haze_cap"]) * np.clip(g, F(0.0), F(1.0)) * stripe * in_a)

    # ---- layer 5: current arrows on a fixed baseline, one per `stride` buckets
    stride = int(p["arrow_stride"])
    yb = CURRENT_BASELINE * ha
    spacing = dx * ppt * F(stride)
    jl = np.floor(xt / (dx * F(stride))).astype(np.int64) * stride
    for j in (jl, jl + stride):
        ok = (np.abs(j) <= half).astype(F)
        cv = Cn[np.clip(j + half, 0, n_cells - 1)]
        ax = cx + j.astype(F) * dx * ppt
        length = np.abs(cv) * F(0.85) * spacing
        dirn = np.where(cv >= F(0.0), F(1.0), F(-1.0))
        c = blend(c, COL["current"], arrow_cov(px, py, ax, yb, dirn, length, F(1.0)) * F(0.9) * ok * in_a)

    # ---- layer 6: probe at x = 0 on the terrain, velocity and net-force arrows
    v0, _ = field_at(V, half, n_cells, dx, np.zeros(1, dtype=F))
    cy = mid - k * v0[0]
    pv, pa = F(p["probe_v"]), F(p["probe_a"])
    vlen = np.abs(pv) * F(0.12) * F(W)
    vdir = F(1.0) if pv >= F(0.0) else F(-1.0)
    c = blend(c, COL["velocity"], arrow_cov(px, py, cx + vdir * (PROBE_RADIUS + F(2.0)), cy, vdir, vlen, F(1.5)) * in_a)
    alen = np.abs(pa) * F(0.06) * F(W)
    adir = F(1.0) if pa >= F(0.0) else F(-1.0)
    c = blend(c, COL["force"], arrow_cov(px, py, cx, cy + F(12.0), adir, alen, F(1.0)) * in_a)
    dp = np.sqrt((px - cx) ** 2 + (py - cy) ** 2)
    c = blend(c, COL["probe"], np.clip(PROBE_RADIUS + F(0.5) - dp, F(0.0), F(1.0)) * in_a)

    return c


def shade_ladders(c, px, py, xt, ppt, cx, pk: Packed, in_b, in_c):
    """Bands B and C: ladder grid -> markers -> path (B) / error bars (C)."""
    p = pk.params
    H = int(p["height"])
    dx = F(p["dx"])
    ha, hb = F(p["band_a"]), F(p["band_b"])
    nh = int(p["n_horizons"])
    in_bc = in_b + in_c
    c = vertical_grid(c, xt, py, ppt, dx, in_bc)
    c = blend(c, COL["separator"], cov(np.abs(py - ha), F(0.5)) * in_bc)
    c = blend(c, COL["separator"], cov(np.abs(py - (ha + hb)), F(0.5)) * in_bc)
    hc = F(H) - ha - hb
    rb, rc = hb / F(nh), hc / F(nh)
    for h in range(1, nh):
        c = blend(c, COL["grid_minor"], cov(np.abs(py - (ha + rb * F(h))), F(0.5)) * in_b)
        c = blend(c, COL["grid_minor"], cov(np.abs(py - (ha + hb + rc * F(h))), F(0.5)) * in_c)

    # ---- band B: predicted markers (near = larger/more opaque) with drop lines, then the path
    lad = pk.ladder
    for h in range(nh):
        depth = F(h) / F(max(nh - 1, 1))
        op = F(1.0) - F(0.55) * depth
        r = F(6.0) - F(3.0) * depth
        mx = cx + F(lad[h, 0]) * ppt
        my = ha + rb * (F(h) + F(0.5))
        drop = ((py >= my) & (py <= ha + hb)).astype(F) * cov(np.abs(px - mx), F(0.5))
        c = blend(c, COL["forecast"], F(0.35) * op * drop * in_b)
        dm = np.sqrt((px - mx) ** 2 + (py - my) ** 2)
        c = blend(c, COL["forecast"], op * np.clip(r + F(0.5) - dm, F(0.0), F(1.0)) * in_b)
    for h in range(nh - 1):
        ax, bx = cx + F(lad[h, 0]) * ppt, cx + F(lad[h + 1, 0]) * ppt
        ay, by = ha + rb * (F(h) + F(0.5)), ha + rb * (F(h) + F(1.5))
        c = blend(c, COL["forecast"], F(0.7) * cov(seg_dist(px, py, ax, ay, bx, by), F(0.75)) * in_b)

    # ---- band C: most recently resolved origin: predicted + actual markers, then error bars
    if int(p["has_resolved"]):
        for h in range(nh):
            if lad[h, 3] < F(0.5):
                continue
            my = ha + hb + rc * (F(h) + F(0.5))
            pxm, axm = cx + F(lad[h, 1]) * ppt, cx + F(lad[h, 2]) * ppt
            r = np.minimum(F(5.0), F(0.4) * rc)
            dpm = np.sqrt((px - pxm) ** 2 + (py - my) ** 2)
            c = blend(c, COL["pred"], cov(np.abs(dpm - r), F(0.75)) * in_c)
            dam = np.sqrt((px - axm) ** 2 + (py - my) ** 2)
            c = blend(c, COL["actual"], np.clip(r + F(0.5) - dam, F(0.0), F(1.0)) * in_c)
            lo, hi = min(pxm, axm), max(pxm, axm)
            bar = ((px >= lo) & (px <= hi)).astype(F) * cov(np.abs(py - my), F(1.0))
            c = blend(c, COL["error"], F(0.85) * bar * in_c)
    return c
