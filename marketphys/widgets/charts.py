"""Altair charts of the run: actual vs predicted per horizon (with the ensemble band),
error by horizon over time, and θ over time.

Every function takes plain DataFrames (from ``engine.ledger.history()`` and the lab's
frame history) and returns an ``alt.Chart``. A whole day is 172,800 frames × H rows, so
inputs are pre-aggregated into time bins so a chart embeds at most ``max_points`` rows before they
reach Vega: a user never meets Altair's MaxRowsError. ``LiveCharts`` wraps them in
``alt.JupyterChart`` widgets that update in place after each step.

Offline by default: importing this module inside a Jupyter kernel switches Altair to its ``jupyter``
renderer with ``offline=True`` (Vega is bundled by vl-convert, no CDN), but only while the user has not
picked a renderer of their own; ``disable_offline_charts()`` restores what was active before. Times are
drawn on a 24 h clock in ``tz`` (UTC by default), named in the axis title.
"""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from marketphys.core.theta import PARAM_NAMES
from marketphys.widgets import offline
from marketphys.widgets.offline import disable_offline_charts, enable_offline_charts  # noqa: F401

DEFAULT_MAX_POINTS = 4000
"""Rows a chart embeds in total (all series together), safely under Altair's 5000-row limit."""


def _check_columns(df: pd.DataFrame, need: tuple[str, ...], what: str) -> None:
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise ValueError(f"{what}: DataFrame is missing columns {missing}; got {list(df.columns)}")


def _time_bins(ts_ns: pd.Series, max_points: int) -> pd.Series:
    """Bin integer-ns timestamps into at most ``max_points`` equal-width bins (bin start, integer ns)."""
    t = ts_ns.to_numpy(dtype=np.int64)
    if t.size == 0:
        return pd.Series(t, index=ts_ns.index)
    lo, hi = int(t.min()), int(t.max())
    width = max(1, -(-(hi - lo + 1) // max(1, max_points)))
    return pd.Series(lo + (t - lo) // width * width, index=ts_ns.index)


def wall_clock_ms(ts_ns, tz: str = "UTC") -> np.ndarray:
    """UTC nanoseconds -> milliseconds of the wall clock in ``tz``, to be drawn on a UTC scale.

    Vega can only show UTC or the browser's zone; shifting by the zone's offset (DST-aware) and drawing
    on a UTC scale shows exchange time whatever the reader's machine is set to.
    """
    t = pd.to_datetime(np.asarray(ts_ns, dtype=np.int64), utc=True)
    try:
        local = t.tz_convert(tz)
    except Exception as e:  # pytz/zoneinfo raise different types for a bad zone
        raise ValueError(f"tz: unknown time zone {tz!r}") from e
    return (local.tz_localize(None).asi8 // 1_000_000).astype(np.int64)


SECONDS_SPAN_S = 1800.0
"""Charts spanning at most this long label their time axis with seconds (%H:%M:%S), longer ones %H:%M."""


def time_format(span_ms: float) -> str:
    """24 h tick format: with seconds for short spans (a few minutes would repeat one %H:%M label)."""
    return "%H:%M:%S" if span_ms <= SECONDS_SPAN_S * 1e3 else "%H:%M"


def _time_x(field: str, title: str, tz: str, times=None) -> alt.X:
    t = np.asarray(times if times is not None else [], dtype=np.int64)
    fmt = time_format(float(t.max() - t.min()) if t.size else 0.0)
    return alt.X(f"{field}:T", scale=alt.Scale(type="utc"), axis=alt.Axis(format=fmt, title=f"{title} ({tz})", tickCount=8, labelOverlap=True))


def _time_tooltip(field: str) -> alt.Tooltip:
    return alt.Tooltip(f"{field}:T", format="%H:%M:%S", formatType="utc", title=field)


def forecast_table(history: pd.DataFrame, frames=None, dt: float = 0.5, tick_size: float | None = None) -> pd.DataFrame:
    """One row per (origin, horizon): target time, predicted/actual price, band prices if there are bands.

    ``history`` is ``engine.ledger.history()`` or the head's ``history()``; ``frames`` the lab's ``history``
    (LabFrames). Bands come from the lab's frames, else from the history's outermost quantile columns
    (``q05``/``q95``...); ``tick_size`` converts ticks to prices without lab frames (default 0.25, ES).
    """
    _check_columns(history, ("origin_ts_ns", "horizon", "spot", "x_hat", "actual"), "forecast_table")
    df = history.copy()
    tick = 0.25 if tick_size is None else float(tick_size)
    if frames:
        tick = frames[0].tick_size
        bands = {f.ts_ns: (f.band_lo, f.band_hi) for f in frames if f.band_lo is not None}
        if bands:
            lo = [bands.get(o, (None, None))[0] for o in df["origin_ts_ns"]]
            df["band_lo"] = [np.nan if b is None else b[h - 1] for b, h in zip(lo, df["horizon"])]
            hi = [bands.get(o, (None, None))[1] for o in df["origin_ts_ns"]]
            df["band_hi"] = [np.nan if b is None else b[h - 1] for b, h in zip(hi, df["horizon"])]
    qcols = sorted((c for c in df.columns if c.startswith("q") and c[1:].replace(".", "", 1).isdigit()
                    and c != "q50"), key=lambda c: float(c[1:]))
    if "band_lo" not in df and len(qcols) >= 2:
        df["band_lo"], df["band_hi"] = df[qcols[0]], df[qcols[-1]]
        df.attrs["band"] = f"{qcols[0]}–{qcols[-1]}"
    elif "band_lo" in df:
        df.attrs["band"] = "ensemble quantiles"
    df["target_ts_ns"] = df["origin_ts_ns"] + (df["horizon"] * dt * 1e9).astype(np.int64)
    df["predicted"] = df["spot"] + df["x_hat"] * tick
    df["actual_price"] = df["spot"] + df["actual"] * tick
    for c in ("band_lo", "band_hi"):
        if c in df:
            df[c + "_price"] = df["spot"] + df[c] * tick
    df["horizon_s"] = (df["horizon"] * dt).map(lambda s: f"+{s:.1f}s")
    return df


def _horizon_order(table: pd.DataFrame) -> list[str]:
    """Horizon labels in horizon order (string sort would put +10.0s before +2.0s)."""
    if "horizon" in table:
        return list(table.sort_values("horizon")["horizon_s"].drop_duplicates())
    return sorted(table["horizon_s"].unique(), key=lambda s: float(s.strip("+s")))


def actual_vs_predicted(table: pd.DataFrame, max_points: int = DEFAULT_MAX_POINTS, tz: str = "UTC") -> alt.Chart:
    """Actual price vs the forecast for each horizon at its target time, with the band whenever there is one.

    The band is drawn iff the table has band prices with a value, and only then does the title name it;
    "actual" has its own legend entry next to the horizons.
    """
    _check_columns(table, ("target_ts_ns", "horizon_s", "predicted", "actual_price"), "actual_vs_predicted")
    per = max(1, max_points // max(1, table["horizon_s"].nunique()))
    d = table.assign(time=_time_bins(table["target_ts_ns"], per))
    agg = {"predicted": ("predicted", "mean"), "actual": ("actual_price", "mean")}
    if "band_lo_price" in d:
        agg |= {"lo": ("band_lo_price", "min"), "hi": ("band_hi_price", "max")}
    g = d.groupby(["horizon_s", "time"], as_index=False).agg(**agg)
    g["time"] = wall_clock_ms(g["time"], tz)
    horizons = _horizon_order(table)
    palette = ["#4c78a8", "#f58518", "#54a24b", "#b279a2", "#e45756", "#72b7b2", "#eeca3b", "#9d755d",
               "#ff9da6", "#bab0ac"]
    color = alt.Scale(domain=[*horizons, "actual"], range=[*(palette * (len(horizons) // 10 + 1))[:len(horizons)], "black"])
    base = alt.Chart(g).encode(x=_time_x("time", "target time", tz, g["time"]))
    pred = base.mark_line(strokeWidth=1.5).encode(
        y=alt.Y("predicted:Q", scale=alt.Scale(zero=False), title="price"),
        color=alt.Color("horizon_s:N", title="series", scale=color,     # line keys, not the band's faded swatch
                        legend=alt.Legend(symbolType="stroke", symbolOpacity=1, symbolStrokeWidth=2)),
        tooltip=["horizon_s", _time_tooltip("time"), alt.Tooltip("predicted:Q", format=".2f")])
    act = base.transform_filter("isValid(datum.actual)").transform_aggregate(
        actual="mean(actual)", groupby=["time"]).mark_line(strokeWidth=1).encode(
        y="actual:Q", color=alt.ColorDatum("actual"))
    layers = [pred, act]
    title = "actual vs predicted"
    if "lo" in g and g["lo"].notna().any():
        layers.insert(0, base.mark_area(fillOpacity=0.2).encode(y="lo:Q", y2="hi:Q", color=alt.Color("horizon_s:N", scale=color)))
        title += f" (band: {table.attrs.get('band', 'quantiles')})"
    return alt.layer(*layers).properties(width=640, height=260, title=title)


def rolling_error(table: pd.DataFrame, window_s: float = 60.0) -> pd.DataFrame:
    """Per horizon, the mean |error| (ticks) over the trailing ``window_s`` seconds of origins, at each origin.

    Columns: horizon_s, origin_ts_ns, mae (rolling), n (forecasts in the window).
    """
    _check_columns(table, ("origin_ts_ns", "horizon_s", "x_hat", "actual"), "rolling_error")
    if not window_s > 0:
        raise ValueError(f"window_s: must be > 0, got {window_s!r}")
    d = table.dropna(subset=["actual"])
    d = d.assign(abs_err=(d["actual"] - d["x_hat"]).abs(), t=pd.to_datetime(d["origin_ts_ns"].astype(np.int64)))
    d = d.sort_values(["horizon_s", "origin_ts_ns"], kind="stable")
    roll = d.groupby("horizon_s", sort=False).rolling(f"{int(round(window_s * 1e3))}ms", on="t")["abs_err"]
    out = pd.DataFrame({"horizon_s": d["horizon_s"].to_numpy(), "origin_ts_ns": d["origin_ts_ns"].to_numpy(np.int64),
                        "mae": roll.mean().to_numpy(), "n": roll.count().to_numpy().astype(int)})
    return out


def error_by_horizon(table: pd.DataFrame, max_points: int = DEFAULT_MAX_POINTS, tz: str = "UTC",
                     window_s: float = 60.0) -> alt.Chart:
    """Rolling mean |error| (ticks) over the trailing ``window_s`` per horizon, one line per horizon.

    Smoothed on every origin first, then thinned to the last value per time bin (never a raw bin mean).
    """
    r = rolling_error(table, window_s)
    per = max(1, max_points // max(1, r["horizon_s"].nunique()))
    r = r.assign(time=_time_bins(r["origin_ts_ns"], per))
    g = r.groupby(["horizon_s", "time"], as_index=False).agg(mae=("mae", "last"), n=("n", "last"))
    g["time"] = wall_clock_ms(g["time"], tz)
    return alt.Chart(g).mark_line().encode(
        x=_time_x("time", "origin time", tz, g["time"]), y=alt.Y("mae:Q", title=f"|error| (ticks), rolling {window_s:g} s mean"),
        color=alt.Color("horizon_s:N", title="horizon", sort=_horizon_order(table)),
        tooltip=["horizon_s", _time_tooltip("time"), alt.Tooltip("mae:Q", format=".3f"), "n:Q"],
    ).properties(width=640, height=200, title=f"error by horizon (rolling {window_s:g} s mean)")


def theta_table(frames) -> pd.DataFrame:
    """θ per frame as a long table (ts_ns, param, value) from the lab's history."""
    if not frames:
        return pd.DataFrame(columns=["ts_ns", "param", "value"])
    ts = np.array([f.ts_ns for f in frames], dtype=np.int64)
    th = np.stack([f.theta for f in frames])
    wide = pd.DataFrame(th, columns=list(PARAM_NAMES)).assign(ts_ns=ts)
    return wide.melt(id_vars="ts_ns", var_name="param", value_name="value")


def theta_over_time(theta: pd.DataFrame, max_points: int = DEFAULT_MAX_POINTS, tz: str = "UTC") -> alt.Chart:
    """Each learned weight over time (last value per bin), one panel row per weight."""
    _check_columns(theta, ("ts_ns", "param", "value"), "theta_over_time")
    per = max(1, max_points // max(1, theta["param"].nunique()))
    d = theta.assign(time=_time_bins(theta["ts_ns"], per))
    g = d.groupby(["param", "time"], as_index=False).agg(value=("value", "last"))
    g["time"] = wall_clock_ms(g["time"], tz)
    return alt.Chart(g).mark_line().encode(
        x=_time_x("time", "time", tz, g["time"]), y=alt.Y("value:Q", title=None, scale=alt.Scale(zero=False)),
        color=alt.Color("param:N", legend=None), row=alt.Row("param:N", title=None),
    ).properties(width=640, height=60, title="θ over time").resolve_scale(y="independent")


def session_charts(session, lab=None, max_points: int | None = None, tz: str = "UTC") -> dict[str, alt.Chart]:
    """The three charts of a replay ``Session``, times on a 24 h clock in ``tz`` (e.g. "America/Chicago").

    Bands come from ``lab`` (or a lab watching the session), else from the engine head's quantiles.
    """
    max_points = DEFAULT_MAX_POINTS if max_points is None else int(max_points)
    if lab is None:
        lab = next((w for w in session.watchers if hasattr(w, "history") and hasattr(w, "render_frame")), None)
    frames = lab.history if lab is not None else None
    tick = session.frame.tick_size if session.frame is not None else None
    history = session.ledger.history()
    if not frames:
        history = _with_head_quantiles(history, session.engine.head.history())
    table = forecast_table(history, frames, session.config.integrator.dt, tick_size=tick)
    theta = session.theta_history().melt(id_vars="ts_ns", var_name="param", value_name="value")
    return {"actual_vs_predicted": actual_vs_predicted(table, max_points, tz),
            "error_by_horizon": error_by_horizon(table, max_points, tz),
            "theta": theta_over_time(theta, max_points, tz)}


def _with_head_quantiles(history: pd.DataFrame, head: pd.DataFrame) -> pd.DataFrame:
    """The ledger's rows with the head's quantile columns joined on (origin, horizon): the forecast's bands."""
    q = [c for c in head.columns if c.startswith("q") and c != "q50"]
    if not q or history.empty:
        return history
    return history.merge(head[["origin_ts_ns", "horizon", *q]], on=["origin_ts_ns", "horizon"], how="left")


class LiveCharts:
    """The three charts as ``alt.JupyterChart`` widgets, refreshed by ``update(engine, lab)``."""

    def __init__(self, max_points: int = DEFAULT_MAX_POINTS, tz: str = "UTC"):
        self.max_points = max_points
        self.tz = tz
        self.widgets: dict[str, alt.JupyterChart] = {}

    def charts(self, engine, lab) -> dict[str, alt.Chart]:
        table = forecast_table(engine.ledger.history(), lab.history, engine.config.integrator.dt)
        return {"actual_vs_predicted": actual_vs_predicted(table, self.max_points, self.tz),
                "error_by_horizon": error_by_horizon(table, self.max_points, self.tz),
                "theta": theta_over_time(theta_table(lab.history), self.max_points, self.tz)}

    def update(self, engine, lab) -> dict[str, alt.JupyterChart]:
        if offline.is_enabled() and not alt.JupyterChart._is_offline:
            alt.JupyterChart.enable_offline(True)      # the widgets load the same local Vega bundle
        for name, chart in self.charts(engine, lab).items():
            if name in self.widgets:
                self.widgets[name].chart = chart
            else:
                self.widgets[name] = alt.JupyterChart(chart)
        return self.widgets


offline.auto_offline()                  # Vega without a CDN in notebooks (see marketphys.widgets.offline)
