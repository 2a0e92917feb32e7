"""The forecast head: what the engine emits on top of the particle's rollout (issue 13, "no harm").

The rollout x̂ᵖ (the physics forecast, ticks from spot) is what θ learns from. What the
engine *emits* per horizon h is built from it by an online, causal head:

* mean      m_h = g_h · β_h · x̂ᵖ_h. β_h is a least-squares blend with "no change" (RLS of
  the realised move on x̂ᵖ_h, through the origin, with forgetting and a prior of
  ``prior_n`` pseudo-observations at β = 0, clipped to [0, beta_max]); g_h is a skill
  gate, open only while the blend's squared-error gain over "no change" is positive by
  ``gate_z`` standard errors both recently (half-life ``gate_halflife`` origins) and
  over the long run (``gate_halflife_long``), so a lucky streak does not open it. A learner that finds no signal thus emits
  "no change" instead of losing to it.
* median    q50_h = g'_h · β_h · x̂ᵖ_h with its own gate g'_h on absolute error: prices
  are discrete and most 0.5 s intervals do not move, so the median is usually "no
  change" and a mean forecast would always lose on MAE.
* D_h       diffusion learned per horizon from the resolved residuals r = actual − m_h,
  σ²_h ← λ_D·σ²_h + (1 − λ_D)·r², D_h = σ²_h / (2·h·Δt) (ticks²/s).
* bands     q_τ,h = m_h + k_h · s_τ,h: s is the ensemble's spread (its τ-quantile minus its
  median, rescaled from the diffusion it ran with to D_h) when the engine ran paths,
  else the Gaussian z_τ·√(2·D_h·h·Δt). k_h is adapted online so the 90 % band covers
  90 % (adaptive conformal inference, Gibbs & Candès 2021): k ← k·exp(η·(miss − 0.1)).

Targets resolve with the ledger's rule (a frame within ±Δt/4 of origin + h·Δt; later
frames expire it), and everything is learned from a horizon only when it resolves, so
a forecast at t depends on frames ≤ t only. The same head with ``shrink=False,
gate=False`` gives a baseline its bands from its own rolling residuals.
"""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import norm

from marketphys.core.ledger import EXPIRED, PENDING, RESOLVED

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


@dataclass(frozen=True)
class HeadConfig:
    """Settings of the head (not learned). ``shrink``/``gate`` off = pass the point forecast through."""

    shrink: bool = True
    gate: bool = True
    prior_n: float = 200.0
    forgetting: float = 0.9995
    beta_max: float = 2.0
    gate_halflife: float = 2000.0
    gate_halflife_long: float = 20000.0
    gate_z: float = 3.5
    gate_warmup: int = 50
    d_forgetting: float = 0.999
    d0: float = 1.0
    coverage: float = 0.9
    aci_rate: float = 0.02
    quantiles: tuple[float, ...] = QUANTILES

    def __post_init__(self) -> None:
        for name in ("forgetting", "d_forgetting"):
            v = getattr(self, name)
            if not 0.0 < v <= 1.0:
                raise ValueError(f"HeadConfig.{name} must be in (0, 1], got {v!r}")
        for name in ("prior_n", "beta_max", "gate_halflife", "gate_halflife_long", "gate_z", "d0", "aci_rate"):
            v = getattr(self, name)
            if not (np.isfinite(v) and v >= 0):
                raise ValueError(f"HeadConfig.{name} must be finite and >= 0, got {v!r}")
        if not 0.0 < self.coverage < 1.0:
            raise ValueError(f"HeadConfig.coverage must be in (0, 1), got {self.coverage!r}")
        q = tuple(float(x) for x in self.quantiles)
        if 0.5 not in q or any(not 0 < x < 1 for x in q) or list(q) != sorted(q):
            raise ValueError(f"HeadConfig.quantiles must be increasing in (0, 1) and contain 0.5, got {self.quantiles!r}")
        lo, hi = (1 - self.coverage) / 2, (1 + self.coverage) / 2
        if not (np.isclose(q, lo).any() and np.isclose(q, hi).any()):
            raise ValueError(f"HeadConfig.quantiles must contain the coverage band's ends {lo:g} and {hi:g}, got {q}")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["quantiles"] = list(self.quantiles)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "HeadConfig":
        d = dict(d)
        if "quantiles" in d:
            d["quantiles"] = tuple(d["quantiles"])
        return cls(**d)


@dataclass
class HeadOutput:
    """One origin's emitted forecast: mean, median and quantiles (ticks from spot), and the head's state."""

    mean: np.ndarray        # (H,)
    median: np.ndarray      # (H,)
    quantiles: np.ndarray   # (K, H)
    levels: tuple[float, ...]
    beta: np.ndarray        # (H,)
    gate_mean: np.ndarray   # (H,) bool
    gate_median: np.ndarray  # (H,) bool
    D: np.ndarray           # (H,) ticks²/s

    @property
    def bands(self) -> dict[float, np.ndarray]:
        return {q: self.quantiles[i] for i, q in enumerate(self.levels)}


@dataclass
class _Origin:
    ts: int
    spot: float
    tick: float
    cand: np.ndarray        # β·x̂ᵖ (what the gates judge)
    mean: np.ndarray
    median: np.ndarray
    q: np.ndarray           # (K, H)
    xp: np.ndarray          # physics x̂ᵖ
    status: np.ndarray = field(default=None)
    actual: np.ndarray = field(default=None)


class ForecastHead:
    """Online, causal head over a point forecaster: ``step(ts, spot, tick, x_point, spread=None) -> HeadOutput``."""

    def __init__(self, horizons: int = 4, dt: float = 0.5, config: HeadConfig | None = None):
        self.H, self.dt = int(horizons), float(dt)
        self.dt_ns = int(round(self.dt * 1e9))
        self.tol_ns = self.dt_ns // 4
        self.config = config or HeadConfig()
        q = np.asarray(self.config.quantiles, float)
        self._z = norm.ppf(q)
        self._i50 = int(np.flatnonzero(np.isclose(q, 0.5))[0])
        self._ilo = int(np.flatnonzero(np.isclose(q, (1 - self.config.coverage) / 2))[0])
        self._ihi = int(np.flatnonzero(np.isclose(q, (1 + self.config.coverage) / 2))[0])
        self.reset()

    # -- state -------------------------------------------------------------------------------
    def reset(self) -> None:
        H = self.H
        c = self.config
        self.sxx = np.zeros(H)
        self.sxy = np.zeros(H)
        self.m2 = np.zeros(H)           # EWMA of x̂ᵖ² (the prior's scale)
        self.n_resolved = np.zeros(H, dtype=np.int64)
        self.g_mean = np.zeros(H)       # EWMA of the gain e_rw² − e_cand²
        self.g_mean_sq = np.zeros(H)
        self.g_med = np.zeros(H)        # EWMA of |e_rw| − |e_cand|
        self.g_med_sq = np.zeros(H)
        self.gl_mean = np.zeros(H)      # the same gains with the long half-life (a lucky streak is not skill)
        self.gl_mean_sq = np.zeros(H)
        self.gl_med = np.zeros(H)
        self.gl_med_sq = np.zeros(H)
        self.var = np.full(H, 2.0 * c.d0 * self.dt * np.arange(1, H + 1))
        self.k = np.ones(H)
        self.pending: deque[_Origin] = deque()
        self._hist: list[_Origin] = []

    def state_dict(self) -> dict:
        keys = ("sxx", "sxy", "m2", "n_resolved", "g_mean", "g_mean_sq", "g_med", "g_med_sq", "gl_mean", "gl_mean_sq",
                "gl_med", "gl_med_sq", "var", "k")
        return {k: getattr(self, k).tolist() for k in keys}

    def load_state_dict(self, d: dict) -> None:
        for k, v in d.items():
            cur = getattr(self, k)
            setattr(self, k, np.asarray(v, dtype=cur.dtype))

    @property
    def beta(self) -> np.ndarray:
        c = self.config
        if not c.shrink:
            return np.ones(self.H)
        den = self.sxx + c.prior_n * np.maximum(self.m2, 1e-12)
        return np.clip(np.where(den > 0, self.sxy / np.where(den > 0, den, 1.0), 0.0), 0.0, c.beta_max)

    def _significant(self, g: np.ndarray, g2: np.ndarray, halflife: float) -> np.ndarray:
        """Is the EWMA gain above gate_z standard errors? EWMAs start at 0, so both moments are divided by
        1 − (1 − a)^n (the weight they have accumulated) before use."""
        a = 1.0 - 0.5 ** (1.0 / halflife)
        w = 1.0 - (1.0 - a) ** self.n_resolved
        w = np.where(w > 0, w, 1.0)
        m, m2 = g / w, g2 / w
        n_eff = np.minimum(self.n_resolved, halflife / np.log(2.0))
        sd = np.sqrt(np.maximum(m2 - m * m, 0.0) / np.maximum(n_eff, 1.0))
        return m > self.config.gate_z * sd

    def _gate(self, short: tuple, long: tuple) -> np.ndarray:
        c = self.config
        if not c.gate:
            return np.ones(self.H, dtype=bool)
        return ((self.n_resolved >= c.gate_warmup) & self._significant(*short, c.gate_halflife)
                & self._significant(*long, c.gate_halflife_long))

    @property
    def gate_mean(self) -> np.ndarray:
        return self._gate((self.g_mean, self.g_mean_sq), (self.gl_mean, self.gl_mean_sq))

    @property
    def gate_median(self) -> np.ndarray:
        return self._gate((self.g_med, self.g_med_sq), (self.gl_med, self.gl_med_sq))

    @property
    def D(self) -> np.ndarray:
        """Learned diffusion per horizon (ticks²/s)."""
        return self.var / (2.0 * self.dt * np.arange(1, self.H + 1))

    # -- the loop ----------------------------------------------------------------------------
    def resolve(self, ts_ns: int, spot: float) -> None:
        """Resolve every pending target this frame answers and learn from it."""
        still: deque[_Origin] = deque()
        for o in self.pending:
            for h in range(self.H):
                if o.status[h] != PENDING:
                    continue
                target = o.ts + (h + 1) * self.dt_ns
                if abs(ts_ns - target) <= self.tol_ns:
                    o.actual[h] = (spot - o.spot) / o.tick
                    o.status[h] = RESOLVED
                    self._learn(o, h)
                elif ts_ns > target + self.tol_ns:
                    o.status[h] = EXPIRED
            if np.all(o.status != PENDING):
                self._hist.append(o)
            else:
                still.append(o)
        self.pending = still

    def _learn(self, o: _Origin, h: int) -> None:
        c = self.config
        y, xp = float(o.actual[h]), float(o.xp[h])
        lam = c.forgetting
        self.sxx[h] = lam * self.sxx[h] + xp * xp
        self.sxy[h] = lam * self.sxy[h] + xp * y
        self.m2[h] = lam * self.m2[h] + (1 - lam) * xp * xp if self.n_resolved[h] else xp * xp
        a = 1.0 - 0.5 ** (1.0 / c.gate_halflife)
        e_c = y - float(o.cand[h])
        d_sq = y * y - e_c * e_c
        d_ab = abs(y) - abs(e_c)
        self.g_mean[h] += a * (d_sq - self.g_mean[h])
        self.g_mean_sq[h] += a * (d_sq * d_sq - self.g_mean_sq[h])
        self.g_med[h] += a * (d_ab - self.g_med[h])
        self.g_med_sq[h] += a * (d_ab * d_ab - self.g_med_sq[h])
        al = 1.0 - 0.5 ** (1.0 / c.gate_halflife_long)
        self.gl_mean[h] += al * (d_sq - self.gl_mean[h])
        self.gl_mean_sq[h] += al * (d_sq * d_sq - self.gl_mean_sq[h])
        self.gl_med[h] += al * (d_ab - self.gl_med[h])
        self.gl_med_sq[h] += al * (d_ab * d_ab - self.gl_med_sq[h])
        r = y - float(o.mean[h])
        ld = c.d_forgetting
        self.var[h] = ld * self.var[h] + (1 - ld) * r * r
        miss = float(y < o.q[self._ilo, h] or y > o.q[self._ihi, h])
        self.k[h] *= np.exp(c.aci_rate * (miss - (1.0 - c.coverage)))
        self.n_resolved[h] += 1

    def predict(self, x_point: np.ndarray, spread: np.ndarray | None = None,
                spread_D: float | None = None) -> tuple[np.ndarray, ...]:
        """(candidate, mean, median, quantiles) for a point forecast, from the current state (no learning)."""
        xp = np.asarray(x_point, dtype=np.float64)
        beta = self.beta
        cand = beta * xp
        mean = np.where(self.gate_mean, cand, 0.0)
        median = np.where(self.gate_median, cand, 0.0) if self.config.shrink else xp.copy()
        D = self.D
        if spread is not None and spread_D is not None and spread_D > 0:
            s = np.asarray(spread, dtype=np.float64) * np.sqrt(D / spread_D)[None, :]
        else:
            s = self._z[:, None] * np.sqrt(self.var)[None, :]
        q = mean[None, :] + self.k[None, :] * s
        q[self._i50] = median
        for i in range(self._i50 - 1, -1, -1):      # the median may sit off the band's centre:
            q[i] = np.minimum(q[i], q[i + 1])        # widen the band to keep the quantiles ordered
        for i in range(self._i50 + 1, q.shape[0]):
            q[i] = np.maximum(q[i], q[i - 1])
        return cand, mean, median, q

    def step(self, ts_ns: int, spot: float, tick: float, x_point: np.ndarray, spread: np.ndarray | None = None,
             spread_D: float | None = None) -> HeadOutput:
        """Resolve with this frame, then emit the head's forecast for the origin ``ts_ns``.

        ``spread`` (K, H): an ensemble's quantiles minus its median, run with diffusion ``spread_D``.
        """
        self.resolve(int(ts_ns), float(spot))
        cand, mean, median, q = self.predict(x_point, spread, spread_D)
        H = self.H
        self.pending.append(_Origin(int(ts_ns), float(spot), float(tick), cand, mean, median, q,
                                    np.asarray(x_point, dtype=np.float64).copy(),
                                    np.full(H, PENDING, dtype=np.int8), np.full(H, np.nan)))
        return HeadOutput(mean=mean, median=median, quantiles=q, levels=tuple(self.config.quantiles),
                          beta=self.beta, gate_mean=self.gate_mean, gate_median=self.gate_median, D=self.D)

    def history(self) -> pd.DataFrame:
        """Completed origins, one row per horizon: the ledger's columns plus ``q50`` and one ``q<τ>`` per level."""
        rows = self._hist
        H = self.H
        cols = ["origin_ts_ns", "horizon", "spot", "x_hat", "q50", "actual", "error", "status", "x_point",
                *[qcol(q) for q in self.config.quantiles if q != 0.5]]
        if not rows:
            return pd.DataFrame(columns=cols)
        mean = np.concatenate([o.mean for o in rows])
        actual = np.concatenate([o.actual for o in rows])
        qs = np.stack([o.q for o in rows], axis=0)      # (N, K, H)
        d = {"origin_ts_ns": np.repeat([o.ts for o in rows], H), "horizon": np.tile(np.arange(1, H + 1), len(rows)),
             "spot": np.repeat([o.spot for o in rows], H), "x_hat": mean,
             "q50": np.concatenate([o.median for o in rows]), "actual": actual, "error": actual - mean,
             "status": pd.Categorical.from_codes(np.concatenate([o.status for o in rows]),
                                                 ["pending", "resolved", "expired"]),
             "x_point": np.concatenate([o.xp for o in rows])}
        for i, q in enumerate(self.config.quantiles):
            if q != 0.5:
                d[qcol(q)] = qs[:, i, :].ravel()
        return pd.DataFrame(d)[cols]


def qcol(q: float) -> str:
    """History column of quantile level q (0.05 -> 'q05', 0.5 -> 'q50', 0.975 -> 'q97.5')."""
    s = f"{100 * q:g}"
    return "q" + (s.zfill(2) if "." not in s else s)


def head_over_day(ts, spot, tick, x_point: np.ndarray, dt: float = 0.5,
                  config: HeadConfig | None = None) -> tuple[pd.DataFrame, "ForecastHead"]:
    """The head stepped over a whole day of point forecasts (F, H): its history (bands Gaussian) and final state."""
    x_point = np.asarray(x_point, dtype=np.float64)
    head = ForecastHead(x_point.shape[1], dt, config)
    for i in range(x_point.shape[0]):
        head.step(int(ts[i]), float(spot[i]), float(tick[i]), x_point[i])
    return head.history(), head
