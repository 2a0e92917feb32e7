"""A whole day through the replay kernel: the engine's online loop for every frame in one dispatch per block.

``Session`` steps the engine frame by frame (~120 frames/s in NumPy: a 46,800-frame RTH
day takes 6-7 minutes). ``replay_day`` runs the same loop in the kernels' replay
program instead: the producers run once in Python (``ReplayBlock.from_frames``), then
composition, rollout, ledger and Gauss-Newton learning run per frame in the kernel
(``backend.calibrate(..., trace=True)`` returns the forecast and θ of every frame).
The baselines and every ledger are evaluated over the day's arrays
(``marketphys.baselines.batch``) under the same resolution rules, so the scorecard
compares the same (origin, horizon) targets as a Session's.

The kernels compute in float32, so forecasts agree with the NumPy Session to ~1e-4
ticks, not bit for bit (tested); for an exact, steppable run use ``Session``.
``DayReplay.session_at(i)`` rebuilds a steppable Session around frame i (θ from the
trace, walls warmed up over the preceding frames) for figures of a moment.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

from marketphys.baselines.batch import baseline_forecasts, ledger_history
from marketphys.baselines.scorecard import Scorecard, score_histories
from marketphys.core.engine import EngineConfig
from marketphys.core.frame import MarketFrame
from marketphys.core.theta import PARAM_NAMES, Theta


@dataclass
class DayReplay:
    """What a whole-day kernel replay produced: per-frame forecasts and θ, the baselines, the final θ."""

    frames: list[MarketFrame]
    producers: list
    config: EngineConfig
    theta0: np.ndarray
    backend: str
    x_hat: np.ndarray                     # (F, H) engine forecasts, ticks from each frame's spot
    theta_trace: np.ndarray               # (F, P) θ used for each forecast
    final_theta: np.ndarray               # (P,) θ after learning from everything resolved
    baseline_x: dict[str, np.ndarray]     # name -> (F, H)
    timings: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)
    head: object = None
    _histories: dict | None = field(default=None, repr=False)

    @property
    def n_steps(self) -> int:
        return len(self.frames)

    @property
    def theta(self) -> Theta:
        return Theta(self.final_theta.copy())

    def _arrays(self):
        ts = np.fromiter((f.ts_ns for f in self.frames), np.int64, len(self.frames))
        spot = np.fromiter((f.spot for f in self.frames), np.float64, len(self.frames))
        tick = np.fromiter((f.tick_size for f in self.frames), np.float64, len(self.frames))
        return ts, spot, tick

    def histories(self, baselines: bool = True) -> dict[str, pd.DataFrame]:
        """As ``Session.histories``: the engine's head over the kernel's rollouts (Gaussian bands from the
        learned D: no ensemble runs in the replay kernel), baselines with residual bands, raw ``physics``."""
        from marketphys.core.head import head_over_day
        from marketphys.replay.session import baseline_head

        ts, spot, tick = self._arrays()
        dt_ns, dt = self.config.dt_ns, self.config.integrator.dt
        out = self._histories if self._histories is not None else {}
        if "engine" not in out:
            out["engine"], self.head = head_over_day(ts, spot, tick, self.x_hat, dt, self.config.head)
            out["physics"] = ledger_history(ts, spot, tick, self.x_hat, dt_ns)
        if baselines:
            for name, x in self.baseline_x.items():
                if name not in out:
                    out[name], _ = head_over_day(ts, spot, tick, x, dt, baseline_head(self.config.head))
        self._histories = out
        if not baselines:
            return {k: out[k] for k in ("engine", "physics")}
        # Session's order: the engine, the baselines, the raw rollout
        return {"engine": out["engine"], **{n: out[n] for n in self.baseline_x}, "physics": out["physics"]}

    def scorecard(self, hln: bool = False) -> Scorecard:
        return score_histories(self.histories(), primary="engine", dt=self.config.integrator.dt, hln=hln,
                               meta={"source": {"kind": "frames", "n_frames": self.n_steps}, "backend": self.backend,
                                     **self.meta})

    def theta_history(self) -> pd.DataFrame:
        ts, _, _ = self._arrays()
        return pd.DataFrame({"ts_ns": ts, **{n: self.theta_trace[:, i] for i, n in enumerate(PARAM_NAMES)}})

    def training_window(self) -> dict:
        from marketphys.replay.session import _iso

        ts = [self.frames[0].ts_ns, self.frames[-1].ts_ns] if self.frames else []
        return {"n_frames": self.n_steps, "first_ts_ns": ts[0] if ts else None, "last_ts_ns": ts[-1] if ts else None,
                "first_utc": _iso(ts[0]) if ts else None, "last_utc": _iso(ts[-1]) if ts else None,
                "source": {"kind": "frames", "n_frames": self.n_steps, "backend": self.backend, **self.meta}}

    def summary(self) -> str:
        tw = self.training_window()
        secs = self.timings.get("kernel_s", float("nan"))
        return (f"{self.n_steps} frames {tw['first_utc']} .. {tw['last_utc']} on {self.backend} "
                f"({self.n_steps / secs:.0f} frames/s in the kernel); θ = {self.theta!r}")

    def session_at(self, i: int, warmup: int = 240):
        """A reference ``Session`` stepped up to frame ``i`` (inclusive), for figures of that moment.

        It starts ``warmup`` frames earlier with θ frozen at the value the kernel used at frame
        i (learning off), so producers' smoothing and the wall memory are warm and the
        forecast at i is the whole-day run's (to float32 and the warm-up's wall memory).
        """
        import dataclasses

        from marketphys.replay.session import Session

        if not 0 <= i < self.n_steps:
            raise IndexError(f"session_at: frame {i} outside 0..{self.n_steps - 1}")
        a = max(0, i - warmup)
        s = Session.from_frames(self.frames[a:i + 1], producers=self.producers,
                                config=dataclasses.replace(self.config, learn=False),
                                theta0=self.theta_trace[i].astype(np.float64))
        s.run(progress=False)
        return s


def day_arrays(frames: Sequence[MarketFrame], channels: Sequence[str] = ("ofi", "push", "imbalance")):
    ts = np.fromiter((f.ts_ns for f in frames), np.int64, len(frames))
    spot = np.fromiter((f.spot for f in frames), np.float64, len(frames))
    tick = np.fromiter((f.tick_size for f in frames), np.float64, len(frames))
    scal = {c: np.fromiter((f.scalars.get(c, 0.0) for f in frames), np.float64, len(frames)) for c in channels}
    for c in channels:
        scal[f"{c}:present"] = np.fromiter((c in f.scalars for f in frames), bool, len(frames))
    return ts, spot, tick, scal


def replay_day(frames: Sequence[MarketFrame], producers=None, config: EngineConfig | None = None, theta0=None,
               baselines=None, backend: str = "auto", block_frames: int = 4096, progress: bool = True,
               meta: dict | None = None) -> DayReplay:
    """Engine (online learning) and baselines over ``frames`` in batch; see the module docstring."""
    from tqdm.auto import tqdm

    from marketphys.baselines.forecasters import default_baselines
    from marketphys.kernels import get_backend, hyper_from_engine
    from marketphys.kernels.replay import ReplayBlock

    frames = list(frames)
    if not frames:
        raise ValueError("replay_day: no frames")
    if producers is None:
        from marketphys.frames.producers import lake_producers
        producers = lake_producers()
    config = config or EngineConfig()
    ic = config.integrator
    baselines = default_baselines(ic.horizons, ic.dt) if baselines is None else list(baselines)
    th0 = Theta.coerce(theta0).values
    timings = {}

    t0 = time.perf_counter()
    block = ReplayBlock.from_frames(frames, producers, config)
    timings["producers_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    be = get_backend(backend)
    hyper = hyper_from_engine(config, 1)
    state = None
    xs, ths = [], []
    with tqdm(total=block.n_frames, disable=not progress, desc=f"replay ({be.name})", unit="frame", leave=False) as bar:
        for sub in block.split(block_frames):
            res = be.calibrate(sub, np.asarray(th0, np.float64)[None], hyper, bounds=config.bounds, prior_strength=config.prior_strength,
                               state=state, trace=True)
            state = res.state
            xs.append(res.trace_x[0].astype(np.float64))
            ths.append(res.trace_theta[0].astype(np.float64))
            bar.update(sub.n_frames)
    timings["kernel_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    ts, spot, tick, scal = day_arrays(frames, _scalar_channels(baselines))
    bx = baseline_forecasts(baselines, ts, spot, tick, scal)
    timings["baselines_s"] = time.perf_counter() - t0
    return DayReplay(frames=frames, producers=list(producers), config=config, theta0=np.asarray(th0, np.float64),
                     backend=be.name, x_hat=np.concatenate(xs), theta_trace=np.concatenate(ths),
                     final_theta=np.asarray(res.theta[0], np.float64), baseline_x=bx, timings=timings,
                     meta=dict(meta or {}))


def _scalar_channels(baselines) -> tuple[str, ...]:
    ch = []
    for b in baselines:
        ch.extend(getattr(b, "channels", ()))
    return tuple(dict.fromkeys(ch))
