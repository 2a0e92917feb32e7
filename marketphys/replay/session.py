"""``Session``: replay frames cell by cell through the engine and the baselines, side by side.

    s = Session.from_lake("data/lake", date="2024-05-09")
    s.step(); s.forecast; s.walls; s.fields_frame()
    s.seek("2024-05-09 14:31:00"); s.run(until=...)       # progress bar
    s.scorecard()                                          # engine vs baselines
    lab = s.lab(); s.charts()                              # Physics Lab widget + Altair charts

Watchers (``s.watch(w)``; the Physics Lab is one) see every step: ``w.on_step(session,
forecast)`` after each frame, ``w.on_reset(session)`` when the session restarts, and,
if they have it, ``w.batch()`` is entered around ``run``/``seek`` so they can draw less
often during long runs.

Every forecaster gets each frame once, in time order, and is scored by its own
``Ledger`` with the engine's resolution rules, so the scorecard compares forecasts
made with the same information on the same targets. Seeking back resets everything
and replays from the start (deterministic: same frames, θ0 and seed → same run).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from typing import Iterator, Sequence

import numpy as np
import pandas as pd

from marketphys.baselines.forecasters import Forecaster, default_baselines
from marketphys.baselines.scorecard import Scorecard, score_histories
from marketphys.core.engine import EngineConfig, Forecast
from marketphys.core.frame import MarketFrame
from marketphys.core.head import ForecastHead, HeadConfig
from marketphys.core.ledger import Ledger, LedgerEntry
from marketphys.core.producers import Producer
from marketphys.core.theta import PARAM_NAMES, Theta
from marketphys.frames.sources import FrameSource, LakeSource, as_source
from marketphys.kernels import make_engine


class SessionError(ValueError):
    """A session request that cannot be met (bad time, seeking back on a live stream, ...)."""


def to_ts_ns(t) -> int:
    """An int (ns since epoch), a pandas/datetime timestamp or a string -> ns; naive times are UTC."""
    if isinstance(t, (int, np.integer)):
        return int(t)
    try:
        ts = pd.Timestamp(t)
    except (ValueError, TypeError) as err:
        raise SessionError(f"cannot read time {t!r}: {err}") from None
    if ts is pd.NaT:
        raise SessionError(f"time {t!r} is not a time")
    if ts.tzinfo is None:
        ts = ts.tz_localize("UTC")
    return int(ts.value)


class Session:
    """Engine + baselines over one frame source, stepped by the user."""

    def __init__(self, source, producers: Sequence[Producer] | None = None, config: EngineConfig | None = None,
                 theta0=None, baselines: Sequence[Forecaster] | None = None, log=None, meta: dict | None = None,
                 theta=None):
        """``theta``: a θ file (path or ``ThetaFile``) to resume from: its configuration, producers, θ and, when
        it carries one, the engine's whole learning state (so learning continues exactly where it stopped)."""
        self.source: FrameSource = as_source(source)
        self._resume_state = None
        if theta is not None:
            from marketphys.replay.export import ThetaFile, load_theta
            tf = theta if isinstance(theta, ThetaFile) else load_theta(theta)
            config = tf.config if config is None else config
            producers = tf.producers() if producers is None else producers
            theta0 = tf.theta if theta0 is None else theta0
            self._resume_state = tf.state
        if producers is None:
            from marketphys.frames.producers import lake_producers
            producers = lake_producers()
        self.config = config or EngineConfig()
        self.producers = list(producers)
        self.theta0 = theta0
        ic = self.config.integrator
        self.baselines = list(default_baselines(ic.horizons, ic.dt) if baselines is None else baselines)
        names = [b.name for b in self.baselines]
        if "engine" in names or len(set(names)) != len(names):
            raise SessionError(f"baseline names must be unique and not 'engine', got {names}")
        self.meta = dict(meta or {})
        self._log_path = log
        self._log = None
        self.watchers: list = []
        self.reset()

    # -- construction helpers --------------------------------------------------------------
    @classmethod
    def from_lake(cls, lake, date: str | None = None, product: str | None = None, **kw) -> "Session":
        """``product`` None: the one product the lake holds."""
        src = LakeSource(lake, date=date, product=product, assemble=kw.pop("assemble", None))
        return cls(src, meta={"lake": str(lake), "date": src.date, "product": src.product, **kw.pop("meta", {})},
                   **kw)

    @classmethod
    def from_frames(cls, frames: Sequence[MarketFrame], **kw) -> "Session":
        return cls(list(frames), **kw)

    @classmethod
    def from_stream(cls, frames, **kw) -> "Session":
        """Live: any iterator of frames (e.g. ``LiveClient(url).frames()``)."""
        from marketphys.frames.sources import StreamSource
        return cls(StreamSource(frames), **kw)

    # -- lifecycle ---------------------------------------------------------------------------
    def reset(self) -> None:
        """Back to before the first frame (producers, walls, θ, ledgers, baselines all reset)."""
        self.engine = make_engine(self.producers, self.config, theta0=self.theta0)
        if getattr(self, "_resume_state", None) is not None:
            from marketphys.core.state import load_engine_state
            load_engine_state(self.engine, self._resume_state)
        ic = self.config.integrator
        self.ledgers = {b.name: Ledger(ic.horizons, self.config.dt_ns) for b in self.baselines}
        self.heads = {b.name: ForecastHead(ic.horizons, ic.dt, baseline_head(self.config.head)) for b in self.baselines}
        for b in self.baselines:
            b.reset()
        self._it: Iterator[MarketFrame] | None = None
        self.frame: MarketFrame | None = None
        self.forecast: Forecast | None = None
        self.baseline_forecasts: dict[str, np.ndarray] = {}
        self.exhausted = False
        self._theta_ts: list[int] = []
        self._theta_rows: list[np.ndarray] = []
        self.n_steps = 0
        self.elapsed_s = 0.0
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._log_path is not None:
            from marketphys.replay.log import ReplayLogWriter
            self._log = ReplayLogWriter(self._log_path, self)
        for w in getattr(self, "watchers", ()):
            w.on_reset(self)

    def _next_frame(self) -> MarketFrame | None:
        if self._it is None:
            self._it = iter(self.source)
        try:
            return next(self._it)
        except StopIteration:
            self.exhausted = True
            return None

    # -- stepping ------------------------------------------------------------------------------
    def step(self) -> Forecast | None:
        """Feed the next frame to the engine and every baseline; None at the end of the source."""
        frame = self._next_frame()
        if frame is None:
            return None
        return self.feed(frame)

    def feed(self, frame: MarketFrame) -> Forecast | None:
        t0 = time.perf_counter()
        fc = self.engine.step(frame)
        if fc is None:          # live mode skipped a bad frame: nobody forecasts from it
            return None
        for b in self.baselines:
            led = self.ledgers[b.name]
            led.resolve(frame.ts_ns, frame.spot)
            x = np.asarray(b.step(frame), dtype=np.float64)
            self.baseline_forecasts[b.name] = x
            self.heads[b.name].step(int(frame.ts_ns), float(frame.spot), float(frame.tick_size), x)
            H = x.shape[0]
            led.add(LedgerEntry(int(frame.ts_ns), float(frame.spot), float(frame.tick_size), x, np.zeros((H, 0)),
                                np.zeros(0), self.config.dt_ns))
        self.frame, self.forecast = frame, fc
        self._theta_ts.append(int(frame.ts_ns))
        self._theta_rows.append(fc.theta)
        self.n_steps += 1
        if self._log is not None:
            self._log.write(frame, fc)
        self.elapsed_s += time.perf_counter() - t0
        for w in self.watchers:
            w.on_step(self, fc)
        return fc

    # -- watchers (the Physics Lab, live charts) ------------------------------------------------
    def watch(self, watcher):
        """Show every step to ``watcher`` (``on_step``/``on_reset``); the current frame at once if any."""
        for name in ("on_step", "on_reset"):
            if not callable(getattr(watcher, name, None)):
                raise SessionError(f"watch: {type(watcher).__name__} has no {name}(session, ...) method")
        if watcher not in self.watchers:
            self.watchers.append(watcher)
            if self.forecast is not None:
                watcher.on_step(self, self.forecast)
        return watcher

    def unwatch(self, watcher) -> None:
        if watcher in self.watchers:
            self.watchers.remove(watcher)

    def _batched(self) -> contextlib.ExitStack:
        stack = contextlib.ExitStack()
        for w in self.watchers:
            if hasattr(w, "batch"):
                stack.enter_context(w.batch())
        return stack

    def lab(self, **kwargs):
        """A Physics Lab widget following this session (see ``PhysicsLab.from_session``)."""
        from marketphys.widgets.lab import PhysicsLab
        return PhysicsLab.from_session(self, **kwargs)

    def charts(self, lab=None, max_points: int | None = None, tz: str = "UTC") -> dict:
        """Altair charts of the run so far: actual vs predicted (with the forecast's quantile band), rolling
        error by horizon, θ over time; times on a 24 h clock in ``tz`` (e.g. "America/Chicago"); pre-aggregated
        so a whole day never meets Altair's row limit. In a notebook Vega renders offline (no CDN)."""
        from marketphys.widgets.charts import session_charts
        return session_charts(self, lab=lab, max_points=max_points, tz=tz)

    def seek(self, t) -> Forecast | None:
        """Step until the frame at time ``t`` (or the first after it) has been processed."""
        target = to_ts_ns(t)
        if self.frame is not None and target < self.frame.ts_ns:
            if not self.source.restartable:
                raise SessionError("cannot seek back on a live stream: it cannot be replayed from the start")
            self.reset()
        with self._batched():
            while self.frame is None or self.frame.ts_ns < target:
                if self.step() is None:
                    raise SessionError(f"seek({t!r}): the source ended at "
                                       f"{None if self.frame is None else self.frame.ts_ns} before {target}")
        return self.forecast

    def run(self, until=None, n: int | None = None, progress: bool = True) -> "Session":
        """Step to the end (or until time ``until`` / ``n`` more frames) with a progress bar."""
        from tqdm.auto import tqdm

        target = None if until is None else to_ts_ns(until)
        total = n
        if total is None and target is None:
            try:
                total = max(len(self.source) - self.n_steps, 0)
            except TypeError:
                total = None
        done = 0
        with self._batched(), tqdm(total=total, disable=not progress, desc="replay", unit="frame", leave=False) as bar:
            while not self.exhausted and (n is None or done < n):
                if target is not None and self.frame is not None and self.frame.ts_ns >= target:
                    break
                if self.step() is None:
                    break
                done += 1
                bar.update(1)
        if self._log is not None:
            self._log.flush()
        return self

    def close(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- what a quant looks at -----------------------------------------------------------------
    @property
    def theta(self) -> Theta:
        return self.engine.theta

    @property
    def fields(self):
        return self.engine.fields

    @property
    def ledger(self) -> Ledger:
        return self.engine.ledger

    @property
    def walls(self) -> pd.DataFrame:
        """The wall set now: id, centre price, strength, width, decay, reinforcement, age."""
        rows = [{"wall_id": w.wall_id, "center": w.center, "strength": w.strength, "width_ticks": w.width,
                 "decay": w.decay, "reinforcement": w.reinforcement, "d_strength": w.d_strength, "age": w.age}
                for w in self.engine.walls.snapshot()]
        return pd.DataFrame(rows, columns=["wall_id", "center", "strength", "width_ticks", "decay", "reinforcement",
                                           "d_strength", "age"])

    def fields_frame(self) -> pd.DataFrame:
        """The medium now over the grid: x (ticks from spot), price, U, C, G, O, D."""
        f = self.engine.fields
        if f is None or self.frame is None:
            return pd.DataFrame(columns=["x_ticks", "price", "U", "C", "G", "O", "D"])
        grid = self.config.grid
        return pd.DataFrame({"x_ticks": grid.x, "price": self.frame.spot + grid.x * self.frame.tick_size,
                             **{k: np.asarray(getattr(f, k)) for k in ("U", "C", "G", "O", "D")}})

    def forecast_frame(self) -> pd.DataFrame:
        """The latest forecasts: one row per horizon, engine and baselines, in prices."""
        if self.forecast is None:
            return pd.DataFrame()
        fc = self.forecast
        d = {"horizon": np.arange(1, fc.x_hat.shape[0] + 1), "seconds": fc.horizons_s, "engine": fc.prices}
        for name, x in self.baseline_forecasts.items():
            d[name] = fc.spot + x * fc.tick_size
        return pd.DataFrame(d)

    def head_frame(self) -> pd.DataFrame:
        """The forecast head now, per horizon: blend β, skill gates (mean, median), learned D, band scale k."""
        h = self.engine.head
        H = h.H
        return pd.DataFrame({"horizon": np.arange(1, H + 1), "seconds": np.arange(1, H + 1) * h.dt, "beta": h.beta,
                             "gate_mean": h.gate_mean, "gate_median": h.gate_median, "D": h.D, "k": h.k,
                             "n_resolved": h.n_resolved})

    def theta_history(self) -> pd.DataFrame:
        """θ used at each origin (after learning from everything resolved by then)."""
        th = np.array(self._theta_rows) if self._theta_rows else np.zeros((0, len(PARAM_NAMES)))
        return pd.DataFrame({"ts_ns": np.array(self._theta_ts, dtype=np.int64),
                             **{n: th[:, i] for i, n in enumerate(PARAM_NAMES)}})

    def histories(self) -> dict[str, pd.DataFrame]:
        """Scored histories: the engine's head (mean, median, bands), every baseline with bands from its own
        rolling residuals, and ``physics``, the raw rollout the head blends with no change."""
        return {"engine": self.engine.head.history(), **{n: h.history() for n, h in self.heads.items()},
                "physics": self.engine.ledger.history()}

    def scorecard(self, hln: bool = False) -> Scorecard:
        return score_histories(self.histories(), primary="engine", dt=self.config.integrator.dt, hln=hln,
                               meta={"source": self.source.describe(), **self.meta})

    def training_window(self) -> dict:
        ts = self._theta_ts
        return {"n_frames": len(ts), "first_ts_ns": ts[0] if ts else None, "last_ts_ns": ts[-1] if ts else None,
                "first_utc": _iso(ts[0]) if ts else None, "last_utc": _iso(ts[-1]) if ts else None,
                "source": self.source.describe()}

    def summary(self) -> str:
        tw = self.training_window()
        rate = self.n_steps / self.elapsed_s if self.elapsed_s > 0 else float("nan")
        return (f"{self.n_steps} frames {tw['first_utc']} .. {tw['last_utc']}; {rate:.0f} frames/s; "
                f"θ = {self.theta!r}; walls now {len(self.engine.walls)}; head gates open "
                f"{self.engine.head.gate_mean.astype(int).tolist()} (mean) {self.engine.head.gate_median.astype(int).tolist()} "
                f"(median); backend {self.backend}")

    @property
    def backend(self) -> str:
        """The kernel backend the engine's rollouts ran on ("msl-cpu", "metal" or "numpy")."""
        return self.engine.backend

    @property
    def backend_reason(self) -> str:
        """Why that backend: the ``auto`` probe's answer, or that it was asked for."""
        return self.engine.backend_reason

    def __repr__(self) -> str:
        at = None if self.frame is None else _iso(self.frame.ts_ns)
        return f"Session({self.source.describe()}, at={at}, steps={self.n_steps}, θ={self.theta!r})"


def baseline_head(cfg: HeadConfig) -> HeadConfig:
    """A baseline's head: its forecast passed through unchanged (mean = median = its point), bands from its
    own rolling residuals with the engine head's D forgetting and coverage rule."""
    import dataclasses

    return dataclasses.replace(cfg, shrink=False, gate=False)


def _iso(ts_ns: int) -> str:
    return dt.datetime.fromtimestamp(ts_ns / 1e9, tz=dt.timezone.utc).isoformat(timespec="milliseconds")
