"""Altair charts of the run: actual vs predicted per horizon (with the ensemble band),
error by horizon over time, and θ over time.

Every function takes plain DataFrames (from ``engine.ledger.history()`` and the lab's
frame history) and returns an ``alt.Chart``. A whole day is 172,800 frames × H rows, so
inputs are pre-aggregated into time bins so a chart embeds at most ``max_points`` rows before they
reach Vega: a user never meets Altair's MaxRowsError. ``LiveCharts`` wraps them in
``alt.JupyterChart`` widgets that update in place after each step.
"""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from marketphys.core.theta import PARAM_NAMES

DEFAULT_MAX_POINTS = 4000
"""Rows a chart embeds in total (all series together), safely under Altair's 5000-row limit."""


def _check_columns(df: pd.DataFrame, need: tuple[str, ...], what: str) -> None:
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise ValueError(f"{what}: DataFrame is missing columns {missing}; got {list(df.columns)}")


def _time_bins(ts_ns: pd.Series, max_points: int) -> pd.Series:
    """Bin integer-ns timestamps into at most ``max_points`` equal-width bins (bin start, as datetime)."""
    t = ts_ns.to_numpy(dtype=np.int64)
    if t.size == 0:
        return pd.Series(pd.to_datetime(t), index=ts_ns.index)
    lo, hi = int(t.min()), int(t.max())
    width = max(1, -(-(hi - lo + 1) // max(1, max_points)))
    return pd.Series(pd.to_datetime(lo + (t - lo) // width * width), index=ts_ns.index)


def forecast_table(history: pd.DataFrame, frames=None, dt: float = 0.5, tick_size: float | None = None) -> pd.DataFrame:
    """One row per (origin, horizon): target time, predicted/actual price, band prices if the lab has them.

    ``history`` is ``engine.ledger.history()``; ``frames`` the lab's ``history`` (LabFrames) for bands;
    ``tick_size`` converts ticks to prices when there are no lab frames to take it from (default 0.25, ES).
    """
    _check_columns(history, ("origin_ts_ns", "horizon", "spot", "x_hat", "actual"), "forecast_table")
    df = history.copy()
    tick = 0.25 if tick_size is None else float(tick_size)
    if frames:
        tick = frames[0].tick_size
        bands = {f.ts_ns: (f.band_lo, f.band_hi) for f in frames if f.band_lo is not None}
        lo = [bands.get(o, (None, None))[0] for o in df["origin_ts_ns"]]
        df["band_lo"] = [np.nan if b is None else b[h - 1] for b, h in zip(lo, df["horizon"])]
        hi = [bands.get(o, (None, None))[1] for o in df["origin_ts_ns"]]
        df["band_hi"] = [np.nan if b is None else b[h - 1] for b, h in zip(hi, df["horizon"])]
    df["target_ts_ns"] = df["origin_ts_ns"] + (df["horizon"] * dt * 1e9).astype(np.int64)
    df["predicted"] = df["spot"] + df["x_hat"] * tick
    df["actual_price"] = df["spot"] + df["actual"] * tick
    for c in ("band_lo", "band_hi"):
        if c in df:
            df[c + "_price"] = df["spot"] + df[c] * tick
    df["horizon_s"] = (df["horizon"] * dt).map(lambda s: f"+{s:.1f}s")
    return df


def actual_vs_predicted(table: pd.DataFrame, max_points: int = DEFAULT_MAX_POINTS) -> alt.Chart:
    """Actual price vs the forecast for each horizon at its target time, with the ensemble band."""
    _check_columns(table, ("target_ts_ns", "horizon_s", "predicted", "actual_price"), "actual_vs_predicted")
    per = max(1, max_points // max(1, table["horizon_s"].nunique()))
    d = table.assign(time=_time_bins(table["target_ts_ns"], per))
    agg = {"predicted": ("predicted", "mean"), "actual": ("actual_price", "mean")}
    if "band_lo_price" in d:
        agg |= {"lo": ("band_lo_price", "min"), "hi": ("band_hi_price", "max")}
    g = d.groupby(["horizon_s", "time"], as_index=False).agg(**agg)
    base = alt.Chart(g).encode(x=alt.X("time:T", title="target time"))
    pred = base.mark_line(strokeWidth=1.5).encode(y=alt.Y("predicted:Q", scale=alt.Scale(zero=False), title="price"),
                                                  color=alt.Color("horizon_s:N", title="horizon"))
    act = base.mark_line(color="black", strokeWidth=1).encode(y="actual:Q")
    layers = [pred, act]
    if "lo" in g and g["lo"].notna().any():
        layers.insert(0, base.mark_area(opacity=0.2).encode(y="lo:Q", y2="hi:Q", color="horizon_s:N"))
    return alt.layer(*layers).properties(width=640, height=260, title="actual vs predicted (band: ensemble quantiles)")


def error_by_horizon(table: pd.DataFrame, max_points: int = DEFAULT_MAX_POINTS) -> alt.Chart:
    """Mean absolute error (ticks) per horizon over time, binned."""
    _check_columns(table, ("origin_ts_ns", "horizon_s", "x_hat", "actual"), "error_by_horizon")
    d = table.dropna(subset=["actual"])
    per = max(1, max_points // max(1, d["horizon_s"].nunique()))
    d = d.assign(time=_time_bins(d["origin_ts_ns"], per), abs_err=(d["actual"] - d["x_hat"]).abs())
    g = d.groupby(["horizon_s", "time"], as_index=False).agg(mae=("abs_err", "mean"), n=("abs_err", "size"))
    return alt.Chart(g).mark_line().encode(
        x=alt.X("time:T", title="origin time"), y=alt.Y("mae:Q", title="|error| (ticks)"),
        color=alt.Color("horizon_s:N", title="horizon"), tooltip=["horizon_s", "time:T", "mae:Q", "n:Q"],
    ).properties(width=640, height=200, title="error by horizon")


def theta_table(frames) -> pd.DataFrame:
    """θ per frame as a long table (ts_ns, param, value) from the lab's history."""
    if not frames:
        return pd.DataFrame(columns=["ts_ns", "param", "value"])
    ts = np.array([f.ts_ns for f in frames], dtype=np.int64)
    th = np.stack([f.theta for f in frames])
    wide = pd.DataFrame(th, columns=list(PARAM_NAMES)).assign(ts_ns=ts)
    return wide.melt(id_vars="ts_ns", var_name="param", value_name="value")


def theta_over_time(theta: pd.DataFrame, max_points: int = DEFAULT_MAX_POINTS) -> alt.Chart:
    """Each learned weight over time (last value per bin), one panel row per weight."""
    _check_columns(theta, ("ts_ns", "param", "value"), "theta_over_time")
    per = max(1, max_points // max(1, theta["param"].nunique()))
    d = theta.assign(time=_time_bins(theta["ts_ns"], per))
    g = d.groupby(["param", "time"], as_index=False).agg(value=("value", "last"))
    return alt.Chart(g).mark_line().encode(
        x=alt.X("time:T", title="time"), y=alt.Y("value:Q", title=None, scale=alt.Scale(zero=False)),
        color=alt.Color("param:N", legend=None), row=alt.Row("param:N", title=None),
    ).properties(width=640, height=60, title="θ over time").resolve_scale(y="independent")


def session_charts(session, lab=None, max_points: int | None = None) -> dict[str, alt.Chart]:
    """The three charts of a replay ``Session`` (bands from ``lab``, or from a lab watching the session)."""
    max_points = DEFAULT_MAX_POINTS if max_points is None else int(max_points)
    if lab is None:
        lab = next((w for w in session.watchers if hasattr(w, "history") and hasattr(w, "render_frame")), None)
    frames = lab.history if lab is not None else None
    tick = session.frame.tick_size if session.frame is not None else None
    table = forecast_table(session.ledger.history(), frames, session.config.integrator.dt, tick_size=tick)
    theta = session.theta_history().melt(id_vars="ts_ns", var_name="param", value_name="value")
    return {"actual_vs_predicted": actual_vs_predicted(table, max_points),
            "error_by_horizon": error_by_horizon(table, max_points),
            "theta": theta_over_time(theta, max_points)}


class LiveCharts:
    """The three charts as ``alt.JupyterChart`` widgets, refreshed by ``update(engine, lab)``."""

    def __init__(self, max_points: int = DEFAULT_MAX_POINTS):
        self.max_points = max_points
        self.widgets: dict[str, alt.JupyterChart] = {}

    def charts(self, engine, lab) -> dict[str, alt.Chart]:
        table = forecast_table(engine.ledger.history(), lab.history, engine.config.integrator.dt)
        return {"actual_vs_predicted": actual_vs_predicted(table, self.max_points),
                "error_by_horizon": error_by_horizon(table, self.max_points),
                "theta": theta_over_time(theta_table(lab.history), self.max_points)}

    def update(self, engine, lab) -> dict[str, alt.JupyterChart]:
        for name, chart in self.charts(engine, lab).items():
            if name in self.widgets:
                self.widgets[name].chart = chart
            else:
                self.widgets[name] = alt.JupyterChart(chart)
        return self.widgets
