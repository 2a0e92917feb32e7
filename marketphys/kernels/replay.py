"""Inputs and results of batched replay / calibration (the seed's section 15).

Producers are Python, so a replay block carries what they produced per frame:
summed field contributions (U, C, G, O, D over the grid) and the evolved wall
arrays. Composition (walls -> O, gradients), rollout, ledger and learner then run
in the kernel, once per lane, each lane with its own θ0 and hyper-parameters.

Time is kept on an integer clock (``ReplayAnchor``): frame times are whole multiples
of ``unit_ns`` after ``base_ns``, so ledger resolution is exact in int32 on every
backend; spots are float ticks from ``base_spot``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np

from marketphys.core.grid import Grid
from marketphys.core.integrator import IntegratorConfig
from marketphys.core.learner import LearnerConfig, LearnerSettingError
from marketphys.core.producers import FIELD_TARGETS
from marketphys.core.theta import N_PARAMS, ThetaBounds
from marketphys.kernels.layout import LANE_HYPER, LANE_STATE, LEDGER_CAP, MAX_H

INT32_MAX = 2**31 - 1


@dataclass(frozen=True)
class ReplayAnchor:
    """The integer clock and price origin shared by every block of one session."""

    base_ns: int
    unit_ns: int
    base_spot: float
    tick_size: float

    @classmethod
    def fit(cls, ts_ns: Sequence[int], spot0: float, tick_size: float, dt_ns: int, tol_ns: int) -> "ReplayAnchor":
        """The coarsest unit that represents every timestamp, Δt and the tolerance exactly."""
        ts = [int(t) for t in ts_ns]
        if not ts:
            raise ValueError("ReplayAnchor.fit needs at least one timestamp")
        unit = math.gcd(int(dt_ns), int(tol_ns)) or int(dt_ns)
        for t in ts:
            unit = math.gcd(unit, t - ts[0])
        return cls(base_ns=ts[0], unit_ns=max(unit, 1), base_spot=float(spot0), tick_size=float(tick_size))

    def units(self, ts_ns) -> np.ndarray:
        d = np.asarray(ts_ns, dtype=np.int64) - np.int64(self.base_ns)
        bad = np.flatnonzero(d % self.unit_ns)
        if bad.size:
            i = int(bad[0])
            raise ValueError(f"frame ts_ns={int(np.asarray(ts_ns)[i])} is not a whole number of {self.unit_ns} ns clock "
                             f"units after {self.base_ns}; fit the anchor over the whole session (ReplayAnchor.fit)")
        u = d // self.unit_ns
        if u.size and (u.max() > INT32_MAX or u.min() < -INT32_MAX):
            raise ValueError(f"session spans {int(u.max())} clock units of {self.unit_ns} ns, beyond int32; "
                             f"use a coarser unit or shorter blocks")
        return u

    def ticks(self, spot) -> np.ndarray:
        return (np.asarray(spot, dtype=np.float64) - self.base_spot) / self.tick_size


@dataclass
class ReplayBlock:
    """Per-frame kernel inputs for one block of a session (float64; backends cast)."""

    grid: Grid
    integrator: IntegratorConfig
    contrib: np.ndarray     # (F, 5, cells): summed producer output for U, C, G, O, D
    walls: np.ndarray       # (F, W, 3): centre (ticks from spot), strength, width; padding has strength 0
    t: np.ndarray           # (F,) int64 clock units
    spot: np.ndarray        # (F,) ticks from the anchor
    v0: np.ndarray          # (F,) initial velocity (ticks/s)
    dt_units: int
    tol_units: int
    anchor: ReplayAnchor | None = None
    x0: np.ndarray | None = None   # (F,) initial position (ticks from spot, the latent-price estimate); None = 0

    def __post_init__(self) -> None:
        F, cells = self.t.shape[0], self.grid.size
        if self.x0 is None:
            self.x0 = np.zeros(F)
        checks = {"contrib": (self.contrib, (F, 5, cells)), "spot": (self.spot, (F,)), "v0": (self.v0, (F,)),
                  "x0": (self.x0, (F,))}
        for name, (arr, shape) in checks.items():
            if np.shape(arr) != shape:
                raise ValueError(f"ReplayBlock.{name} has shape {np.shape(arr)}, expected {shape}")
        if self.walls.ndim != 3 or self.walls.shape[0] != F or self.walls.shape[2] != 3:
            raise ValueError(f"ReplayBlock.walls has shape {self.walls.shape}, expected ({F}, n_walls, 3)")
        if F and np.any(np.diff(self.t) <= 0):
            i = int(np.flatnonzero(np.diff(self.t) <= 0)[0]) + 1
            raise ValueError(f"ReplayBlock.t must increase: frame {i} has t={int(self.t[i])} after {int(self.t[i - 1])}")
        if self.integrator.horizons > MAX_H:
            raise ValueError(f"kernels support horizons <= {MAX_H}, got {self.integrator.horizons}")
        if self.dt_units <= 0 or self.tol_units < 0:
            raise ValueError(f"ReplayBlock: dt_units must be > 0 and tol_units >= 0, got {self.dt_units}, {self.tol_units}")
        for name in ("spot", "v0", "x0"):
            a = getattr(self, name)
            if not np.all(np.isfinite(a)):
                i = int(np.flatnonzero(~np.isfinite(a))[0])
                raise ValueError(f"ReplayBlock.{name}[{i}] is not finite ({a[i]!r})")
        need = self.max_pending()
        if need > LEDGER_CAP:
            raise ValueError(f"frames are too dense for the kernel ledger: {need} origins pending at once, capacity "
                             f"{LEDGER_CAP} (frames closer than Δt/{need // max(self.integrator.horizons, 1)}?)")

    @property
    def n_frames(self) -> int:
        return int(self.t.shape[0])

    def max_pending(self) -> int:
        """Most origins pending at once: origin o is pending at t while t < t_o + H·Δt − tol."""
        if not self.n_frames:
            return 0
        horizon = self.integrator.horizons * self.dt_units - self.tol_units
        lo = np.searchsorted(self.t, self.t - horizon, side="right")
        return int(np.max(np.arange(self.n_frames) - lo + 1))

    def split(self, size: int) -> list["ReplayBlock"]:
        """Consecutive sub-blocks of at most ``size`` frames (to bound memory)."""
        out = []
        for a in range(0, self.n_frames, size):
            s = slice(a, a + size)
            out.append(ReplayBlock(self.grid, self.integrator, self.contrib[s], self.walls[s], self.t[s], self.spot[s],
                                   self.v0[s], self.dt_units, self.tol_units, self.anchor, self.x0[s]))
        return out

    @classmethod
    def from_frames(cls, frames: Iterable, producers: Sequence = (), config=None,
                    anchor: ReplayAnchor | None = None) -> "ReplayBlock":
        """Run the producers and wall memory over ``frames`` exactly as the Engine does.

        ``config`` is an EngineConfig (default one when None). Producers are reset first.
        """
        from marketphys.core.engine import Engine, EngineConfig

        config = config or EngineConfig()
        eng = Engine(producers, EngineConfig(grid=config.grid, integrator=config.integrator, learn=False,
                                             max_v0_gap_s=config.max_v0_gap_s, start=config.start, n_paths=0))
        frames = list(frames)
        F, cells = len(frames), config.grid.size
        contrib = np.zeros((F, 5, cells))
        walls_list, v0, x0 = [], np.zeros(F), np.zeros(F)
        for i, fr in enumerate(frames):
            eng.check_frame(fr)
            acc, (c, s, w) = eng.gather(fr)
            for k, name in enumerate(FIELD_TARGETS):
                contrib[i, k] = acc[name]
            walls_list.append(np.stack([c, s, w], axis=-1) if c.size else np.zeros((0, 3)))
            v0[i] = eng.initial_velocity(fr)
            x0[i] = eng.initial_position(fr)
            eng.last_frame = fr
        W = max((a.shape[0] for a in walls_list), default=0)
        walls = np.zeros((F, max(W, 1), 3))
        walls[:, :, 2] = 1.0
        for i, a in enumerate(walls_list):
            walls[i, :a.shape[0]] = a
        dt_ns = config.dt_ns
        tol_ns = dt_ns // 4
        ts = [int(f.ts_ns) for f in frames]
        if anchor is None:
            if not frames:
                raise ValueError("ReplayBlock.from_frames needs at least one frame (or an anchor)")
            anchor = ReplayAnchor.fit(ts, frames[0].spot, frames[0].tick_size, dt_ns, tol_ns)
        ticks = {float(f.tick_size) for f in frames}
        if len(ticks) > 1 or (ticks and anchor.tick_size not in ticks):
            raise ValueError(f"a replay block needs one tick size, got {sorted(ticks)} (anchor {anchor.tick_size})")
        if dt_ns % anchor.unit_ns or tol_ns % anchor.unit_ns:
            raise ValueError(f"Δt={dt_ns} ns or tolerance={tol_ns} ns is not a whole number of {anchor.unit_ns} ns units")
        return cls(grid=config.grid, integrator=config.integrator, contrib=contrib, walls=walls,
                   t=anchor.units(ts), spot=anchor.ticks([f.spot for f in frames]), v0=v0,
                   dt_units=dt_ns // anchor.unit_ns, tol_units=tol_ns // anchor.unit_ns, anchor=anchor, x0=x0)


LANE_SETTINGS = tuple(n for n in LANE_HYPER.names if n != "alpha")
"""The ``LearnerConfig`` settings a lane carries (besides alpha); prior_strength goes in the lane's state."""


def make_hyper(lanes: int, horizons: int, alpha=None, **settings) -> np.ndarray:
    """Per-lane learner hyper-parameters: each of ``LANE_SETTINGS`` a scalar or one value per lane
    (unset: ``LearnerConfig``'s default), ``alpha`` one weight per horizon or one row per lane. Every lane
    is checked as a ``LearnerConfig``; an error names the setting, the lane and the value."""
    unknown = sorted(set(settings) - set(LANE_SETTINGS))
    if unknown:
        raise TypeError(f"make_hyper: unknown settings {unknown}; a lane carries {LANE_SETTINGS} and alpha")
    default = LearnerConfig()
    out = np.zeros(lanes, dtype=LANE_HYPER)
    # object arrays keep each lane's value as given (a 1 among bools stays a 1), so the check sees it
    per_lane = {k: np.broadcast_to(np.asarray(settings.get(k, getattr(default, k)), dtype=object), (lanes,))
                for k in LANE_SETTINGS}
    al = np.ones(horizons) if alpha is None else np.asarray(alpha, dtype=np.float64)
    try:
        al = np.broadcast_to(al, (lanes, horizons))
    except ValueError:
        raise ValueError(f"alpha must be {horizons} finite weights >= 0 per horizon (or one row per lane), "
                         f"got shape {al.shape}") from None
    for i in range(lanes):
        lane = {k: v[i] for k, v in per_lane.items()}
        try:
            LearnerConfig(**lane, alpha=tuple(al[i]))
        except LearnerSettingError as err:
            raise ValueError(f"hyper-parameter {err.field} of lane {i} {err.rule}, got {err.value!r}") from None
    for k, v in per_lane.items():
        out[k] = v.astype(np.float64 if k != "learn" else bool)
    out["alpha"][:, :horizons] = al
    return out


def lane_settings(hp, horizons: int, prior_strength: float) -> LearnerConfig:
    """One lane's hyper-parameters (a ``make_hyper`` row) back as a ``LearnerConfig`` (float32-rounded)."""
    return LearnerConfig(**{k: bool(hp[k]) if k == "learn" else float(hp[k]) for k in LANE_SETTINGS},
                         prior_strength=float(prior_strength), alpha=tuple(hp["alpha"][:horizons].astype(float)))


def hyper_from_engine(config: LearnerConfig, lanes: int = 1) -> np.ndarray:
    """The hyper-parameters an Engine with ``config`` (an ``EngineConfig``) uses, repeated over lanes."""
    return make_hyper(lanes, config.integrator.horizons, alpha=config.alpha,
                      **{k: getattr(config, k) for k in LANE_SETTINGS})


def initial_state(theta0, bounds: ThetaBounds, prior_strength=1.0) -> np.ndarray:
    """Fresh lane state: θ0 projected onto the bounds, A = prior·I, empty ledger."""
    theta0 = np.atleast_2d(np.asarray(theta0, dtype=np.float64))
    if theta0.shape[1] != N_PARAMS or not np.all(np.isfinite(theta0)):
        raise ValueError(f"theta0 must be finite with {N_PARAMS} columns, got shape {theta0.shape}")
    L = theta0.shape[0]
    st = np.zeros(L, dtype=LANE_STATE)
    st["theta"] = bounds.project(theta0)
    prior = np.broadcast_to(np.asarray(prior_strength, dtype=np.float64), (L,))
    st["A"] = (np.eye(N_PARAMS)[None] * prior[:, None, None]).reshape(L, -1)
    st["last_loss"] = np.nan
    return st


@dataclass
class CalibrationResult:
    """Per-lane outcome of a replay: final θ, learning counts, per-horizon errors, traces."""

    backend: str
    theta: np.ndarray                 # (L, P)
    n_updates: np.ndarray             # (L,)
    loss_sum: np.ndarray              # (L,)
    n: np.ndarray                     # (L, H) resolved forecasts
    mae: np.ndarray                   # (L, H)
    rmse: np.ndarray                  # (L, H)
    stats: np.ndarray                 # (L, 4) clamp_a, clamp_v, nonfinite, off_grid
    state: object = field(repr=False, default=None)   # pass back to continue with the next block
    trace_x: np.ndarray | None = None      # (L, F, H) forecasts per frame
    trace_theta: np.ndarray | None = None  # (L, F, P) θ used for each forecast

    def best_lane(self, horizon: int = 1) -> int:
        """Lane with the lowest MAE at ``horizon`` (1-based)."""
        return int(np.nanargmin(self.mae[:, horizon - 1]))
