"""The engine: one ``step(frame) -> Forecast`` per Δt, wiring producers, walls, fields,
rollout, ledger and learner together (docs/architecture.md#prediction-loop).

Per frame, in this order: validate -> resolve the ledger with this frame's spot and
learn from origins that completed -> compose fields -> roll out H steps -> record the
forecast. A forecast made at t therefore depends on frames ≤ t only.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from marketphys.core.backend import KERNEL_BACKENDS, RolloutBackend
from marketphys.core.fields import Fields
from marketphys.core.frame import FrameError, MarketFrame
from marketphys.core.grid import Grid
from marketphys.core.head import ForecastHead, HeadConfig, HeadOutput
from marketphys.core.integrator import IntegratorConfig, RolloutStats, ensemble_bands
from marketphys.core.learner import GaussNewtonLearner, LearnerConfig
from marketphys.core.ledger import Ledger, LedgerEntry
from marketphys.core.producers import (FIELD_TARGETS, Producer, check_field_output, check_wall_output)
from marketphys.core.theta import Theta, ThetaBounds
from marketphys.core.walls import WallSet, obstacle_field

MODES = ("replay", "live", "test")
STARTS = ("mid", "latent")


ENGINE_BACKENDS = ("auto", "numpy", "msl-cpu", "metal")


@dataclass(frozen=True)
class EngineConfig(LearnerConfig):
    """Everything an engine runs with. The learner's settings (``LearnerConfig``: huber_delta, forgetting,
    damping, ridge, prior_strength, step_size, learn, alpha) are the engine's own top-level settings,
    checked there once, so ``replace(config, learn=False)`` and recorded files keep them flat."""

    grid: Grid = field(default_factory=Grid)
    integrator: IntegratorConfig = field(default_factory=IntegratorConfig)
    mode: str = "replay"
    seed: int = 0
    n_paths: int = 32
    quantiles: tuple[float, ...] = (0.05, 0.25, 0.5, 0.75, 0.95)
    bounds: ThetaBounds = field(default_factory=ThetaBounds)
    max_v0_gap_s: float = 2.0
    backend: str = "auto"
    """Kernel backend for the rollout and ensemble: "auto" (metal, else msl-cpu, else numpy; the
    engine's ``backend_reason`` says which and why), "numpy" (the float64 reference), "msl-cpu"
    or "metal". Results agree across backends to float32 tolerance (docs/kernels.md). The core only
    records the name: ``marketphys.kernels.make_engine`` (and ``Session``) resolve it into a backend
    passed to ``Engine(..., backend=...)``."""
    start: str = "mid"
    """Where the particle starts (docs/architecture.md#dynamics): "mid" = x0 0 at the observed mid, v0 the last tick's motion;
    "latent" = x0 the frame's ``latent_offset`` (EMA(mid) − mid), v0 0 (the latent-mid filter, an ablation)."""
    head: HeadConfig = field(default_factory=HeadConfig)
    """The forecast head: blend with no change, skill gates, learned D and calibrated bands (core/head.py)."""

    def __post_init__(self) -> None:
        self._check_learner()
        if self.mode not in MODES:
            raise ValueError(f"EngineConfig.mode must be one of {MODES}, got {self.mode!r}")
        if self.backend not in ENGINE_BACKENDS:
            raise ValueError(f"EngineConfig.backend must be one of {ENGINE_BACKENDS}, got {self.backend!r}")
        if self.start not in STARTS:
            raise ValueError(f"EngineConfig.start must be one of {STARTS}, got {self.start!r}")
        if self.n_paths < 0:
            raise ValueError(f"EngineConfig.n_paths must be >= 0, got {self.n_paths!r}")
        if self.grid.half_width_ticks < 1:
            raise ValueError("EngineConfig.grid is too small")
        q = tuple(float(x) for x in self.quantiles)
        if tuple(self.head.quantiles) != q:
            # one set of quantile levels: the head emits the bands the engine is asked for (HeadConfig checks
            # that they hold 0.5 and its coverage band's ends)
            object.__setattr__(self, "head", dataclasses.replace(self.head, quantiles=q))

    @property
    def dt_ns(self) -> int:
        return int(round(self.integrator.dt * 1e9))

    def to_dict(self) -> dict:
        return {"grid": self.grid.to_dict(), "integrator": self.integrator.to_dict(), "mode": self.mode,
                "seed": self.seed, "n_paths": self.n_paths, "quantiles": list(self.quantiles), **self.learner_dict(),
                "bounds": self.bounds.to_dict(), "backend": self.backend, "start": self.start,
                "head": self.head.to_dict()}


@dataclass
class Forecast:
    """What one step emits, in ticks from spot and as prices: the particle's rollout ``x_hat`` (what θ learns
    from), the head's ``mean`` and ``median`` (what is scored: ``head`` holds β, gates and D), bands, diagnostics."""

    origin_ts_ns: int
    spot: float
    tick_size: float
    x_hat: np.ndarray
    v0: float
    a0: float
    theta: np.ndarray
    jac: np.ndarray
    bands: dict[float, np.ndarray] | None
    stats: dict
    dt: float = 0.5
    x0: float = 0.0
    head: HeadOutput | None = None

    @property
    def mean(self) -> np.ndarray:
        """The emitted mean forecast (ticks): the head's blend of the rollout with no change."""
        return self.x_hat if self.head is None else self.head.mean

    @property
    def median(self) -> np.ndarray:
        return self.x_hat if self.head is None else self.head.median

    @property
    def mean_prices(self) -> np.ndarray:
        return self.spot + self.mean * self.tick_size

    @property
    def prices(self) -> np.ndarray:
        return self.spot + self.x_hat * self.tick_size

    @property
    def horizons_s(self) -> np.ndarray:
        return np.arange(1, self.x_hat.shape[0] + 1) * self.dt

    def band_prices(self) -> dict[float, np.ndarray] | None:
        if self.bands is None:
            return None
        return {q: self.spot + b * self.tick_size for q, b in self.bands.items()}


class Engine:
    """State: producers (with their own state), walls, learner, ledger, counters.

    ``backend`` runs the rollout and ensemble (a ``core.backend.RolloutBackend``, e.g.
    ``marketphys.kernels.get_backend("msl-cpu")``; ``backend_reason`` says why it is the one); without
    one the engine runs its own float64 reference, which ``config.backend`` "numpy" or "auto" allow.
    ``marketphys.kernels.make_engine`` resolves ``config.backend`` and passes the backend in."""

    def __init__(self, producers: Sequence[Producer] = (), config: EngineConfig | None = None, theta0=None,
                 backend: RolloutBackend | None = None, backend_reason: str | None = None):
        self.config = config or EngineConfig()
        self._set_backend(backend, backend_reason)
        names = [p.name for p in producers]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"producer names must be unique; duplicated: {sorted(dup)}")
        for p in producers:
            if getattr(p, "target", None) not in (*FIELD_TARGETS, "walls"):
                raise ValueError(f"producer {p!r} has target {getattr(p, 'target', None)!r}; expected one of {(*FIELD_TARGETS, 'walls')}")
        self.producers = list(producers)
        self.theta0 = Theta.coerce(theta0)
        self.reset()

    # -- lifecycle ---------------------------------------------------------------------
    def reset(self) -> None:
        c = self.config
        for p in self.producers:
            p.reset()
        self.learner = GaussNewtonLearner(self.theta0, bounds=c.bounds, cfg=c.integrator, settings=c.learner)
        self.ledger = Ledger(c.integrator.horizons, c.dt_ns)
        self.head = ForecastHead(c.integrator.horizons, c.integrator.dt, c.head)
        self.walls = WallSet()
        self.fields: Fields | None = None
        self.last_frame: MarketFrame | None = None
        self.last_forecast: Forecast | None = None
        self.n_frames = 0
        self.rejected: dict[str, int] = {}
        self.last_rejection: str | None = None
        self.stats = RolloutStats()

    def _set_backend(self, backend: RolloutBackend | None, reason: str | None) -> None:
        """``kernels`` (None: the float64 reference), ``backend`` (its name) and ``backend_reason``."""
        asked = self.config.backend
        if backend is None:
            if asked in KERNEL_BACKENDS:
                raise ValueError(f"EngineConfig.backend {asked!r} names a kernel backend, but none was passed to "
                                 f"Engine: build it with marketphys.kernels.make_engine(...) or pass "
                                 f"backend=marketphys.kernels.get_backend({asked!r})")
            self.kernels, self.backend = None, "numpy"
            self.backend_reason = reason or ("numpy asked for (the float64 reference)" if asked == "numpy" else
                                             "auto with no kernel backend passed in: the float64 reference "
                                             "(marketphys.kernels.make_engine picks the fastest that works here)")
            return
        if not isinstance(backend, RolloutBackend):
            raise TypeError(f"Engine backend: expected a RolloutBackend (rollout, ensemble_bands, name), got {backend!r}")
        if asked not in ("auto", backend.name):
            raise ValueError(f"EngineConfig.backend is {asked!r} but the backend passed in is {backend.name!r}")
        self.backend = backend.name
        self.backend_reason = reason or f"{backend.name} passed in"
        self.kernels = None if backend.name == "numpy" else backend   # numpy: the engine's own float64 path

    @property
    def theta(self) -> Theta:
        return self.learner.theta_named

    # -- the loop ----------------------------------------------------------------------
    def check_frame(self, frame: MarketFrame) -> None:
        frame.validate(self.config.grid.size)
        if self.last_frame is not None and frame.ts_ns <= self.last_frame.ts_ns:
            raise FrameError(f"MarketFrame.ts_ns must increase: got {frame.ts_ns} after {self.last_frame.ts_ns}")

    def step(self, frame: MarketFrame) -> Forecast | None:
        """Advance one frame; returns the forecast (None when live mode skips a bad frame)."""
        try:
            self.check_frame(frame)
        except FrameError as err:
            if self.config.mode != "live":
                raise
            key = type(err).__name__ + (": ts" if "increase" in str(err) else ": value")
            self.rejected[key] = self.rejected.get(key, 0) + 1
            self.last_rejection = str(err)
            return None

        for entry in self.ledger.resolve(frame.ts_ns, frame.spot):
            if entry.mask.any():
                self.learner.learn_one(entry.x_hat, entry.jac, entry.theta, entry.actual, entry.mask)

        fields = self.compose(frame)
        v0, x0 = self.initial_velocity(frame), self.initial_position(frame)
        if self.kernels is None:
            res = self.learner.predict_one(fields, v0, x0)
        else:
            res = self.kernels.rollout(fields, self.learner.theta, v0, self.config.integrator, sensitivities=True,
                                       x0=x0)
        self.stats.add(res.stats)
        spread, d_run = None, None
        if self.config.n_paths:
            # the paths diffuse with the learned one-step D (in fields.D); the head rescales per horizon
            levels = tuple(self.config.head.quantiles)
            bands_fn = ensemble_bands if self.kernels is None else self.kernels.ensemble_bands
            qs, st = bands_fn(fields, self.learner.theta, v0, self.config.integrator, self.config.n_paths,
                              self.config.seed, levels, stream=self.n_frames, x0=x0)
            self.stats.add(st)
            spread = np.stack([qs[q] for q in levels]) - qs[0.5][None, :]
            d_run = float(np.mean(fields.D))
        out = self.head.step(int(frame.ts_ns), float(frame.spot), float(frame.tick_size), res.x[0], spread, d_run)
        theta = self.learner.theta.copy()
        fc = Forecast(origin_ts_ns=int(frame.ts_ns), spot=float(frame.spot), tick_size=float(frame.tick_size),
                      x_hat=res.x[0].copy(), v0=float(v0), a0=float(res.a0[0]), theta=theta, jac=res.jac[0].copy(),
                      bands=out.bands, stats=res.stats.to_dict(), dt=self.config.integrator.dt, x0=float(x0),
                      head=out)
        self.ledger.add(LedgerEntry(fc.origin_ts_ns, fc.spot, fc.tick_size, fc.x_hat, fc.jac, theta, self.config.dt_ns))
        self.fields, self.last_frame, self.last_forecast = fields, frame, fc
        self.n_frames += 1
        return fc

    def run(self, frames) -> list[Forecast]:
        return [fc for fc in (self.step(f) for f in frames) if fc is not None]

    # -- pieces --------------------------------------------------------------------------
    def gather(self, frame: MarketFrame) -> tuple[dict[str, np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Run the producers: summed field contributions per target, and the evolved wall arrays.

        This is the Python half of composition (producers are Python); kernels take its
        output as input (marketphys.kernels.replay.ReplayBlock).
        """
        grid = self.config.grid
        acc = {t: grid.zeros() for t in FIELD_TARGETS}
        updates: dict[str, dict] = {}
        for p in self.producers:
            out = p.produce(frame, grid)
            if p.target == "walls":
                for wid, u in check_wall_output(p, out, frame).items():
                    if wid in updates:
                        # reinforcements add up; settings (center, width, ...) come from whichever producer gives them
                        merged = {**u, **updates[wid]}
                        merged["reinforcement"] = updates[wid].get("reinforcement", 0.0) + u.get("reinforcement", 0.0)
                        updates[wid] = merged
                    else:
                        updates[wid] = dict(u)
            else:
                acc[p.target] += check_field_output(p, out, grid, frame)
        self.walls.step(updates)
        return acc, self.walls.arrays(frame.spot, frame.tick_size)

    def compose(self, frame: MarketFrame) -> Fields:
        """Sum producer contributions per field, evolve walls, and build O from the wall set."""
        grid = self.config.grid
        acc, (c, s, w) = self.gather(frame)
        O = acc["O"] + (obstacle_field(grid, c, s, w) if c.size else 0.0)
        D = acc["D"] + (float(self.head.D[0]) if self.config.n_paths else 0.0)
        return Fields.from_arrays(grid, U=acc["U"], C=acc["C"], G=acc["G"], O=O, D=D)

    def initial_position(self, frame: MarketFrame) -> float:
        """x0 in ticks from spot: 0, the observed mid (docs/architecture.md#dynamics); with ``start="latent"`` the frame's
        ``latent_offset`` scalar (where a filter estimates the particle inside the quoted tick)."""
        if self.config.start == "latent":
            return float(frame.scalars.get("latent_offset", 0.0))
        return 0.0

    def initial_velocity(self, frame: MarketFrame) -> float:
        """v0 in ticks/s: the frame's ``velocity`` scalar if given (a generator that knows it), else the last
        tick's motion (docs/architecture.md#dynamics); with ``start="latent"`` the particle starts at rest (0)."""
        if "velocity" in frame.scalars:
            return float(frame.scalars["velocity"])
        if self.config.start == "latent":
            return 0.0
        prev = self.last_frame
        if prev is None:
            return 0.0
        gap = (frame.ts_ns - prev.ts_ns) / 1e9
        if gap <= 0 or gap > self.config.max_v0_gap_s:
            return 0.0
        return (frame.spot - prev.spot) / frame.tick_size / gap
