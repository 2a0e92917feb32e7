"""How the Physics Lab frames each snapshot: the fitted zoom and the arrow scales (pure rules).

Both are decided once per frame when it is pushed, from that frame and the ones before it
only, so scrubbing back shows a frame exactly as it was drawn live.

Zoom ("fit"): the action is the largest |offset| among the frame's forecasts, its band and
the last resolved predictions and actuals. The target half-range is
``action * FIT_MARGIN + FIT_PAD_TICKS``, never under ``ZOOM_FLOOR_TICKS`` (a tick stays
wide) nor over the grid. The view widens at once when the action would leave it (half
the gap per frame, and never less than the action), narrows by ``EASE_IN`` of the gap per
frame, and stays put while the target is within ``HOLD`` of it, so it does not breathe
with every frame.

Arrows: each kind (current C per bucket, probe velocity v, probe force a) has a reference
magnitude that maps to a full-length arrow; larger values are clamped at full length. The
reference is ``min(q90, 3 * q50)`` of the recent magnitudes (the last ``SCALE_WINDOW``
frames; for C, q50 is the median of each frame's per-cell median and q90 the 90th
percentile of each frame's per-cell 90th percentile, over the cells inside its fitted
view, the ones on screen), so a typical value
is drawn at least about a third of full length and only the largest tenth clamps. Until
anything has moved, the renderer's fixed defaults apply.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

ZOOM_FLOOR_TICKS = 8.0
FIT_MARGIN = 1.25
FIT_PAD_TICKS = 1.0
EASE_OUT = 0.5
EASE_IN = 0.05
HOLD = 0.15
SCALE_WINDOW = 240
DEFAULT_REFS = {"c_ref": 10.0, "v_ref": 40.0, "a_ref": 200.0}
"""The renderer's own fixed references (RenderScene), used until a kind has moved."""


@dataclass(frozen=True)
class FrameView:
    """What one frame is drawn with when the lab fits it: half-range in ticks and arrow references."""

    x_half: float
    c_ref: float
    v_ref: float
    a_ref: float

    @property
    def refs(self) -> dict[str, float]:
        return {"c_ref": self.c_ref, "v_ref": self.v_ref, "a_ref": self.a_ref}


def action_extent(*arrays) -> float:
    """Largest finite |offset| in ticks among the given arrays (None and NaN ignored); 0 if none."""
    best = 0.0
    for a in arrays:
        if a is None:
            continue
        a = np.abs(np.asarray(a, dtype=float))
        a = a[np.isfinite(a)]
        if a.size:
            best = max(best, float(a.max()))
    return best


def fit_half(extent: float, grid_half: float) -> float:
    """Target half-range for an action of ``extent`` ticks: margin and pad, floored, capped at the grid."""
    floor = min(ZOOM_FLOOR_TICKS, grid_half)
    return float(np.clip(extent * FIT_MARGIN + FIT_PAD_TICKS, floor, grid_half))


def ease_half(prev: float | None, target: float, extent: float, grid_half: float) -> float:
    """The next fitted half-range: widen fast (never leaving the action out), narrow slowly, hold near."""
    if prev is None or not np.isfinite(prev) or prev <= 0:
        return target
    if target > prev:
        return float(min(max(prev + EASE_OUT * (target - prev), extent * 1.05), grid_half))
    if target >= prev / (1.0 + HOLD):
        return float(prev)
    return float(prev + EASE_IN * (target - prev))


def robust_ref(q50: float, q90: float, default: float) -> float:
    """Full-length magnitude: ``min(q90, 3 q50)`` of recent values; the larger one if the other is 0."""
    cands = [v for v in (q90, 3.0 * q50) if np.isfinite(v) and v > 1e-12]
    return float(min(cands)) if cands else float(default)


class ViewTracker:
    """Rolling state that turns each pushed frame into its ``FrameView`` (see the module doc)."""

    def __init__(self, window: int = SCALE_WINDOW):
        if int(window) != window or window < 1:
            raise ValueError(f"ViewTracker window must be a whole number of frames >= 1, got {window!r}")
        self._c50: deque = deque(maxlen=int(window))
        self._c90: deque = deque(maxlen=int(window))
        self._v: deque = deque(maxlen=int(window))
        self._a: deque = deque(maxlen=int(window))
        self._half: float | None = None

    def reset(self) -> None:
        for d in (self._c50, self._c90, self._v, self._a):
            d.clear()
        self._half = None

    def update(self, fr) -> FrameView:
        """Account for frame ``fr`` (a LabFrame) and return how it is drawn."""
        grid_half = (fr.U.shape[0] - 1) / 2 * fr.dx
        ext = action_extent(fr.x_hat, fr.band_lo, fr.band_hi, fr.resolved_pred, fr.resolved_actual)
        self._half = ease_half(self._half, fit_half(ext, grid_half), ext, grid_half)
        c = np.abs(np.asarray(fr.C, dtype=float))
        x = (np.arange(c.size) - (c.size - 1) / 2) * fr.dx
        c = c[np.isfinite(c) & (np.abs(x) <= self._half)]
        if c.size:
            self._c50.append(float(np.median(c)))
            self._c90.append(float(np.quantile(c, 0.9)))
        self._v.append(abs(float(fr.v0)) if np.isfinite(fr.v0) else 0.0)
        self._a.append(abs(float(fr.a0)) if np.isfinite(fr.a0) else 0.0)
        c_ref = robust_ref(np.median(self._c50), np.quantile(self._c90, 0.9), DEFAULT_REFS["c_ref"]) if self._c50 \
            else DEFAULT_REFS["c_ref"]
        v = np.asarray(self._v)
        a = np.asarray(self._a)
        return FrameView(x_half=self._half, c_ref=c_ref,
                         v_ref=robust_ref(np.median(v), np.quantile(v, 0.9), DEFAULT_REFS["v_ref"]),
                         a_ref=robust_ref(np.median(a), np.quantile(a, 0.9), DEFAULT_REFS["a_ref"]))
