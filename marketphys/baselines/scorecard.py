"""The forecast scorecard: per horizon n, MAE, RMSE, direction hit rate, skill vs random walk, DM tests.

Input is one ledger history per forecaster (origin_ts_ns, horizon, x_hat, actual,
status). Only origins resolved for *every* forecaster are scored, so all numbers in
a row are on the same targets. Errors are in ticks. ``hit_rate`` counts, among the
targets where the price actually moved, the share whose forecast had the same sign
(a forecast of exactly no move is a miss: the random walk never calls a direction).
``skill`` is 1 − MSE/MSE(random walk). The DM statistic is negative when the engine's
squared error is smaller than the baseline's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np
import pandas as pd

from marketphys.baselines.dm import diebold_mariano

SCHEMA = "marketphys.scorecard/1"
KEY = ["origin_ts_ns", "horizon"]


class ScorecardError(ValueError):
    """The histories cannot be scored honestly; the message names the forecaster and the problem."""


def _resolved(name: str, hist: pd.DataFrame) -> pd.DataFrame:
    need = {"origin_ts_ns", "horizon", "x_hat", "actual"}
    missing = need - set(hist.columns)
    if missing:
        raise ScorecardError(f"history of {name!r} lacks columns {sorted(missing)}; pass Ledger.history() output")
    h = hist
    if "status" in h.columns:
        h = h[h["status"].astype(str) == "resolved"]
    h = h[np.isfinite(h["actual"].to_numpy(dtype=float))]
    if len(h) and int(h["horizon"].min()) < 1:
        raise ScorecardError(f"history of {name!r} has horizon {int(h['horizon'].min())}: a horizon-0 'forecast' is a "
                             f"contemporaneous fit, not forecast skill")
    if h.duplicated(KEY).any():
        raise ScorecardError(f"history of {name!r} has repeated (origin_ts_ns, horizon) rows")
    return h[KEY + ["x_hat", "actual"]]


def hit_rate(x_hat: np.ndarray, actual: np.ndarray) -> float:
    moved = actual != 0
    if not moved.any():
        return float("nan")
    return float(np.mean(np.sign(x_hat[moved]) == np.sign(actual[moved])))


@dataclass
class Scorecard:
    """Per-horizon metrics of every forecaster on a common sample, and DM tests of the primary one."""

    table: pd.DataFrame                  # one row per (horizon, forecaster)
    dm: pd.DataFrame                     # one row per (horizon, baseline): stat, p_value, n
    primary: str = "engine"
    dt: float = 0.5
    meta: dict = field(default_factory=dict)

    @property
    def forecasters(self) -> list[str]:
        return list(dict.fromkeys(self.table["forecaster"]))

    def metric(self, name: str) -> pd.DataFrame:
        """horizon × forecaster matrix of one metric (e.g. 'rmse')."""
        return self.table.pivot(index="horizon", columns="forecaster", values=name)[self.forecasters]

    def to_dict(self) -> dict:
        horizons: dict[str, dict] = {}
        for h, rows in self.table.groupby("horizon", sort=True):
            per: dict[str, dict] = {}
            for r in rows.itertuples(index=False):
                per[r.forecaster] = {"n": int(r.n), "mae": _f(r.mae), "rmse": _f(r.rmse), "hit_rate": _f(r.hit_rate),
                                     "skill_vs_random_walk": _f(r.skill)}
            if self.primary in per:
                d = self.dm[self.dm["horizon"] == h]
                per[self.primary]["dm"] = {b: {"stat": _f(s), "p_value": _f(p)}
                                           for b, s, p in zip(d["baseline"], d["stat"], d["p_value"])}
            horizons[str(int(h))] = {"seconds": float(h) * self.dt, **per}
        return {"schema": SCHEMA, "primary": self.primary, "loss": "squared error (ticks^2) for DM",
                "dm_variance": "HAC, rectangular kernel to lag h-1 (Newey-West if not positive)",
                "forecasters": self.forecasters, "horizons": horizons, **self.meta}

    def to_json(self, path=None, indent: int = 2) -> str:
        text = json.dumps(self.to_dict(), indent=indent, allow_nan=False)
        if path is not None:
            from marketphys.atomic import atomic_write_text
            atomic_write_text(path, text + "\n")
        return text

    def beats(self, baseline: str = "random_walk", alpha: float = 0.05) -> pd.Series:
        """Per horizon: does the primary have lower RMSE *and* a significant DM test vs ``baseline``?"""
        rm = self.metric("rmse")
        d = self.dm[self.dm["baseline"] == baseline].set_index("horizon")
        return (rm[self.primary] < rm[baseline]) & (d["p_value"] < alpha) & (d["stat"] < 0)

    def charts(self):
        from marketphys.baselines.charts import scorecard_charts
        return scorecard_charts(self)

    def _repr_html_(self) -> str:
        return self.table.to_html(index=False, float_format=lambda v: f"{v:.4g}")

    def __str__(self) -> str:
        t = self.table.copy()
        cols = ["horizon", "forecaster", "n", "mae", "rmse", "hit_rate", "skill"]
        s = t[cols].to_string(index=False, float_format=lambda v: f"{v:.4f}")
        if len(self.dm):
            s += "\n\nDiebold-Mariano, " + self.primary + " vs baseline (negative: " + self.primary + " better)\n"
            s += self.dm.to_string(index=False, float_format=lambda v: f"{v:.4g}")
        return s


def _f(v) -> float | None:
    v = float(v)
    return v if np.isfinite(v) else None


def score_histories(histories: Mapping[str, pd.DataFrame], primary: str = "engine", reference: str = "random_walk",
                    dt: float = 0.5, hln: bool = False, meta: dict | None = None) -> Scorecard:
    """Score forecasters on the (origin, horizon) targets every one of them resolved."""
    if not histories:
        raise ScorecardError("no forecaster histories to score")
    names = list(histories)
    common = None
    cleaned = {}
    for name in names:
        h = _resolved(name, histories[name]).rename(columns={"x_hat": f"x_hat:{name}", "actual": f"actual:{name}"})
        cleaned[name] = h
        common = h if common is None else common.merge(h, on=KEY, how="inner")
    common = common.sort_values(KEY, kind="stable").reset_index(drop=True)
    for name in names[1:]:
        a0, a1 = common[f"actual:{names[0]}"].to_numpy(dtype=float), common[f"actual:{name}"].to_numpy(dtype=float)
        if not np.allclose(a0, a1, rtol=0, atol=1e-9):
            i = int(np.flatnonzero(~np.isclose(a0, a1, rtol=0, atol=1e-9))[0])
            raise ScorecardError(f"forecasters {names[0]!r} and {name!r} disagree on what happened at origin "
                                 f"{common['origin_ts_ns'].iloc[i]} h={common['horizon'].iloc[i]}: {a0[i]} vs {a1[i]}")
    rows, dm_rows = [], []
    H = sorted(int(h) for h in common["horizon"].unique()) if len(common) else []
    for h in H:
        c = common[common["horizon"] == h]
        actual = c[f"actual:{names[0]}"].to_numpy(dtype=float)
        err = {n: actual - c[f"x_hat:{n}"].to_numpy(dtype=float) for n in names}
        mse_ref = float(np.mean(err[reference] ** 2)) if reference in err and len(actual) else float("nan")
        for n in names:
            e = err[n]
            mse = float(np.mean(e * e)) if e.size else float("nan")
            rows.append({"horizon": h, "seconds": h * dt, "forecaster": n, "n": int(e.size),
                         "mae": float(np.mean(np.abs(e))) if e.size else float("nan"), "rmse": float(np.sqrt(mse)),
                         "hit_rate": hit_rate(c[f"x_hat:{n}"].to_numpy(dtype=float), actual),
                         "skill": 1.0 - mse / mse_ref if mse_ref > 0 else float("nan")})
        if primary in err:
            for n in names:
                if n == primary:
                    continue
                r = diebold_mariano(err[primary], err[n], horizon=h, hln=hln)
                dm_rows.append({"horizon": h, "baseline": n, "stat": r.stat, "p_value": r.p_value, "n": r.n,
                                "mean_loss_diff": r.mean_diff})
    table = pd.DataFrame(rows, columns=["horizon", "seconds", "forecaster", "n", "mae", "rmse", "hit_rate", "skill"])
    dm = pd.DataFrame(dm_rows, columns=["horizon", "baseline", "stat", "p_value", "n", "mean_loss_diff"])
    m = {"n_origins": int(common["origin_ts_ns"].nunique()) if len(common) else 0}
    if len(common):
        m["first_origin_ts_ns"] = int(common["origin_ts_ns"].min())
        m["last_origin_ts_ns"] = int(common["origin_ts_ns"].max())
    m.update(meta or {})
    return Scorecard(table=table, dm=dm, primary=primary if primary in names else names[0], dt=dt, meta=m)
