"""Altair charts of a scorecard: RMSE, skill vs random walk and hit rate by horizon, per forecaster."""

from __future__ import annotations

import altair as alt
import numpy as np

from marketphys.widgets import offline


def scorecard_charts(card) -> alt.VConcatChart:
    t = card.table.copy()
    t["horizon_s"] = t["seconds"].map(lambda s: f"t+{s:g}s")
    base = alt.Chart(t).encode(x=alt.X("horizon_s:N", title="horizon", sort=None),
                               color=alt.Color("forecaster:N", sort=card.forecasters),
                               xOffset=alt.XOffset("forecaster:N", sort=card.forecasters),
                               tooltip=["forecaster", "horizon", "n", alt.Tooltip("rmse:Q", format=".3f"),
                                        alt.Tooltip("mae:Q", format=".3f"), alt.Tooltip("hit_rate:Q", format=".3f"),
                                        alt.Tooltip("skill:Q", format=".3f")])
    rmse = base.mark_bar().encode(y=alt.Y("rmse:Q", title="RMSE (ticks)")).properties(title="RMSE by horizon", width=360, height=180)
    skill = base.mark_bar().encode(y=alt.Y("skill:Q", title="1 − MSE/MSE(random walk)")).properties(
        title="Skill vs random walk", width=360, height=180)
    hit = base.mark_bar().encode(y=alt.Y("hit_rate:Q", title="direction hit rate", scale=alt.Scale(domain=[0, 1]))).properties(
        title="Direction hit rate on moves that happen", width=360, height=180)
    return alt.vconcat(alt.hconcat(rmse, skill), hit)


def theta_chart(theta_df, tz: str = "UTC") -> alt.Chart:
    """θ over time (a Session's ``theta_history()``), one line per weight, on a 24 h clock in ``tz``."""
    from marketphys.widgets.charts import time_format, wall_clock_ms

    long = theta_df.melt(id_vars=["ts_ns"], var_name="weight", value_name="value")
    long["time"] = wall_clock_ms(long["ts_ns"], tz)
    return alt.Chart(long.drop(columns="ts_ns")).mark_line().encode(
        x=alt.X("time:T", scale=alt.Scale(type="utc"), axis=alt.Axis(format=time_format(float(np.ptp(long["time"])) if len(long) else 0.0), title=f"time ({tz})")),
        y="value:Q", color="weight:N").properties(title="θ over time", width=560, height=200)


offline.auto_offline()                  # Vega without a CDN in notebooks (see marketphys.widgets.offline)
