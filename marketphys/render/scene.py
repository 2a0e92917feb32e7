"""What one texture shows (a ``RenderScene`` of plain arrays) and how it is packed for a kernel.

Every backend renders from the same packed buffers, so the small per-frame reductions
(normalising V, clamping C, wall glow, gate half-widths, probe height, ladder marker
geometry) happen once here on the host; the kernels' prepass reduces per column and
row, and their pixel pass only looks up and blends. Bad input raises ``ValueError`` naming the field and the value.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from marketphys.render.layout import HAZE_CAP, LADDER_COLS, PARAMS_DTYPE, WALL_COLS, arrow_stride, band_heights

GLOW_RATE_THRESHOLD = 0.02
"""|ΔS|/S_max per frame below which a gate has no glow ("glow only on fast change")."""
GLOW_RATE_FULL = 0.10
"""|ΔS|/S_max per frame at which the glow is at full strength."""
MAX_HORIZONS = 8
"""Ladder rows per band; the pixel pass looks at each row's markers, so it stays O(1) per pixel."""
MIN_GATE_HALF_TICKS = 0.25
"""A gate is at least half a tick wide so a very thin wall still shows."""


def gate_half_width(sigma) -> np.ndarray:
    """Half-width in ticks of a wall's gate: the gate spans σ (spec 4.2 "gate width = wall σ"),
    centre ± σ/2, never narrower than ± MIN_GATE_HALF_TICKS."""
    return np.maximum(0.5 * np.asarray(sigma, dtype=np.float64), MIN_GATE_HALF_TICKS)


def normalize_potential(v: np.ndarray) -> np.ndarray:
    """V -> [-1, 1] by its own range (min -> -1, max -> +1); a flat V is all zeros.

    Keeps shape (valleys stay valleys) while giving the terrain a constant height budget.
    """
    v = np.asarray(v, dtype=np.float64)
    lo, hi = float(v.min()), float(v.max())
    half = 0.5 * (hi - lo)
    if not np.isfinite(half) or half <= 1e-12 * max(1.0, abs(hi), abs(lo)):
        return np.zeros_like(v)
    return (v - 0.5 * (hi + lo)) / half


@dataclass
class RenderScene:
    """Plain arrays for one frame of the instrument (ticks relative to spot at t0)."""

    U: np.ndarray
    O: np.ndarray
    C: np.ndarray
    G: np.ndarray
    dx: float = 2.0
    wU: float = 1.0
    wO: float = 1.0
    wall_center: np.ndarray = field(default_factory=lambda: np.zeros(0))
    wall_strength: np.ndarray = field(default_factory=lambda: np.zeros(0))
    wall_width: np.ndarray = field(default_factory=lambda: np.zeros(0))
    wall_s_max: np.ndarray = field(default_factory=lambda: np.zeros(0))
    wall_d_strength: np.ndarray = field(default_factory=lambda: np.zeros(0))
    wall_meter: np.ndarray | None = None
    probe_v: float = 0.0
    probe_a: float = 0.0
    x_hat: np.ndarray = field(default_factory=lambda: np.zeros(4))
    resolved_pred: np.ndarray | None = None
    resolved_actual: np.ndarray | None = None
    x_half: float | None = None
    width: int = 1280
    height: int = 720
    c_ref: float = 10.0
    g_ref: float = 4.0
    v_ref: float = 40.0
    a_ref: float = 200.0
    haze_cap: float = HAZE_CAP
    n_contours: int = 5

    @property
    def n_cells(self) -> int:
        return int(np.asarray(self.U).shape[0])

    @property
    def half_cells(self) -> int:
        return (self.n_cells - 1) // 2

    @property
    def view_half_ticks(self) -> float:
        """Half the visible X range in ticks: the full grid unless zoomed."""
        return float(self.x_half) if self.x_half is not None else self.half_cells * float(self.dx)

    def zoomed(self, x_half: float) -> "RenderScene":
        return replace(self, x_half=float(x_half))

    def validate(self) -> "RenderScene":
        m = self.n_cells
        if m < 3 or m % 2 != 1:
            raise ValueError(f"RenderScene.U must have an odd length >= 3 (cells -n..n), got {m}")
        for name in ("U", "O", "C", "G"):
            _finite_1d(self, name, m)
        k = np.asarray(self.wall_center).shape[0]
        for name in ("wall_center", "wall_strength", "wall_width", "wall_s_max", "wall_d_strength"):
            _finite_1d(self, name, k)
        if self.wall_meter is not None:
            _finite_1d(self, "wall_meter", k)
        if np.any(np.asarray(self.wall_s_max) <= 0):
            raise ValueError(f"RenderScene.wall_s_max must be > 0, got {np.asarray(self.wall_s_max).tolist()}")
        h = np.asarray(self.x_hat).shape[0]
        _finite_1d(self, "x_hat", h)
        if not 1 <= h <= MAX_HORIZONS:
            raise ValueError(f"RenderScene.x_hat must have 1..{MAX_HORIZONS} horizons (one ladder row each), got {h}")
        for name in ("resolved_pred", "resolved_actual"):
            a = getattr(self, name)
            if a is not None and np.asarray(a).shape != (h,):
                raise ValueError(f"RenderScene.{name} must have shape ({h},) like x_hat, got {np.asarray(a).shape}")
        for name in ("dx", "wU", "wO", "probe_v", "probe_a", "c_ref", "g_ref", "v_ref", "a_ref"):
            v = getattr(self, name)
            if not np.isfinite(v):
                raise ValueError(f"RenderScene.{name} must be finite, got {v!r}")
        for name in ("dx", "c_ref", "g_ref", "v_ref", "a_ref"):
            if getattr(self, name) <= 0:
                raise ValueError(f"RenderScene.{name} must be > 0, got {getattr(self, name)!r}")
        if not (np.isfinite(self.view_half_ticks) and self.view_half_ticks > 0):
            raise ValueError(f"RenderScene.x_half (zoom) must be a positive number of ticks, got {self.x_half!r}")
        if not (0.0 <= self.haze_cap <= HAZE_CAP):
            raise ValueError(f"RenderScene.haze_cap must be in [0, {HAZE_CAP}] so haze never hides the terrain, got {self.haze_cap!r}")
        if not (3 <= int(self.n_contours) <= 7):
            raise ValueError(f"RenderScene.n_contours must be 3..7 (spec 4.1), got {self.n_contours!r}")
        if int(self.width) < 16 or int(self.width) > 8192:
            raise ValueError(f"RenderScene.width must be 16..8192 pixels, got {self.width!r}")
        if int(self.height) > 8192:
            raise ValueError(f"RenderScene.height must be <= 8192 pixels, got {self.height!r}")
        band_heights(int(self.height))
        return self


def _finite_1d(scene: RenderScene, name: str, n: int) -> None:
    a = np.asarray(getattr(scene, name), dtype=np.float64)
    if a.shape != (n,):
        raise ValueError(f"RenderScene.{name} must have shape ({n},), got {a.shape}")
    bad = ~np.isfinite(a)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"RenderScene.{name}[{i}] is not finite ({a[i]!r})")


@dataclass
class Packed:
    """The buffers every backend shades from: Params struct, fields (3, M), walls (K, 6), ladder (H, 12)."""

    params: np.ndarray
    fields: np.ndarray
    walls: np.ndarray
    ladder: np.ndarray

    @property
    def width(self) -> int:
        return int(self.params["width"])

    @property
    def height(self) -> int:
        return int(self.params["height"])


def wall_glow(d_strength: np.ndarray, s_max: np.ndarray) -> np.ndarray:
    """0 while |ΔS|/S_max stays under the threshold; ramps to 1 on fast thickening/erosion."""
    rate = np.abs(np.asarray(d_strength, dtype=np.float64)) / np.asarray(s_max, dtype=np.float64)
    return np.clip((rate - GLOW_RATE_THRESHOLD) / (GLOW_RATE_FULL - GLOW_RATE_THRESHOLD), 0.0, 1.0)


def ladder_geometry(ladder: np.ndarray, width: int, height: int, band_a: int, band_b: int, x_half: float) -> None:
    """Fill the screen-geometry columns of ``ladder`` in place (float32 arithmetic, as the kernels had it).

    Band B: near horizons larger and more opaque; band C: one row per horizon.
    """
    f = np.float32
    nh = ladder.shape[0]
    h = np.arange(nh, dtype=f)
    ha, hb = f(band_a), f(band_b)
    cx, ppt = f(width) * f(0.5), f(width) / (f(2.0) * f(x_half))
    rb, rc = hb / f(nh), (f(height) - ha - hb) / f(nh)
    depth = h / f(max(nh - 1, 1))
    ladder[:, 4] = cx + ladder[:, 0] * ppt
    ladder[:, 5] = ha + rb * (h + f(0.5))
    ladder[:, 6] = f(6.0) - f(3.0) * depth
    ladder[:, 7] = f(1.0) - f(0.55) * depth
    ladder[:, 8] = cx + ladder[:, 1] * ppt
    ladder[:, 9] = cx + ladder[:, 2] * ppt
    ladder[:, 10] = ha + hb + rc * (h + f(0.5))
    ladder[:, 11] = min(f(5.0), f(0.4) * rc)


def probe_y(v_norm: np.ndarray, half_cells: int, band_a: int) -> np.float32:
    """Screen y of the probe: the terrain height at x = 0 (mid − k·V[0]), in float32 like the kernels."""
    ha = np.float32(band_a)
    return np.float32(0.5) * ha - np.float32(0.30) * ha * np.float32(v_norm[half_cells])


def pack(scene: RenderScene) -> Packed:
    """Validate and reduce a scene to the kernel's buffers (float32, 4-byte Params)."""
    scene.validate()
    W, H = int(scene.width), int(scene.height)
    a, b, _ = band_heights(H)
    x_half = scene.view_half_ticks
    V = normalize_potential(scene.wU * np.asarray(scene.U, float) + scene.wO * np.asarray(scene.O, float))
    Cn = np.clip(np.asarray(scene.C, float) / scene.c_ref, -1.0, 1.0)
    Gn = np.clip(np.asarray(scene.G, float) / scene.g_ref, 0.0, 1.0)
    fields = np.stack([V, Cn, Gn]).astype(np.float32)

    s_max = np.asarray(scene.wall_s_max, float)
    s = np.clip(np.asarray(scene.wall_strength, float) / s_max, 0.0, 1.0) if s_max.size else np.zeros(0)
    meter = s if scene.wall_meter is None else np.clip(np.asarray(scene.wall_meter, float), 0.0, 1.0)
    walls = np.zeros((s.size, len(WALL_COLS)), dtype=np.float32)
    if s.size:
        walls[:, 0] = np.asarray(scene.wall_center, float)
        walls[:, 1] = gate_half_width(scene.wall_width)
        walls[:, 2] = s
        walls[:, 3] = meter
        walls[:, 4] = wall_glow(scene.wall_d_strength, s_max)

    nh = np.asarray(scene.x_hat).shape[0]
    ladder = np.zeros((nh, len(LADDER_COLS)), dtype=np.float32)
    ladder[:, 0] = np.asarray(scene.x_hat, float)
    has_resolved = scene.resolved_pred is not None and scene.resolved_actual is not None
    if has_resolved:
        pred, act = np.asarray(scene.resolved_pred, float), np.asarray(scene.resolved_actual, float)
        ok = np.isfinite(pred) & np.isfinite(act)
        ladder[:, 1] = np.where(ok, pred, 0.0)
        ladder[:, 2] = np.where(ok, act, 0.0)
        ladder[:, 3] = ok
        has_resolved = bool(ok.any())

    ladder_geometry(ladder, W, H, a, b, x_half)

    p = np.zeros((), dtype=PARAMS_DTYPE)
    p["width"], p["height"], p["n"] = W, H, W * H
    p["n_cells"], p["half_cells"] = scene.n_cells, scene.half_cells
    p["n_walls"], p["n_horizons"], p["n_contours"] = s.size, nh, int(scene.n_contours)
    p["arrow_stride"] = arrow_stride(scene.dx, x_half, W)
    p["has_resolved"] = int(has_resolved)
    p["band_a"], p["band_b"] = a, b
    p["dx"], p["x_half"], p["haze_cap"] = scene.dx, x_half, scene.haze_cap
    p["probe_v"] = np.clip(scene.probe_v / scene.v_ref, -1.0, 1.0)
    p["probe_a"] = np.clip(scene.probe_a / scene.a_ref, -1.0, 1.0)
    p["probe_y"] = probe_y(fields[0], scene.half_cells, a)
    return Packed(params=p, fields=fields, walls=walls, ladder=ladder)
