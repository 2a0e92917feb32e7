"""Forecast baselines under the engine's rules: one frame at a time, learning only from the past.

Each forecaster's ``step(frame)`` returns x̂(t+1..t+H) in ticks from the frame's spot,
the same quantity the engine forecasts. Learned baselines (AR, OFI) fit *direct*
h-step regressions online: when the frame at t arrives, the h-step move from the
origin t − h·Δt has just happened, and only then is it learned from.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from marketphys.baselines.rls import RLS
from marketphys.core.frame import MarketFrame

BASELINE_NAMES = ("random_walk", "constant_velocity", "ar", "ofi", "microprice", "queue_imbalance", "physics_linear")


@dataclass
class _Past:
    ts_ns: int
    spot: float
    tick: float
    x: np.ndarray | None   # regression features at this origin (None: not enough history)


class Forecaster:
    """Base: ``reset()``, ``step(frame) -> x̂`` (H,) in ticks. Settings in ``__init__`` only."""

    name = "forecaster"

    def __init__(self, horizons: int = 4, dt: float = 0.5, max_gap_s: float = 2.0):
        self.H, self.dt, self.max_gap_s = int(horizons), float(dt), float(max_gap_s)
        self.dt_ns = int(round(self.dt * 1e9))
        self.tol_ns = self.dt_ns // 4

    def reset(self) -> None:
        """Forget everything learned (a replay from the start calls it)."""

    def step(self, frame: MarketFrame) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def config(self) -> dict:
        return {k: v for k, v in vars(self).items() if not k.startswith("_") and isinstance(v, (int, float, str, bool))}


class RandomWalk(Forecaster):
    """x̂_h = 0: the price stays where it is (the benchmark every skill score is relative to)."""

    name = "random_walk"

    def step(self, frame):
        return np.zeros(self.H)


class ConstantVelocity(Forecaster):
    """x̂_h = v·h·Δt with v the last frame-to-frame motion (ticks/s); 0 after a gap."""

    name = "constant_velocity"

    def reset(self):
        self._prev: tuple[int, float] | None = None

    def __init__(self, **kw):
        super().__init__(**kw)
        self.reset()

    def step(self, frame):
        v = 0.0
        if self._prev is not None:
            gap = (frame.ts_ns - self._prev[0]) / 1e9
            if 0 < gap <= self.max_gap_s:
                v = (frame.spot - self._prev[1]) / frame.tick_size / gap
        self._prev = (int(frame.ts_ns), float(frame.spot))
        return v * self.dt * np.arange(1, self.H + 1)


class _DirectRegression(Forecaster):
    """Per horizon h an RLS regression of the h-step move on features known at the origin."""

    def __init__(self, forgetting: float = 0.999, ridge: float = 1e-2, **kw):
        super().__init__(**kw)
        self.forgetting, self.ridge = float(forgetting), float(ridge)
        self.reset()

    def features(self, frame: MarketFrame) -> np.ndarray | None:  # pragma: no cover - interface
        raise NotImplementedError

    @property
    def dim(self) -> int:  # pragma: no cover - interface
        raise NotImplementedError

    def reset(self):
        self._models = [RLS(self.dim, self.forgetting, self.ridge) for _ in range(self.H)]
        self._past: deque[_Past] = deque(maxlen=4 * self.H + 8)
        self._reset_features()

    def _reset_features(self):
        pass

    def step(self, frame):
        # learn: the h-step move from origin t − h·Δt is known now, and nothing later is
        for p in self._past:
            if p.x is None:
                continue
            h = int(round((frame.ts_ns - p.ts_ns) / self.dt_ns))
            if 1 <= h <= self.H and abs(frame.ts_ns - p.ts_ns - h * self.dt_ns) <= self.tol_ns:
                self._models[h - 1].update(p.x, (frame.spot - p.spot) / p.tick)
        x = self.features(frame)
        self._past.append(_Past(int(frame.ts_ns), float(frame.spot), float(frame.tick_size), x))
        if x is None:
            return np.zeros(self.H)
        return np.array([m.predict(x) for m in self._models])

    @property
    def weights(self) -> np.ndarray:
        """(H, dim) current coefficients, one row per horizon."""
        return np.stack([m.w for m in self._models])


class OnlineAR(_DirectRegression):
    """x̂_h = Σ_k φ_{h,k} · r_{t−k+1}: the last ``order`` one-frame moves (ticks), refit online."""

    name = "ar"

    def __init__(self, order: int = 3, **kw):
        if order < 1:
            raise ValueError(f"OnlineAR: order must be >= 1, got {order!r}")
        self.order = int(order)
        super().__init__(**kw)

    @property
    def dim(self):
        return self.order

    def _reset_features(self):
        self._returns: deque[float] = deque(maxlen=self.order)
        self._last: tuple[int, float] | None = None

    def features(self, frame):
        if self._last is not None:
            gap = (frame.ts_ns - self._last[0]) / 1e9
            if 0 < gap <= self.max_gap_s:
                self._returns.appendleft((frame.spot - self._last[1]) / frame.tick_size)
            else:
                self._returns.clear()
        self._last = (int(frame.ts_ns), float(frame.spot))
        if len(self._returns) < self.order:
            return None
        return np.array(self._returns, dtype=np.float64)


class OfiRegression(_DirectRegression):
    """x̂_h = β_h · [order-flow scalars at t, 1]: does the flow at t tell where the price goes?

    Channels absent from a frame count as 0 (a lake without a column still scores).
    """

    name = "ofi"

    def __init__(self, channels: tuple[str, ...] = ("ofi", "push", "imbalance"), intercept: bool = True, **kw):
        self.channels, self.intercept = tuple(channels), bool(intercept)
        if not self.channels:
            raise ValueError("OfiRegression: channels must name at least one frame scalar")
        super().__init__(**kw)

    @property
    def dim(self):
        return len(self.channels) + int(self.intercept)

    def config(self) -> dict:
        return {**super().config(), "channels": list(self.channels)}

    def features(self, frame):
        x = [float(frame.scalars.get(c, 0.0)) for c in self.channels]
        if self.intercept:
            x.append(1.0)
        return np.array(x)


class QueueImbalance(OfiRegression):
    """x̂_h = β_h·I + α_h with I = (Q_bid − Q_ask)/(Q_bid + Q_ask) at the touch (Gould & Bonart 2016: the
    queue imbalance predicts the next mid move on large-tick books), a direct regression refit online."""

    name = "queue_imbalance"

    def __init__(self, channels: tuple[str, ...] = ("queue_imbalance",), **kw):
        super().__init__(channels=channels, **kw)


class PhysicsLinear(OfiRegression):
    """An online linear model on the lake's physics scalars: above − below score (``push``), book_imbalance,
    ofi and trade_imbalance (issue 13's morning/afternoon model, learned online under the ledger's rules)."""

    name = "physics_linear"

    def __init__(self, channels: tuple[str, ...] = ("push", "book_imbalance", "ofi", "trade_imbalance"), **kw):
        super().__init__(channels=channels, **kw)


class Microprice(_DirectRegression):
    """Stoikov's (2018) micro-price: x̂_h = G_h(I, S), the expected h-step mid move given the touch's queue
    imbalance I (``n_buckets`` equal bins on [−1, 1]) and the spread S (1 tick, wider), estimated online as
    per-bucket means of the realised moves (an RLS on the bucket's one-hot; forgetting as the other
    regressions). Stoikov's estimator iterates a Markov chain of (I, S) to the limit; the direct
    per-horizon mean is its finite-horizon version and needs no symmetrisation step."""

    name = "microprice"

    def __init__(self, n_buckets: int = 10, **kw):
        if n_buckets < 2:
            raise ValueError(f"Microprice: n_buckets must be >= 2, got {n_buckets!r}")
        self.n_buckets = int(n_buckets)
        self.channels = ("queue_imbalance", "spread_ticks")
        super().__init__(**kw)

    @property
    def dim(self):
        return 2 * self.n_buckets

    def config(self) -> dict:
        return {**super().config(), "channels": list(self.channels)}

    def bucket(self, imb: np.ndarray, spread: np.ndarray) -> np.ndarray:
        b = np.clip(((np.asarray(imb, float) + 1.0) / 2.0 * self.n_buckets).astype(np.int64), 0, self.n_buckets - 1)
        return b + self.n_buckets * (np.asarray(spread, float) > 1.5)

    def features(self, frame):
        if "queue_imbalance" not in frame.scalars:
            return None
        x = np.zeros(self.dim)
        x[int(self.bucket(frame.scalars["queue_imbalance"], frame.scalars.get("spread_ticks", 1.0)))] = 1.0
        return x

    def day_features(self, scalars: dict[str, np.ndarray], present: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(F, dim) one-hot features and the valid mask over a day's scalar arrays."""
        F = present.shape[0]
        X = np.zeros((F, self.dim))
        b = self.bucket(scalars["queue_imbalance"], scalars["spread_ticks"])
        X[np.arange(F), b] = 1.0
        return X * present[:, None], present


def default_baselines(horizons: int = 4, dt: float = 0.5) -> list[Forecaster]:
    """The four baselines of docs/architecture.md#baselines-and-the-scorecard and the literature's simple book predictors, in scorecard order."""
    kw = {"horizons": horizons, "dt": dt}
    return [RandomWalk(**kw), ConstantVelocity(**kw), OnlineAR(**kw), OfiRegression(**kw), Microprice(**kw),
            QueueImbalance(**kw), PhysicsLinear(**kw)]
