"""The Altair charts as a quant reads them: 24 h clock in a named zone, a legend entry for actual, the band
drawn iff there are quantiles (and named only then), rolling error by horizon, Vega offline in notebooks."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd
import pytest

from marketphys.widgets import charts as C
from marketphys.widgets import offline as O

T0 = pd.Timestamp("2026-03-02 14:30:00", tz="UTC").value       # 08:30 in Chicago (CST), 13:30 is not the point


def history(n=240, H=4, quantiles=True, seed=0):
    rng = np.random.default_rng(seed)
    origin = T0 + np.arange(n, dtype=np.int64) * 500_000_000
    x_hat = rng.normal(0, 1, n * H)
    d = {"origin_ts_ns": np.repeat(origin, H), "horizon": np.tile(np.arange(1, H + 1), n),
         "spot": np.repeat(5000 + np.cumsum(rng.normal(0, 0.25, n)), H), "x_hat": x_hat,
         "actual": x_hat + rng.normal(0, 1, n * H)}
    if quantiles:
        d |= {"q05": x_hat - 2.0, "q25": x_hat - 0.7, "q75": x_hat + 0.7, "q95": x_hat + 2.0}
    return pd.DataFrame(d)


def layers(spec):
    return spec.get("layer", [spec])


def mark(layer):
    m = layer["mark"]
    return m["type"] if isinstance(m, dict) else m


def x_axis(spec):
    return next(l["encoding"]["x"] for l in layers(spec) if "x" in l.get("encoding", {}))


def rows(spec):
    return [r for v in spec["datasets"].values() for r in v]


# ------------------------------------------------------------------------ time axis
@pytest.mark.parametrize("tz,hour", [("UTC", 14), ("America/Chicago", 8)])
@pytest.mark.parametrize("n,fmt", [(240, "%H:%M:%S"), (8000, "%H:%M")])     # 2 min: seconds shown; 67 min: %H:%M
def test_time_axis_is_24h_in_the_named_zone(tz, hour, n, fmt):
    table = C.forecast_table(history(n=n))
    for chart in (C.actual_vs_predicted(table, tz=tz), C.error_by_horizon(table, tz=tz)):
        spec = chart.to_dict()
        x = x_axis(spec)
        assert x["axis"]["format"] == fmt and x["scale"]["type"] == "utc"       # %H: 24 h (a 12 h clock is %I)
        assert x["axis"]["title"].endswith(f"({tz})")
        first = min(r["time"] for r in rows(spec))
        # drawn on a UTC scale, the value's UTC hour is the wall-clock hour in tz: 14:30 UTC = 08:30 CST
        assert pd.Timestamp(first, unit="ms").hour == hour and pd.Timestamp(first, unit="ms").minute == 30


def test_wall_clock_follows_dst_and_refuses_a_bad_zone():
    summer = pd.Timestamp("2026-07-01 14:30", tz="UTC").value
    winter = pd.Timestamp("2026-01-05 14:30", tz="UTC").value
    ms = C.wall_clock_ms([summer, winter], "America/Chicago")
    assert [pd.Timestamp(m, unit="ms").hour for m in ms] == [9, 8]      # CDT, CST
    with pytest.raises(ValueError, match="tz.*Mars/Olympus"):
        C.wall_clock_ms([summer], "Mars/Olympus")


def test_theta_axis_is_24h_too():
    th = pd.DataFrame({"ts_ns": np.repeat(T0 + np.arange(10) * 500_000_000, 2), "param": ["wU", "b"] * 10,
                       "value": np.arange(20.0)})
    x = C.theta_over_time(th, tz="Europe/London").to_dict()["encoding"]["x"]
    assert (x["axis"]["format"], x["axis"]["title"]) == ("%H:%M:%S", "time (Europe/London)")


# ------------------------------------------------------------------------ legend and band
def test_actual_has_a_legend_entry_in_black():
    spec = C.actual_vs_predicted(C.forecast_table(history())).to_dict()
    pred = next(l for l in layers(spec) if mark(l) == "line" and l["encoding"].get("color", {}).get("field") == "horizon_s")
    scale = pred["encoding"]["color"]["scale"]
    assert scale["domain"] == ["+0.5s", "+1.0s", "+1.5s", "+2.0s", "actual"]
    assert scale["range"][-1] == "black"
    act = [l for l in layers(spec) if l["encoding"].get("color", {}).get("datum") == "actual"]
    band = [l for l in layers(spec) if mark(l) == "area"]
    assert band and pred["encoding"]["color"]["legend"]["symbolType"] == "stroke"
    assert len(act) == 1 and mark(act[0]) == "line" and act[0]["encoding"]["y"]["field"] == "actual"


@pytest.mark.parametrize("with_q", [True, False])
def test_band_drawn_iff_quantiles_and_title_says_so(with_q):
    table = C.forecast_table(history(quantiles=with_q))
    spec = C.actual_vs_predicted(table).to_dict()
    areas = [l for l in layers(spec) if mark(l) == "area"]
    assert len(areas) == int(with_q)
    assert ("band:" in spec["title"]) == with_q
    if with_q:
        assert spec["title"] == "actual vs predicted (band: q05–q95)"
        r = rows(spec)
        tick = 0.25
        h = history()
        # the band is the outermost quantiles in price: lo <= predicted <= hi on every bin
        assert all(x["lo"] <= x["predicted"] <= x["hi"] for x in r)
        assert min(x["lo"] for x in r) == pytest.approx((h["spot"] + h["q05"] * tick).min())


def test_all_nan_band_is_not_drawn():
    h = history()
    h[["q05", "q25", "q75", "q95"]] = np.nan
    spec = C.actual_vs_predicted(C.forecast_table(h)).to_dict()
    assert not [l for l in layers(spec) if mark(l) == "area"] and "band" not in spec["title"]


# ------------------------------------------------------------------------ rolling error
def test_rolling_error_matches_a_direct_trailing_window():
    h = history(n=200)
    table = C.forecast_table(h)
    r = C.rolling_error(table, window_s=10.0)
    assert set(r["horizon_s"]) == {"+0.5s", "+1.0s", "+1.5s", "+2.0s"}
    sub = table[table["horizon"] == 3].sort_values("origin_ts_ns")
    err = (sub["actual"] - sub["x_hat"]).abs().to_numpy()
    t = sub["origin_ts_ns"].to_numpy()
    want = np.array([err[(t > t[i] - 10_000_000_000) & (t <= t[i])].mean() for i in range(len(t))])
    got = r[r["horizon_s"] == "+1.5s"].sort_values("origin_ts_ns")["mae"].to_numpy()
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_error_by_horizon_is_one_smoothed_line_per_horizon():
    table = C.forecast_table(history(n=600))
    spec = C.error_by_horizon(table, max_points=400, window_s=30.0).to_dict()
    assert mark(spec) == "line" and spec["encoding"]["color"]["field"] == "horizon_s"
    assert "rolling 30 s" in spec["title"]
    r = pd.DataFrame(rows(spec))
    assert r["horizon_s"].nunique() == 4 and len(r) <= 400
    # smoothed: far less bin-to-bin jitter than a per-bin mean of the raw |error|
    for _, g in r.groupby("horizon_s"):
        assert np.abs(np.diff(g.sort_values("time")["mae"])).mean() < 0.1
    raw = C.rolling_error(table, window_s=1e-3)          # a 1 ms window is the raw |error|
    assert np.abs(np.diff(raw[raw["horizon_s"] == "+0.5s"]["mae"])).mean() > 0.3
    with pytest.raises(ValueError, match="window_s"):
        C.rolling_error(table, window_s=0)


# ------------------------------------------------------------------------ offline rendering
@pytest.fixture
def restore_renderer():
    name, opts = alt.renderers.active, dict(alt.renderers.options)
    offline = alt.JupyterChart._is_offline
    yield
    O._saved_renderer = None
    alt.renderers.enable(name, **opts)
    if alt.JupyterChart._is_offline != offline:
        alt.JupyterChart.enable_offline(offline)


def test_offline_renderer_active_in_a_kernel_and_opt_out_restores(monkeypatch, restore_renderer):
    alt.renderers.enable("default")
    monkeypatch.setattr(O, "_in_kernel", lambda: True)
    monkeypatch.delenv(O.OFFLINE_ENV, raising=False)
    assert O.auto_offline()
    assert alt.renderers.active == "jupyter" and alt.renderers.options == {"offline": True}
    O.disable_offline_charts()
    assert alt.renderers.active == "default" and alt.renderers.options == {}
    assert not alt.JupyterChart._is_offline


def test_offline_is_not_forced_on_a_user_choice_or_outside_a_kernel(monkeypatch, restore_renderer):
    monkeypatch.delenv(O.OFFLINE_ENV, raising=False)
    alt.renderers.enable("default")
    monkeypatch.setattr(O, "_in_kernel", lambda: False)
    assert not O.auto_offline() and alt.renderers.active == "default"
    monkeypatch.setattr(O, "_in_kernel", lambda: True)
    alt.renderers.enable("html")                          # the user's own choice stays
    assert not O.auto_offline() and alt.renderers.active == "html"
    alt.renderers.enable("default")
    monkeypatch.setenv(O.OFFLINE_ENV, "1")
    assert not O.auto_offline() and alt.renderers.active == "default"


def test_jupyter_offline_bundle_carries_vega_and_no_cdn(restore_renderer):
    O.enable_offline_charts()
    alt.JupyterChart.enable_offline(True)                # what the jupyter renderer does on display
    esm = alt.JupyterChart._esm
    assert "cdn.jsdelivr" not in esm and len(esm) > 200_000      # Vega, Vega-Lite and vega-embed inlined


def test_charts_render_to_marks_with_bundled_vega():
    vlc = pytest.importorskip("vl_convert", reason="vl-convert-python not installed (renders Vega without a browser)")
    table = C.forecast_table(history(n=120))
    svg = vlc.vegalite_to_svg(C.actual_vs_predicted(table, tz="America/Chicago").to_json())
    assert svg.count("<path") >= 6                          # 4 horizons + actual + band areas
    assert ">actual<" in svg and "(America/Chicago)" in svg
    import re
    ticks = re.findall(r">(\d\d:\d\d:\d\d)<", svg)
    assert len(ticks) >= 4 and all(t.startswith("08:3") for t in ticks), ticks
    svg2 = vlc.vegalite_to_svg(C.error_by_horizon(table).to_json())
    assert ">+2.0s<" in svg2 and "(UTC)" in svg2


def test_baseline_theta_chart_is_24h_in_the_zone():
    from marketphys.widgets.scorecard_charts import theta_chart
    th = pd.DataFrame({"ts_ns": T0 + np.arange(5, dtype=np.int64) * 500_000_000, "wU": np.arange(5.0), "b": 1.0})
    spec = theta_chart(th, tz="America/Chicago").to_dict()
    assert spec["encoding"]["x"]["axis"] == {"format": "%H:%M:%S", "title": "time (America/Chicago)"}
    assert pd.Timestamp(min(r["time"] for r in rows(spec)), unit="ms").hour == 8


def test_saved_html_inlines_vega(tmp_path):
    pytest.importorskip("vl_convert", reason="vl-convert-python not installed (inlines the Vega bundle)")
    C.actual_vs_predicted(C.forecast_table(history(n=20))).save(str(tmp_path / "c.html"), inline=True)
    html = (tmp_path / "c.html").read_text()
    assert "cdn.jsdelivr" not in html and "<script" in html and len(html) > 200_000


def test_time_format_switches_at_half_an_hour():
    assert C.time_format(C.SECONDS_SPAN_S * 1e3) == "%H:%M:%S" and C.time_format(C.SECONDS_SPAN_S * 1e3 + 1) == "%H:%M"


def test_live_chart_widgets_load_the_offline_bundle(restore_renderer):
    from marketphys.widgets.lab import PhysicsLab
    from marketphys.widgets.sample import sample_session

    lab = PhysicsLab(width=64, height=40, backend="numpy")
    eng = sample_session(6, lab=lab, n_paths=4)
    if alt.JupyterChart._is_offline:
        alt.JupyterChart.enable_offline(False)
    O.enable_offline_charts()
    widgets = C.LiveCharts(tz="Asia/Tokyo").update(eng, lab)
    assert alt.JupyterChart._is_offline
    for w in widgets.values():
        assert "cdn.jsdelivr" not in w._esm and "esm.sh" not in w._esm
    assert widgets["error_by_horizon"].chart.to_dict()["encoding"]["x"]["axis"]["title"] == "origin time (Asia/Tokyo)"
