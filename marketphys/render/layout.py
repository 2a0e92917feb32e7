"""Geometry, palette and the kernel's Params struct for the three-band texture.

One place defines where each band sits and which colours each encoding uses, so
the NumPy reference, shaders/render.metal (via shaders/include/mp_render.h) and the
widget's JS text layer all agree. Params mirrors ``struct RenderParams`` field by
field (4-byte fields only, docs/architecture.md#kernels-and-backends).
"""

from __future__ import annotations

import numpy as np

BAND_FRACTIONS = (0.65, 0.20, 0.15)
"""Band A (medium field), B (forecast ladder), C (resolved error ladder), top to bottom."""

HAZE_CAP = 0.35
"""Viscosity haze never exceeds this opacity, so the terrain always shows through (spec 4.4)."""

MIN_BUCKET_PX_FOR_ARROWS = 10.0
"""Below this spacing arrows go to every other bucket (spec 4.3), then every 4th, ..."""

PARAMS_DTYPE = np.dtype([
    ("width", "<u4"), ("height", "<u4"), ("n", "<u4"), ("n_cells", "<u4"),
    ("half_cells", "<u4"), ("n_walls", "<u4"), ("n_horizons", "<u4"), ("n_contours", "<u4"),
    ("arrow_stride", "<u4"), ("has_resolved", "<u4"), ("band_a", "<u4"), ("band_b", "<u4"),
    ("dx", "<f4"), ("x_half", "<f4"), ("haze_cap", "<f4"), ("probe_v", "<f4"),
    ("probe_a", "<f4"), ("probe_y", "<f4"), ("pad1", "<f4"), ("pad2", "<f4"),
])
"""Mirrors ``struct RenderParams`` in shaders/include/mp_render.h (80 bytes). ``n`` is the
thread count of the pass dispatched: max(width, height) for the prepass, width·height
for the pixel pass."""

COL_FIELDS = ("grid_r", "grid_g", "grid_b", "dash_r", "dash_g", "dash_b", "terrain_y", "line_scale",
              "gate_m", "gate_r", "gate_g", "gate_b", "haze", "meter_on", "meter_fill",
              "arrow0_x", "arrow0_len", "arrow1_x", "arrow1_len", "ladder_mask")
"""One float32 record per pixel column written by the prepass (``MP_COL_*`` in mp_render.h):
grid colour without/with the dash phase, terrain height and line slope factor, every gate
folded into c -> c·gate_m + gate_rgb, haze opacity, wear meter, the two current arrows, and a
bit mask (as a float, exact below 2^24) of the ladder shapes that can reach the column."""

ROW_FIELDS = ("dash", "stripe", "contour", "m", "b_r", "b_g", "b_b", "pad")
"""One float32 record per pixel row (``MP_ROW_*``): dash phase, haze striation, contour
coverage (band A), and bands B/C's separators and row lines folded into c -> c·m + b."""

WALL_COLS = ("center", "half_width", "strength", "meter", "glow", "pad")
"""Columns of the packed wall buffer (float32, one row per wall)."""

LADDER_COLS = ("x_hat", "pred", "actual", "valid", "mark_x", "mark_y", "mark_r", "mark_op",
               "pred_x", "actual_x", "resolved_y", "resolved_r")
"""Columns of the packed ladder buffer (float32, one row per horizon): the values, then their
screen geometry (band B marker centre, radius, opacity; band C marker x's, row y, radius)
computed once per frame so the pixel pass only compares and blends."""

# Colours (linear 0..1 RGB). Mirrored as constants in shaders/include/mp_render.h.
PALETTE = {
    "bg": (0.047, 0.055, 0.078),
    "grid_minor": (0.15, 0.17, 0.22),
    "grid_major": (0.28, 0.31, 0.38),
    "center": (0.85, 0.86, 0.90),
    "dashed": (0.50, 0.52, 0.60),
    "separator": (0.35, 0.37, 0.45),
    "terrain_fill": (0.16, 0.55, 0.63),
    "terrain_line": (0.45, 0.88, 0.95),
    "contour": (0.30, 0.75, 0.82),
    "gate": (0.95, 0.52, 0.22),
    "gate_edge": (1.00, 0.72, 0.40),
    "glow": (1.00, 0.85, 0.55),
    "meter_track": (0.10, 0.10, 0.12),
    "meter": (1.00, 0.92, 0.70),
    "haze": (0.62, 0.60, 0.80),
    "current": (0.40, 0.80, 1.00),
    "probe": (1.00, 1.00, 0.95),
    "velocity": (1.00, 0.90, 0.30),
    "force": (0.95, 0.35, 0.85),
    "forecast": (0.55, 0.95, 0.55),
    "pred": (0.55, 0.95, 0.55),
    "actual": (1.00, 1.00, 1.00),
    "error": (1.00, 0.35, 0.35),
}


def band_heights(height: int) -> tuple[int, int, int]:
    """Pixel heights of bands A, B, C (≈65/20/15 %); they always sum to ``height``."""
    if height < 20:
        raise ValueError(f"render height must be >= 20 pixels, got height={height}")
    a = int(round(height * BAND_FRACTIONS[0]))
    b = int(round(height * BAND_FRACTIONS[1]))
    return a, b, height - a - b


def arrow_stride(dx: float, x_half: float, width: int) -> int:
    """1 arrow per bucket, or every 2nd (4th, ...) bucket when buckets are narrower than 10 px."""
    px_per_bucket = dx * width / (2.0 * x_half)
    stride = 1
    while px_per_bucket * stride < MIN_BUCKET_PX_FOR_ARROWS and stride < 1 << 16:
        stride *= 2
    return stride


def tick_to_px(x_ticks, x_half: float, width: int):
    """Screen x (pixel units, 0 at the left edge) of a price offset in ticks; 0 ticks is the centre."""
    return width * 0.5 + np.asarray(x_ticks, dtype=np.float64) * (width / (2.0 * x_half))


def px_to_tick(px, x_half: float, width: int):
    """Inverse of :func:`tick_to_px` (used by tests and mirrored in the widget's JS)."""
    return (np.asarray(px, dtype=np.float64) - width * 0.5) * (2.0 * x_half / width)
