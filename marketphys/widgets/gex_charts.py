"""Altair charts of a ``ChainGex``: per-strike bars, calls vs puts, the profile with its zero-gamma line,
and a lake day's zero-gamma level over time.

Kept out of the notebook so it stays thin; every function returns a chart (compose them
with ``|``, ``&``, ``+``). ``walls`` (a frame with a ``center`` column, e.g. ``Session.walls``)
marks the strikes the engine holds as walls.
"""

from __future__ import annotations

import altair as alt
import pandas as pd

from marketphys.widgets import offline

from marketphys.chain.exposure import ChainGex

_M = 1e6


def _near(res: ChainGex, window: float | None) -> pd.DataFrame:
    ps = res.per_strike
    if window is None:
        return ps
    return ps[(ps["strike"] >= res.spot * (1 - window)) & (ps["strike"] <= res.spot * (1 + window))]


def _rules(res: ChainGex, walls: pd.DataFrame | None, axis: str = "x") -> list:
    marks = [alt.Chart(pd.DataFrame({"level": [res.spot], "what": ["spot"]})).mark_rule(color="black", strokeDash=[2, 2])
             .encode(**{axis: "level:Q"}, tooltip=["what", "level"])]
    if res.zero_gamma is not None:
        marks.append(alt.Chart(pd.DataFrame({"level": [res.zero_gamma], "what": ["zero gamma"]}))
                     .mark_rule(color="crimson", size=2).encode(**{axis: "level:Q"}, tooltip=["what", "level"]))
    if walls is not None and len(walls):
        w = pd.DataFrame({"level": walls["center"].to_numpy(float), "what": "engine wall",
                          "strength": walls["strength"].to_numpy(float) if "strength" in walls else 1.0})
        marks.append(alt.Chart(w).mark_rule(color="darkorange", strokeDash=[6, 3], size=2)
                     .encode(**{axis: "level:Q"}, opacity=alt.Opacity("strength:Q", legend=None,
                                                                      scale=alt.Scale(range=[0.4, 1.0])),
                             tooltip=["what", "level", "strength"]))
    return marks


def strike_bars(res: ChainGex, window: float | None = 0.05, walls: pd.DataFrame | None = None,
                title: str = "Net GEX per strike") -> alt.LayerChart:
    """Net GEX per strike (USD mn per 1 % move), green where dealers are long gamma, red short."""
    d = _near(res, window).assign(net_mn=lambda x: x["net_gex"] / _M, sign=lambda x: x["net_gex"] >= 0)
    bars = alt.Chart(d).mark_bar().encode(
        x=alt.X("strike:Q", title="strike"), y=alt.Y("net_mn:Q", title="net GEX (USD mn per 1 %)"),
        color=alt.Color("sign:N", scale=alt.Scale(domain=[True, False], range=["seagreen", "firebrick"]), legend=None),
        tooltip=["strike", alt.Tooltip("net_mn:Q", format=",.1f"), "call_oi", "put_oi"])
    return alt.layer(bars, *_rules(res, walls)).properties(width=620, height=240, title=title)


def calls_vs_puts(res: ChainGex, window: float | None = 0.05, walls: pd.DataFrame | None = None) -> alt.LayerChart:
    """Call and put GEX per strike side by side (puts below zero under the default convention)."""
    d = _near(res, window).melt(id_vars="strike", value_vars=["call_gex", "put_gex"], var_name="side", value_name="gex")
    d["gex_mn"] = d["gex"] / _M
    bars = alt.Chart(d).mark_bar(opacity=0.8).encode(
        x=alt.X("strike:Q"), y=alt.Y("gex_mn:Q", title="GEX (USD mn per 1 %)"),
        color=alt.Color("side:N", scale=alt.Scale(domain=["call_gex", "put_gex"], range=["steelblue", "darkorange"])),
        tooltip=["strike", "side", alt.Tooltip("gex_mn:Q", format=",.1f")])
    return alt.layer(bars, *_rules(res, walls)).properties(width=620, height=240, title="Calls vs puts")


def profile_chart(res: ChainGex, walls: pd.DataFrame | None = None) -> alt.LayerChart:
    """Net GEX if the underlying were at each level (IVs per the ``sticky`` setting), zero-gamma line."""
    d = res.profile.melt(id_vars="spot", value_vars=["net_gex", "call_gex", "put_gex"], var_name="part",
                         value_name="gex")
    d["gex_bn"] = d["gex"] / 1e9
    lines = alt.Chart(d).mark_line().encode(
        x=alt.X("spot:Q", title="underlying level", scale=alt.Scale(zero=False)),
        y=alt.Y("gex_bn:Q", title="GEX (USD bn per 1 %)"),
        color=alt.Color("part:N", scale=alt.Scale(domain=["net_gex", "call_gex", "put_gex"],
                                                  range=["black", "steelblue", "darkorange"])),
        strokeWidth=alt.condition(alt.datum.part == "net_gex", alt.value(2.5), alt.value(1.0)),
        tooltip=["part", alt.Tooltip("spot:Q", format=",.1f"), alt.Tooltip("gex_bn:Q", format=",.3f")])
    zero = alt.Chart(pd.DataFrame({"y": [0.0]})).mark_rule(color="gray").encode(y="y:Q")
    zg = "none in range" if res.zero_gamma is None else f"{res.zero_gamma:,.1f}"
    return alt.layer(lines, zero, *_rules(res, walls)).properties(
        width=620, height=260, title=f"GEX profile ({res.settings.get('sticky', 'strike')} sticky); zero gamma {zg}")


def zero_gamma_chart(chain_1s: pd.DataFrame) -> alt.LayerChart:
    """The lake's ``gex_chain_1s`` over the day: futures spot (black) and the zero-gamma level (red) where one
    was found, against seconds from the first window."""
    _need = ("window_end_ts_ns", "underlying_spot_ref", "zero_gamma_found", "zero_gamma_points")
    missing = [c for c in _need if c not in chain_1s.columns]
    if missing:
        raise ValueError(f"zero_gamma_chart: gex_chain_1s frame is missing columns {missing}")
    ts = chain_1s.assign(t=lambda d: (d["window_end_ts_ns"] - d["window_end_ts_ns"].iloc[0]) / 1e9)
    zg = ts[ts["zero_gamma_found"]]
    spot = alt.Chart(ts).mark_line(color="black").encode(
        x=alt.X("t:Q", title="seconds"),
        y=alt.Y("underlying_spot_ref:Q", scale=alt.Scale(zero=False), title="points"))
    zero = alt.Chart(zg).mark_line(color="crimson").encode(x="t:Q", y="zero_gamma_points:Q")
    return (spot + zero).properties(width=620, height=200, title="futures spot (black) and zero-gamma level (red)")


offline.auto_offline()                  # Vega without a CDN in notebooks (see marketphys.widgets.offline)
