"""PhysicsLab (history, navigation, binary wire format) and the Altair charts."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from marketphys.render import band_heights
from marketphys.widgets.charts import (LiveCharts, actual_vs_predicted, error_by_horizon, forecast_table,
                                       theta_over_time, theta_table)
from marketphys.widgets.history import ease_meters
from marketphys.widgets.lab import PhysicsLab
from marketphys.widgets.sample import sample_engine, sample_frames, sample_session


@pytest.fixture(scope="module")
def lab_and_engine():
    lab = PhysicsLab(width=160, height=100)
    eng = sample_session(14, lab=lab, n_paths=16)
    return lab, eng


def test_texture_and_arrays_travel_as_binary(lab_and_engine):
    lab, eng = lab_and_engine
    assert lab.texture_format == "png" and lab.meta["texture_format"] == "png"
    assert isinstance(lab.texture, bytes) and lab.texture[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(lab.texture) < 160 * 100 * 4 // 4          # the point of encoding: far fewer bytes than raw
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(lab.texture))), lab.render_frame(lab.index))
    arr = np.frombuffer(lab.arrays, np.float32)
    off, n = lab.meta["layout"]["U"]
    np.testing.assert_allclose(arr[off:off + n], eng.fields.U, rtol=1e-6, atol=1e-6)
    off, n = lab.meta["layout"]["x_hat"]
    np.testing.assert_allclose(arr[off:off + n], eng.last_forecast.x_hat, rtol=1e-5, atol=1e-5)
    assert all(not isinstance(v, list) or len(v) <= 8 for v in lab.meta.values())   # no big JSON lists
    assert (lab.meta["band_a"], lab.meta["band_b"]) == band_heights(100)[:2]


def test_from_engine_shows_last_frame():
    eng = sample_engine()
    for fr in sample_frames(3):
        fc = eng.step(fr)
    lab = PhysicsLab.from_engine(eng, width=64, height=40)
    assert lab.n_frames == 1 and lab.meta["ts_ns"] == fc.origin_ts_ns


def test_freeze_keeps_recording_and_rendering():
    lab = PhysicsLab(width=64, height=40)
    eng = sample_engine()
    frames = sample_frames(6)
    for fr in frames[:3]:
        lab.push(eng, eng.step(fr))
    lab.frozen = True
    shown = lab.index
    v = lab.version
    for fr in frames[3:]:
        lab.push(eng, eng.step(fr))
    assert lab.index == shown and lab.n_frames == 6
    fitted = lab.x_half                # the fitted default zoom (not the whole ±128-tick grid)
    assert fitted == lab.view().x_half < 128
    lab.zoom(2.0)                      # rendering continues while frozen
    assert lab.version > v and lab.meta["x_half"] == pytest.approx(fitted / 2) and not lab.auto_zoom
    lab.resume()
    assert lab.index == 5 and not lab.frozen


def test_step_and_scrub_change_the_frame(lab_and_engine):
    lab, _ = lab_and_engine
    lab.resume()
    last = lab.texture
    lab.step(-3)
    assert lab.frozen and lab.index == lab.n_frames - 4 and lab.texture != last
    t = lab.history[2].ts_ns
    assert lab.scrub(t + 1) == 2 and lab.meta["ts_ns"] == t
    with pytest.raises(ValueError, match="before the first frame"):
        lab.scrub(lab.history[0].ts_ns - 1)
    lab.step(-100)
    assert lab.index == 0
    lab.resume()


def test_scrub_shows_that_frames_resolved_comparison(lab_and_engine):
    lab, eng = lab_and_engine
    fr = lab.history[-1]
    assert fr.resolved_origin_ns is not None and fr.resolved_origin_ns <= fr.ts_ns - 4 * 500_000_000
    early = lab.history[1]
    assert early.resolved_origin_ns is None      # nothing can be resolved after 2 frames


def test_zoom_is_symmetric_and_validated(lab_and_engine):
    lab, _ = lab_and_engine
    before = lab.x_half
    lab.zoom(4.0)
    assert lab.x_half == pytest.approx(before / 4)
    lab.zoom(0.25)
    with pytest.raises(ValueError, match="factor"):
        lab.zoom(0)


def test_unknown_arguments_are_rejected():
    with pytest.raises(TypeError, match="bogus"):
        PhysicsLab(bogus=3)


def test_wear_meter_eases_down_while_decaying():
    m1 = ease_meters({}, ("w",), np.array([8.0]), np.array([10.0]))
    assert m1[0] == pytest.approx(0.8)
    m2 = ease_meters({"w": 0.8}, ("w",), np.array([2.0]), np.array([10.0]))
    assert 0.2 < m2[0] < 0.8                         # moving down, not jumping
    m3 = ease_meters({"w": 0.3}, ("w",), np.array([9.0]), np.array([10.0]))
    assert m3[0] == pytest.approx(0.9)               # thickening shows at once


# ------------------------------------------------------------------------ charts
def test_charts_from_a_session(lab_and_engine):
    lab, eng = lab_and_engine
    table = forecast_table(eng.ledger.history(), lab.history)
    assert {"predicted", "actual_price", "band_lo_price", "band_hi_price"} <= set(table.columns)
    spec = actual_vs_predicted(table).to_dict()
    assert any(layer["mark"]["type"] == "area" for layer in spec["layer"])
    error_by_horizon(table).to_dict()
    th = theta_table(lab.history)
    assert set(th["param"]) == {"wU", "wC", "wG", "wO", "b"}
    theta_over_time(th).to_dict()
    widgets = LiveCharts().update(eng, lab)
    import altair as alt
    assert all(isinstance(w, alt.JupyterChart) for w in widgets.values())
    again = LiveCharts()
    again.update(eng, lab)
    w0 = again.widgets["theta"]
    again.update(eng, lab)
    assert again.widgets["theta"] is w0            # updated in place


def test_whole_day_never_hits_max_rows():
    n = 172_800                                       # one day of 0.5 s frames
    origin = 1_700_000_000_000_000_000 + np.arange(n, dtype=np.int64) * 500_000_000
    rng = np.random.default_rng(0)
    hist = pd.DataFrame({"origin_ts_ns": np.repeat(origin, 4), "horizon": np.tile(np.arange(1, 5), n),
                         "spot": np.repeat(5000 + np.cumsum(rng.normal(0, 0.25, n)), 4),
                         "x_hat": rng.normal(0, 2, 4 * n), "actual": rng.normal(0, 2, 4 * n)})
    table = forecast_table(hist)
    for chart in (actual_vs_predicted(table), error_by_horizon(table)):
        spec = chart.to_dict()                        # raises MaxRowsError if > 5000 rows were embedded
        rows = sum(len(v) for v in spec.get("datasets", {}).values())
        assert 0 < rows <= 4000
    th = pd.DataFrame({"ts_ns": np.repeat(origin, 5), "param": np.tile(["wU", "wC", "wG", "wO", "b"], n),
                       "value": rng.normal(size=5 * n)})
    theta_over_time(th).to_dict()


def test_chart_input_errors_name_the_columns():
    with pytest.raises(ValueError, match="missing columns"):
        actual_vs_predicted(pd.DataFrame({"x": [1]}))


def test_raw_texture_format_sends_rgba_bytes():
    lab = PhysicsLab(width=64, height=40, texture_format="raw")
    sample_session(3, lab=lab)
    assert lab.meta["texture_format"] == "raw" and len(lab.texture) == 64 * 40 * 4
    assert np.array_equal(np.frombuffer(lab.texture, np.uint8).reshape(40, 64, 4), lab.render_frame(lab.index))
    v = lab.version
    lab.texture_format = "png"                  # switching re-sends the same frame encoded
    assert lab.version == v + 1 and np.array_equal(np.asarray(Image.open(io.BytesIO(lab.texture))), lab.render_frame(lab.index))


def test_bad_texture_format_and_backend_are_named():
    import traitlets

    with pytest.raises(traitlets.TraitError, match="texture_format.*'jpeg'"):
        PhysicsLab(width=64, height=40, texture_format="jpeg")
    with pytest.raises(ValueError, match="backend.*'cuda-magic'"):
        PhysicsLab(width=64, height=40, backend="cuda-magic")


def test_cached_frames_are_not_rendered_again(monkeypatch):
    import marketphys.widgets.lab as lab_mod

    lab = PhysicsLab(width=64, height=40, cache_size=8)
    sample_session(5, lab=lab)
    lab.frozen = True
    lab._cache.clear()                               # pushes rendered every frame; start cold
    calls = []
    real = lab_mod.render_texture
    monkeypatch.setattr(lab_mod, "render_texture", lambda *a, **k: calls.append(1) or real(*a, **k))
    for i in (1, 2, 1, 2, 1):
        lab.step(i - lab.index)
    assert len(calls) == 2 and lab.index == 1       # frames 1 and 2 rendered once each, then served from cache


def test_history_is_bounded_and_a_frozen_view_keeps_its_frame():
    lab = PhysicsLab(width=64, height=40, max_history=4)
    eng = sample_engine()
    frames = sample_frames(10)
    for fr in frames[:5]:
        lab.push(eng, eng.step(fr))
    lab.step(-1)                                   # freeze on the 4th of 4 kept frames
    held = lab.frame.ts_ns
    tex = lab.render_frame(lab.index)
    lab.push(eng, eng.step(frames[5]))             # evicts the oldest: the view still shows the same origin
    assert len(lab.history) == 4 and lab.n_frames == 4
    assert lab.frame.ts_ns == held and np.array_equal(lab.render_frame(lab.index), tex)
    for fr in frames[6:]:
        lab.push(eng, eng.step(fr))
    assert [f.ts_ns for f in lab.history] == [f.ts_ns for f in frames[6:]]
    assert lab.index == 0                          # its frame was evicted: clamped to the oldest kept
    with pytest.raises(ValueError, match="before the first frame"):
        lab.scrub(frames[0].ts_ns)
    with pytest.raises(ValueError, match="max_history"):
        PhysicsLab(max_history=0)
