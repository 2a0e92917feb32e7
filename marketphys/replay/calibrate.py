"""Batch calibration: many independent lanes (day × hyper-parameters), fanned out over days on Dask.

Each day is one Dask task that reads its frames once and runs every hyper-parameter
lane over them (a lane = a fresh engine learning online from θ0 with those settings,
scored against the baselines). Days run in parallel on the local Dask scheduler
(processes by default, since the NumPy engine holds the GIL) or on a
``distributed.Client`` you pass. Backend: the NumPy reference engine; the result
table says which backend produced it.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from marketphys.core.engine import EngineConfig
from marketphys.core.theta import PARAM_NAMES

TUNABLE = ("forgetting", "damping", "huber_delta", "prior_strength", "learn")


def hyper_grid(**axes: Sequence) -> list[dict]:
    """Cartesian product of settings, e.g. ``hyper_grid(forgetting=[0.99, 0.999], damping=[0.1, 1.0])``."""
    bad = [k for k in axes if k not in TUNABLE]
    if bad:
        raise ValueError(f"hyper_grid: cannot tune {bad}; tunable settings are {TUNABLE}")
    keys = list(axes)
    return [dict(zip(keys, vals)) for vals in itertools.product(*(axes[k] for k in keys))] or [{}]


def _run_day(label: str, source, producers, base: EngineConfig, lanes: list[dict], theta0) -> list[dict]:
    from marketphys.replay.session import Session
    from marketphys.replay.sources import as_source

    src = as_source(source)
    frames = list(src)
    rows = []
    for i, hp in enumerate(lanes):
        cfg = dataclasses.replace(base, **hp)
        s = Session(frames, producers=producers, config=cfg, theta0=theta0)
        s.run(progress=False)
        card = s.scorecard()
        rm = card.metric("rmse")
        sk = card.metric("skill")
        row = {"day": label, "lane": i, **hp, "n_frames": s.n_steps, "backend": "numpy",
               **{f"theta_{n}": float(v) for n, v in zip(PARAM_NAMES, s.theta.values)}}
        for h in rm.index:
            row[f"rmse_h{h}"] = float(rm.loc[h, "engine"])
            row[f"skill_h{h}"] = float(sk.loc[h, "engine"])
        row["mean_skill"] = float(np.nanmean([row[k] for k in row if k.startswith("skill_h")])) if len(rm) else float("nan")
        rows.append(row)
    return rows


def calibrate(days: Mapping[str, object], lanes: Sequence[dict] | None = None, producers=None,
              config: EngineConfig | None = None, theta0=None, scheduler: str = "processes", client=None,
              progress: bool = True) -> pd.DataFrame:
    """One row per (day, lane): settings, final θ, RMSE and skill per horizon. ``days``: label -> source.

    Sources are lists of frames or ``LakeSource``s (use ``lake_days(lake, dates)``).
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
    if producers is None:
        from marketphys.replay.producers import lake_producers
        producers = lake_producers()
    base = config or EngineConfig()
    if client is not None:
        from distributed import as_completed
        futs = [client.submit(_run_day, k, v, producers, base, lanes, theta0, pure=False) for k, v in days.items()]
        out = []
        for f in tqdm(as_completed(futs), total=len(futs), disable=not progress, desc="calibration days"):
            out.extend(f.result())
    else:
        tasks = [dask.delayed(_run_day)(k, v, producers, base, lanes, theta0) for k, v in days.items()]
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


def lake_days(lake, dates: Sequence[str] | None = None, product: str = "ES") -> dict:
    """Day label -> LakeSource for each date (all dates with futures snaps when None)."""
    from marketphys.pipeline import lake as lakemod
    from marketphys.pipeline.contracts import by_surface
    from marketphys.replay.sources import LakeSource

    dates = list(dates) if dates else lakemod.list_dates(lake, by_surface()["snap"].name, product)
    return {d: LakeSource(lake, date=d, product=product) for d in dates}
