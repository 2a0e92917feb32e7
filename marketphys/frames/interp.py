"""Level values -> the engine grid: NumPy's linear interpolation, for one window or many at once.

A profile surface gives values at levels ``rel_ticks`` (ticks from spot); the engine wants
them at its cell centres ``grid.x``. Both assembly paths use ``InterpPlan``: one window is
a single segment, a whole day is one segment per frame, and either way the result equals
``np.interp(x, rel, vals, left=0, right=0)`` (its formula and edge rules, exactly).
"""

from __future__ import annotations

import numpy as np

from marketphys.core.frame import FrameError
from marketphys.core.grid import Grid


class InterpPlan:
    """Where each grid point falls among each segment's levels: computed once per surface, applied per column.

    ``apply(vals)`` equals ``np.interp(x, rel[s:e], vals[s:e], left=0, right=0)`` per segment
    (rel sorted within each; empty segments give zeros, as ``to_grid``), with NumPy's formula
    slope·(x − r_k) + v_k and v_k exactly where x equals a level.
    """

    def __init__(self, rel: np.ndarray, start: np.ndarray, end: np.ndarray, x: np.ndarray):
        n = start.shape[0]
        self.shape = (n, x.shape[0])
        has = end > start
        self.empty = not has.any() or rel.size == 0
        if self.empty:
            return
        K = 4.0 * (float(np.max(np.abs(rel))) + float(np.max(np.abs(x))) + 2.0)
        lens = end - start
        seg = np.repeat(np.arange(n), lens)
        # rows of each segment, in segment order: start[seg] + position within the segment
        pos = np.arange(seg.size) - np.repeat(np.cumsum(lens) - lens, lens)
        rows = start[seg] + pos
        key = seg * K + rel[rows]
        k = np.searchsorted(key, (np.arange(n)[:, None] * K + x[None, :]).ravel(), side="right").reshape(n, -1) - 1
        first = np.cumsum(lens) - lens
        last = first + lens - 1
        inside = (k >= first[:, None]) & has[:, None]
        kk = np.clip(k, 0, key.size - 1)
        kn = np.minimum(kk + 1, key.size - 1)
        self.k, self.kn = rows[kk], rows[kn]
        r, r1 = rel[self.k], rel[self.kn]
        self.dx = x[None, :] - r
        self.dr = r1 - r
        self.exact = x[None, :] == r
        self.zero = ~inside | ((kk == last[:, None]) & ~self.exact)      # outside, or beyond the last level

    def apply(self, vals: np.ndarray) -> np.ndarray:
        if self.empty:
            return np.zeros(self.shape)
        v, v1 = vals[self.k], vals[self.kn]
        with np.errstate(invalid="ignore", divide="ignore"):
            y = (v1 - v) / self.dr * self.dx + v
        y = np.where(self.exact, v, y)
        return np.where(self.zero, 0.0, y)


CHUNK = 2048
"""Segments per plan: bounds the (segments × cells) index arrays of a long day."""


def chunked_plans(rel: np.ndarray, start: np.ndarray, end: np.ndarray, x: np.ndarray,
                  chunk: int = CHUNK) -> list[InterpPlan]:
    return [InterpPlan(rel, start[a:a + chunk], end[a:a + chunk], x) for a in range(0, start.shape[0], chunk)]


def apply_plans(plans: list[InterpPlan], vals: np.ndarray, cells: int) -> np.ndarray:
    return np.concatenate([p.apply(vals) for p in plans] or [np.zeros((0, cells))])


def interp_segments(rel, vals, start, end, x, chunk: int = CHUNK) -> np.ndarray:
    """``InterpPlan(...).apply(vals)`` a chunk of segments at a time (bounded memory)."""
    return apply_plans(chunked_plans(rel, start, end, x, chunk), vals, x.shape[0])


def check_unique_levels(rel: np.ndarray, ts: np.ndarray, surface: str) -> None:
    """Levels sorted by (window, rel_ticks) must be distinct within a window: one row per level."""
    same = (np.diff(rel) == 0) & (np.diff(ts) == 0)
    if same.any():
        i = int(np.flatnonzero(same)[0])
        raise FrameError(f"profile has repeated rel_ticks ({float(rel[i])}); expected one row per level "
                         f"({surface} window {int(ts[i])})")


def to_grid(rel_ticks: np.ndarray, values: np.ndarray, grid: Grid) -> np.ndarray:
    """Level values at ``rel_ticks`` -> the engine grid (linear between levels, 0 outside them)."""
    order = np.argsort(rel_ticks, kind="stable")
    r, v = np.asarray(rel_ticks, np.float64)[order], np.asarray(values, np.float64)[order]
    check_unique_levels(r, np.zeros(r.shape[0], np.int64), "profile")
    one = np.array([0])
    return InterpPlan(r, one, np.array([r.shape[0]]), grid.x).apply(v)[0]
