"""Quantiles from order statistics, as ``np.quantile(x, qs, axis=0)`` (method "linear").

A kernel selects only the ranks a quantile needs (two per quantile) instead of sorting
every column; these pure functions say which ranks, and interpolate between them with
numpy's own formula so the result equals ``np.quantile`` on the same values.
"""

from __future__ import annotations

import numpy as np


def quantile_ranks(n: int, quantiles) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(ranks, below, above, frac): the ascending unique ranks to select out of ``n`` values,
    and per quantile the positions in ``ranks`` of its two neighbours and the weight between."""
    q = np.asarray(quantiles, dtype=np.float64)
    if n < 1:
        raise ValueError(f"quantiles of an empty set: n={n}")
    if q.ndim != 1 or np.any(~np.isfinite(q)) or np.any((q < 0) | (q > 1)):
        raise ValueError(f"quantiles must be finite numbers in [0, 1], got {quantiles!r}")
    pos = q * (n - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, n - 1)
    ranks = np.unique(np.concatenate([lo, hi]))
    return ranks, np.searchsorted(ranks, lo), np.searchsorted(ranks, hi), pos - lo


def interpolate(at_ranks: np.ndarray, below: np.ndarray, above: np.ndarray, frac: np.ndarray) -> np.ndarray:
    """(cols, n_ranks) selected values -> (n_quantiles, cols), numpy's linear lerp in float64."""
    v = np.asarray(at_ranks, dtype=np.float64)
    a, b = v[:, below], v[:, above]
    diff = b - a
    out = np.where(frac >= 0.5, b - diff * (1.0 - frac), a + diff * frac)  # numpy's _lerp, both halves
    return out.T
