"""Batch calibration: many independent lanes (day × hyper-parameters), fanned out over days on Dask.

Each day is one Dask task that reads its frames once and runs every hyper-parameter
lane over them (a lane = a fresh engine learning online from θ0 with those settings,
scored against the baselines). Days run in parallel on the local Dask scheduler
(processes by default) or on a ``distributed.Client`` you pass.

``backend="auto"`` (the default) runs all lanes of a day in one call of the replay
kernel on the fastest local backend (Metal, else msl-cpu, else the NumPy lanes): the
producers run once per day in Python, every lane's whole online loop runs in the
kernel, and the baselines are scored once per day over the day's arrays.
``backend="session"`` steps the reference ``Session`` lane by lane (exact float64,
slow). The result table says which backend produced each row.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from marketphys.core.engine import EngineConfig
from marketphys.core.learner import LEARNER_FIELDS
from marketphys.core.theta import PARAM_NAMES

TUNABLE = LEARNER_FIELDS
"""Every ``LearnerConfig`` setting: both the kernel lanes and the reference session honour each one."""


def hyper_grid(**axes: Sequence) -> list[dict]:
    """Cartesian product of settings, e.g. ``hyper_grid(forgetting=[0.99, 0.999], damping=[0.1, 1.0])``."""
    bad = [k for k in axes if k not in TUNABLE]
    if bad:
        raise ValueError(f"hyper_grid: cannot tune {bad}; tunable settings are {TUNABLE}")
    keys = list(axes)
    return [dict(zip(keys, vals)) for vals in itertools.product(*(axes[k] for k in keys))] or [{}]


def _day_frames(source) -> list:
    if hasattr(source, "day_frames"):          # a lake day: assembled at once (same frames as iterating)
        return source.day_frames()
    from marketphys.frames.sources import as_source

    return list(as_source(source))


def _row(label: str, lane: int, hp: dict, n_frames: int, backend: str, theta, card) -> dict:
    rm, sk = card.metric("rmse"), card.metric("skill")
    row = {"day": label, "lane": lane, **hp, "n_frames": n_frames, "backend": backend,
           **{f"theta_{n}": float(v) for n, v in zip(PARAM_NAMES, theta)}}
    for h in rm.index:
        row[f"rmse_h{h}"] = float(rm.loc[h, "engine"])
        row[f"skill_h{h}"] = float(sk.loc[h, "engine"])
    row["mean_skill"] = float(np.nanmean([row[k] for k in row if k.startswith("skill_h")])) if len(rm) else float("nan")
    return row


def _run_day_session(label: str, frames: list, producers, base: EngineConfig, lanes: list[dict], theta0) -> list[dict]:
    from marketphys.baselines.scorecard import score_histories
    from marketphys.replay.session import Session

    rows = []
    for i, hp in enumerate(lanes):
        s = Session(frames, producers=producers, config=dataclasses.replace(base, **hp), theta0=theta0)
        s.run(progress=False)
        # the lanes differ in how θ learns: score the raw rollout (as the kernel path does), not the head
        hist = s.histories()
        hist = {"engine": hist.pop("physics"), **{k: v for k, v in hist.items() if k != "engine"}}
        card = score_histories(hist, primary="engine", dt=s.config.integrator.dt)
        rows.append(_row(label, i, hp, s.n_steps, "session", s.theta.values, card))
    return rows


def _run_day_kernel(label: str, frames: list, producers, base: EngineConfig, lanes: list[dict], theta0,
                    backend: str) -> list[dict]:
    """Every lane of one day in one replay-kernel call; baselines scored once for all lanes."""
    from marketphys.baselines.batch import baseline_forecasts, ledger_history
    from marketphys.baselines.forecasters import default_baselines
    from marketphys.baselines.scorecard import score_histories
    from marketphys.core.theta import Theta
    from marketphys.kernels import get_backend, hyper_from_engine
    from marketphys.kernels.replay import ReplayBlock
    from marketphys.replay.batch import _scalar_channels, day_arrays

    cfgs = [dataclasses.replace(base, **hp) for hp in lanes]
    ic = base.integrator
    block = ReplayBlock.from_frames(frames, producers, base)
    be = get_backend(backend)
    th0 = Theta.coerce(theta0).values
    res = be.calibrate(block, np.tile(th0, (len(cfgs), 1)), np.concatenate([hyper_from_engine(c, 1) for c in cfgs]),
                       bounds=base.bounds, prior_strength=np.array([c.prior_strength for c in cfgs]), trace=True)
    baselines = default_baselines(ic.horizons, ic.dt)
    ts, spot, tick, scal = day_arrays(frames, _scalar_channels(baselines))
    base_hist = {name: ledger_history(ts, spot, tick, x, base.dt_ns)
                 for name, x in baseline_forecasts(baselines, ts, spot, tick, scal).items()}
    rows = []
    for i, hp in enumerate(lanes):
        hist = {"engine": ledger_history(ts, spot, tick, res.trace_x[i].astype(np.float64), base.dt_ns), **base_hist}
        card = score_histories(hist, primary="engine", dt=ic.dt)
        rows.append(_row(label, i, hp, len(frames), be.name, np.asarray(res.theta[i], np.float64), card))
    return rows


def _run_day(label: str, source, producers, base: EngineConfig, lanes: list[dict], theta0, backend: str) -> list[dict]:
    frames = _day_frames(source)
    if backend == "session":
        return _run_day_session(label, frames, producers, base, lanes, theta0)
    return _run_day_kernel(label, frames, producers, base, lanes, theta0, backend)


def calibrate(days: Mapping[str, object], lanes: Sequence[dict] | None = None, producers=None,
              config: EngineConfig | None = None, theta0=None, scheduler: str = "processes", client=None,
              progress: bool = True, backend: str = "auto") -> pd.DataFrame:
    """One row per (day, lane): settings, final θ, RMSE and skill per horizon of the raw rollout (what the lanes change; the head is scored elsewhere). ``days``: label -> source.

    Sources are lists of frames or ``LakeSource``s (use ``lake_days(lake, dates)``).
    ``backend``: "auto", "msl-cpu", "metal", "numpy" (all lanes in the replay kernel) or
    "session" (the float64 reference Session, lane by lane).
    """
    import dask
    from tqdm.auto import tqdm

    if not days:
        raise ValueError("calibrate: no days given")
    lanes = list(lanes) if lanes else [{}]
    for hp in lanes:
        bad = [k for k in hp if k not in TUNABLE]
        if bad:
            raise ValueError(f"calibrate: lane {hp} sets {bad}; tunable settings are {TUNABLE}")
    if backend != "session":
        from marketphys.kernels import get_backend

        get_backend(backend)       # fail here, once, with the backend's own message
    if producers is None:
        from marketphys.frames.producers import lake_producers
        producers = lake_producers()
    base = config or EngineConfig()
    if client is not None:
        from distributed import as_completed
        futs = [client.submit(_run_day, k, v, producers, base, lanes, theta0, backend, pure=False) for k, v in days.items()]
        out = []
        for f in tqdm(as_completed(futs), total=len(futs), disable=not progress, desc="calibration days"):
            out.extend(f.result())
    else:
        tasks = [dask.delayed(_run_day)(k, v, producers, base, lanes, theta0, backend) for k, v in days.items()]
        bar = tqdm(total=len(tasks), disable=not progress, desc="calibration days")
        from dask.callbacks import Callback

        class _Progress(Callback):
            def _posttask(self, key, result, dsk, state, id):
                if isinstance(key, tuple) and str(key[0]).startswith("_run_day") or str(key).startswith("_run_day"):
                    bar.update(1)

        with _Progress():
            results = dask.compute(*tasks, scheduler=scheduler if len(tasks) > 1 else "sync")
        bar.close()
        out = [r for rows in results for r in rows]
    return pd.DataFrame(out).sort_values(["day", "lane"]).reset_index(drop=True)


def summarize(table: pd.DataFrame) -> pd.DataFrame:
    """Per lane across days: mean skill per horizon and θ spread; best lane first."""
    hp_cols = [c for c in table.columns if c in TUNABLE]
    metric_cols = [c for c in table.columns if c.startswith(("skill_h", "rmse_h", "theta_")) or c == "mean_skill"]
    g = table.groupby("lane")
    out = g[metric_cols].mean()
    out["days"] = g.size()
    for c in hp_cols:
        out[c] = g[c].first()
    return out[hp_cols + ["days"] + metric_cols].sort_values("mean_skill", ascending=False)


def lake_days(lake, dates: Sequence[str] | None = None, product: str | None = None) -> dict:
    """Day label -> LakeSource for each date (all dates with futures snaps when None)."""
    from marketphys.pipeline import lake as lakemod
    from marketphys.pipeline.contracts import by_surface
    from marketphys.frames.sources import LakeSource

    product = lakemod.resolve_product(lake, product, by_surface()["snap"].name)
    dates = list(dates) if dates else lakemod.list_dates(lake, by_surface()["snap"].name, product)
    return {d: LakeSource(lake, date=d, product=product) for d in dates}
