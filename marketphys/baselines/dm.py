"""The Diebold-Mariano test of equal predictive accuracy, with HAC variance.

h-step forecasts made every Δt overlap, so their loss differentials are serially
correlated up to lag h−1 even under the null; the long-run variance therefore sums
autocovariances up to lag h−1 (Diebold & Mariano 1995, rectangular kernel). When that
estimate is not positive (it can be in small samples), Newey-West (Bartlett) weights
are used instead, which always give a non-negative variance. The optional
Harvey-Leybourne-Newbold correction scales the statistic for small samples and reads
the p-value from Student's t with n−1 degrees of freedom.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class DMResult:
    stat: float        # negative: the first forecaster has the smaller loss
    p_value: float     # two-sided
    n: int
    mean_diff: float   # mean of loss_a − loss_b
    lags: int
    kernel: str        # "rectangular" or "bartlett"

    def to_dict(self) -> dict:
        return {"stat": self.stat, "p_value": self.p_value, "n": self.n, "mean_diff": self.mean_diff}


def autocovariances(d: np.ndarray, max_lag: int) -> np.ndarray:
    """γ_k = (1/n) Σ_t (d_t − d̄)(d_{t−k} − d̄), k = 0..max_lag."""
    n = d.shape[0]
    c = d - d.mean()
    return np.array([np.dot(c[k:], c[:n - k]) / n for k in range(max_lag + 1)])


def long_run_variance(d: np.ndarray, lags: int) -> tuple[float, str]:
    g = autocovariances(d, lags)
    v = g[0] + 2.0 * g[1:].sum()
    if v > 0:
        return float(v), "rectangular"
    w = 1.0 - np.arange(1, lags + 1) / (lags + 1.0)
    return float(g[0] + 2.0 * np.dot(w, g[1:])), "bartlett"


def diebold_mariano(err_a, err_b, horizon: int = 1, loss: str = "squared", hln: bool = False) -> DMResult:
    """Test H0: E[L(err_a)] = E[L(err_b)] for h-step forecast errors (time-ordered, same targets)."""
    a, b = np.asarray(err_a, dtype=np.float64), np.asarray(err_b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"diebold_mariano: error series must be 1-D and equal length, got {a.shape} and {b.shape}")
    if horizon < 1:
        raise ValueError(f"diebold_mariano: horizon must be >= 1, got {horizon!r}")
    if loss == "squared":
        d = a * a - b * b
    elif loss == "absolute":
        d = np.abs(a) - np.abs(b)
    else:
        raise ValueError(f"diebold_mariano: loss must be 'squared' or 'absolute', got {loss!r}")
    n = d.shape[0]
    lags = min(horizon - 1, max(n - 2, 0))
    if n < 3:
        return DMResult(float("nan"), float("nan"), n, float(d.mean()) if n else float("nan"), lags, "none")
    v, kernel = long_run_variance(d, lags)
    mean = float(d.mean())
    if v <= 0:  # identical losses throughout
        stat = 0.0 if mean == 0 else float(np.sign(mean) * np.inf)
    else:
        stat = mean / np.sqrt(v / n)
    if hln:
        h = horizon
        stat *= np.sqrt((n + 1 - 2 * h + h * (h - 1) / n) / n)
        p = 2.0 * stats.t.sf(abs(stat), df=n - 1)
    else:
        p = 2.0 * stats.norm.sf(abs(stat))
    return DMResult(float(stat), float(p), n, mean, lags, kernel)
