"""The forecast scorecard: per horizon n, MAE, RMSE, direction hit rate, skill vs random walk, DM tests,
band coverage and pinball loss, and a verdict line per horizon.

Input is one ledger history per forecaster (origin_ts_ns, horizon, x_hat, actual,
status, and optionally q50 and quantile columns q05, q25, ... from a ``ForecastHead``).
Only origins resolved for *every* forecaster are scored, so all numbers in a row are
on the same targets. Errors are in ticks. Each loss scores the point forecast that is
optimal for it: ``rmse`` scores the mean (``x_hat``), ``mae`` the median (``q50``; the
point forecast itself where a forecaster gives no median). ``cover50``/``cover90``
are the shares of outcomes inside [q25, q75] / [q05, q95] (closed), ``pinball`` the
mean quantile (pinball) loss over the levels given; NaN where a forecaster has no bands. ``hit_rate`` counts, among the
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
    q = [c for c in h.columns if _is_qcol(c)]
    out = h[KEY + ["x_hat", "actual"] + q].copy()
    if "q50" not in out.columns:
        out["q50"] = out["x_hat"]
    return out


def _is_qcol(c: str) -> bool:
    if not (isinstance(c, str) and c.startswith("q")):
        return False
    try:
        v = float(c[1:])
    except ValueError:
        return False
    return 0 < v < 100


def _level(c: str) -> float:
    return float(c[1:]) / 100.0


def pinball(actual: np.ndarray, q: np.ndarray, level: float) -> np.ndarray:
    """Quantile (pinball) loss of the level-``level`` forecast q: (τ − 1[y < q])·(y − q)."""
    d = actual - q
    return np.maximum(level * d, (level - 1.0) * d)


VERDICT_ALPHA = 0.05


def verdict(stat: float, p: float, alpha: float = VERDICT_ALPHA) -> str:
    """'better' / 'worse' when DM rejects equal accuracy at ``alpha`` (sign of the statistic), else 'no different'."""
    if not np.isfinite(p) or p >= alpha or stat == 0:
        return "no different"
    return "better" if stat < 0 else "worse"


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
                                     "skill_vs_random_walk": _f(r.skill), "cover50": _f(r.cover50),
                                     "cover90": _f(r.cover90), "pinball": _f(r.pinball)}
            if self.primary in per:
                d = self.dm[self.dm["horizon"] == h]
                per[self.primary]["dm"] = {b: {"stat": _f(s), "p_value": _f(p), "stat_abs": _f(sa),
                                               "p_value_abs": _f(pa)}
                                           for b, s, p, sa, pa in zip(d["baseline"], d["stat"], d["p_value"],
                                                                      d["stat_abs"], d["p_value_abs"])}
            horizons[str(int(h))] = {"seconds": float(h) * self.dt, **per}
        return {"schema": SCHEMA, "primary": self.primary,
                "loss": "rmse scores the mean (x_hat), mae the median (q50); DM on squared error of the mean "
                        "(stat, p_value) and absolute error of the median (stat_abs, p_value_abs)",
                "verdicts": [{k: (_f(v) if isinstance(v, float) else v) for k, v in r.items()}
                             for r in self.verdicts().to_dict(orient="records")],
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

    def verdicts(self, baseline: str = "random_walk", alpha: float = VERDICT_ALPHA) -> pd.DataFrame:
        """Per horizon: the primary's mean (RMSE) and median (MAE) vs ``baseline``: ratio, DM p and verdict."""
        rows = []
        if baseline not in self.forecasters or self.primary == baseline:
            return pd.DataFrame(rows, columns=["horizon", "seconds", "rmse_ratio", "p_value", "verdict", "mae_ratio",
                                               "p_value_abs", "verdict_mae"])
        rm, ma = self.metric("rmse"), self.metric("mae")
        d = self.dm[self.dm["baseline"] == baseline].set_index("horizon")
        for h in rm.index:
            r = d.loc[h]
            rows.append({"horizon": int(h), "seconds": float(h) * self.dt,
                         "rmse_ratio": rm.loc[h, self.primary] / rm.loc[h, baseline], "p_value": float(r["p_value"]),
                         "verdict": verdict(float(r["stat"]), float(r["p_value"]), alpha),
                         "mae_ratio": ma.loc[h, self.primary] / ma.loc[h, baseline],
                         "p_value_abs": float(r["p_value_abs"]),
                         "verdict_mae": verdict(float(r["stat_abs"]), float(r["p_value_abs"]), alpha)})
        return pd.DataFrame(rows)

    def verdict_lines(self, baseline: str = "random_walk", alpha: float = VERDICT_ALPHA) -> list[str]:
        """One line per horizon, e.g. 't+0.5 s: engine mean better than random_walk (RMSE x0.974, DM p 5e-15); ...'."""
        out = []
        for r in self.verdicts(baseline, alpha).itertuples(index=False):
            n = int(self.table[(self.table["horizon"] == r.horizon) & (self.table["forecaster"] == baseline)]["n"].iloc[0])
            out.append(f"t+{r.seconds:g} s (n={n}): {self.primary} mean {r.verdict} than {baseline} "
                       f"(RMSE x{r.rmse_ratio:.3f}, DM p {r.p_value:.2g}); median {r.verdict_mae} "
                       f"(MAE x{r.mae_ratio:.3f}, DM p {r.p_value_abs:.2g})")
        return out

    def _repr_html_(self) -> str:
        return self.table.to_html(index=False, float_format=lambda v: f"{v:.4g}")

    def __str__(self) -> str:
        t = self.table.copy()
        cols = ["horizon", "forecaster", "n", "mae", "rmse", "hit_rate", "skill", "cover50", "cover90", "pinball"]
        s = ("rmse scores each forecaster's mean, mae its median (q50); cover50/cover90: share of outcomes in its "
             "50 %/90 % band\n")
        s += t[cols].to_string(index=False, float_format=lambda v: f"{v:.4f}")
        if len(self.dm):
            s += "\n\nDiebold-Mariano, " + self.primary + " vs baseline (negative: " + self.primary + " better; "
            s += "stat/p_value: squared error of the mean, *_abs: absolute error of the median)\n"
            s += self.dm.to_string(index=False, float_format=lambda v: f"{v:.4g}")
        lines = self.verdict_lines()
        if lines:
            s += "\n\nverdict (DM at 5 %):\n" + "\n".join(lines)
        return s


def _f(v) -> float | None:
    v = float(v)
    return v if np.isfinite(v) else None


def _band_metrics(c: pd.DataFrame, n: str, actual: np.ndarray, qc: list[str]) -> dict:
    """cover50, cover90 and mean pinball loss (over the levels given, q50 included) of forecaster n."""
    out = {"cover50": float("nan"), "cover90": float("nan"), "pinball": float("nan")}
    if not qc or not actual.size:
        return out
    col = {round(_level(q), 6): c[f"{q}:{n}"].to_numpy(dtype=float) for q in qc}
    for name, lo, hi in (("cover50", 0.25, 0.75), ("cover90", 0.05, 0.95)):
        if lo in col and hi in col:
            out[name] = float(np.mean((actual >= col[lo]) & (actual <= col[hi])))
    col[0.5] = c[f"q50:{n}"].to_numpy(dtype=float)
    out["pinball"] = float(np.mean([pinball(actual, v, lv).mean() for lv, v in sorted(col.items())]))
    return out


def score_histories(histories: Mapping[str, pd.DataFrame], primary: str = "engine", reference: str = "random_walk",
                    dt: float = 0.5, hln: bool = False, meta: dict | None = None) -> Scorecard:
    """Score forecasters on the (origin, horizon) targets every one of them resolved."""
    if not histories:
        raise ScorecardError("no forecaster histories to score")
    names = list(histories)
    common = None
    cleaned = {}
    for name in names:
        h = _resolved(name, histories[name])
        h = h.rename(columns={c: f"{c}:{name}" for c in h.columns if c not in KEY})
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
    qcols = {n: [c[:-len(n) - 1] for c in common.columns if c.endswith(f":{n}") and _is_qcol(c[:-len(n) - 1])
                 and c[:-len(n) - 1] != "q50"] for n in names}
    H = sorted(int(h) for h in common["horizon"].unique()) if len(common) else []
    for h in H:
        c = common[common["horizon"] == h]
        actual = c[f"actual:{names[0]}"].to_numpy(dtype=float)
        err = {n: actual - c[f"x_hat:{n}"].to_numpy(dtype=float) for n in names}
        err_med = {n: actual - c[f"q50:{n}"].to_numpy(dtype=float) for n in names}
        mse_ref = float(np.mean(err[reference] ** 2)) if reference in err and len(actual) else float("nan")
        for n in names:
            e = err[n]
            mse = float(np.mean(e * e)) if e.size else float("nan")
            rows.append({"horizon": h, "seconds": h * dt, "forecaster": n, "n": int(e.size),
                         "mae": float(np.mean(np.abs(err_med[n]))) if e.size else float("nan"),
                         "rmse": float(np.sqrt(mse)),
                         "hit_rate": hit_rate(c[f"x_hat:{n}"].to_numpy(dtype=float), actual),
                         "skill": 1.0 - mse / mse_ref if mse_ref > 0 else float("nan"),
                         **_band_metrics(c, n, actual, qcols.get(n, []))})
        if primary in err:
            for n in names:
                if n == primary:
                    continue
                r = diebold_mariano(err[primary], err[n], horizon=h, hln=hln)
                ra = diebold_mariano(err_med[primary], err_med[n], horizon=h, loss="absolute", hln=hln)
                dm_rows.append({"horizon": h, "baseline": n, "stat": r.stat, "p_value": r.p_value, "n": r.n,
                                "mean_loss_diff": r.mean_diff, "stat_abs": ra.stat, "p_value_abs": ra.p_value})
    table = pd.DataFrame(rows, columns=["horizon", "seconds", "forecaster", "n", "mae", "rmse", "hit_rate", "skill",
                                        "cover50", "cover90", "pinball"])
    dm = pd.DataFrame(dm_rows, columns=["horizon", "baseline", "stat", "p_value", "n", "mean_loss_diff", "stat_abs",
                                        "p_value_abs"])
    m = {"n_origins": int(common["origin_ts_ns"].nunique()) if len(common) else 0}
    if len(common):
        m["first_origin_ts_ns"] = int(common["origin_ts_ns"].min())
        m["last_origin_ts_ns"] = int(common["origin_ts_ns"].max())
    m.update(meta or {})
    return Scorecard(table=table, dm=dm, primary=primary if primary in names else names[0], dt=dt, meta=m)
