"""The Physics Lab following a replay Session (session.lab(), charts) and a live engine (lab.follow)."""

from __future__ import annotations

import numpy as np
import pytest

from marketphys.core.engine import EngineConfig
from marketphys.replay.session import Session, SessionError
from marketphys.synth.engine_world import WorldConfig, make_world
from marketphys.widgets.lab import PhysicsLab
from marketphys.widgets.sample import sample_engine, sample_frames

SMALL = dict(width=64, height=40, backend="numpy")


@pytest.fixture(scope="module")
def world():
    return make_world(WorldConfig(n_frames=60, seed=3))


def session(world, n=40, **kw):
    return Session.from_frames(world.frames[:n], producers=world.producers, **kw)


def test_lab_records_every_step_and_draws_once_per_run(world):
    s = session(world)
    lab = s.lab(batch_interval_s=3600.0, **SMALL)
    s.step()
    assert lab.n_frames == 1 and lab.meta["ts_ns"] == s.frame.ts_ns
    v = lab.version
    s.run(progress=False)
    assert lab.n_frames == s.n_steps == 40
    assert lab.version == v + 1                          # one draw at the end of run, not 39
    assert lab.meta["ts_ns"] == s.frame.ts_ns and lab.index == 39
    np.testing.assert_array_equal(lab.frame.U, s.fields.U)
    np.testing.assert_array_equal(lab.frame.x_hat, s.forecast.x_hat)


def test_without_throttle_every_step_draws(world):
    s = session(world, n=12)
    lab = s.lab(batch_interval_s=0.0, **SMALL)
    s.run(progress=False)
    assert lab.version >= 12


def test_scrub_shows_the_session_as_it_was(world):
    s = session(world, n=30)
    lab = s.lab(**SMALL)
    seen = {}
    for _ in range(30):
        fc = s.step()
        seen[fc.origin_ts_ns] = (s.fields.U.copy(), fc.x_hat.copy())
    t = world.frames[7].ts_ns
    i = lab.scrub(t)
    assert i == 7 and lab.frozen and lab.meta["ts_ns"] == t
    np.testing.assert_array_equal(lab.frame.U, seen[t][0])
    np.testing.assert_array_equal(lab.frame.x_hat, seen[t][1])
    s.step()                                             # a frozen lab keeps recording, keeps showing frame 7
    assert lab.n_frames == 30 and lab.index == 7         # (source had 30 frames: step() returned None)


def test_seek_back_replays_and_the_lab_follows(world):
    s = session(world, n=30)
    lab = s.lab(**SMALL)
    s.run(progress=False)
    u10 = lab.history[10].U.copy()
    s.seek(world.frames[10].ts_ns)                       # back: the session restarts from frame 0
    assert lab.n_frames == 11 and len(lab.history) == 11
    np.testing.assert_array_equal(lab.history[10].U, u10)    # deterministic replay, same picture
    assert lab.meta["ts_ns"] == world.frames[10].ts_ns


def test_from_session_after_steps_shows_current_frame(world):
    s = session(world, n=10)
    s.run(n=5, progress=False)
    lab = PhysicsLab.from_session(s, **SMALL)
    assert lab.n_frames == 1 and lab.meta["ts_ns"] == world.frames[4].ts_ns
    assert s.watchers == [lab]
    s.watch(lab)                                         # watching twice does not double frames
    s.step()
    assert lab.n_frames == 2
    s.unwatch(lab)
    s.step()
    assert lab.n_frames == 2


def test_watch_refuses_objects_without_the_protocol(world):
    s = session(world, n=5)
    with pytest.raises(SessionError, match="on_step"):
        s.watch(object())


def test_navigation_draws_at_once_inside_a_batch(world):
    s = session(world, n=10)
    lab = s.lab(batch_interval_s=3600.0, **SMALL)
    s.run(progress=False)
    with lab.batch():
        v = lab.version
        lab.step(-3)
        assert lab.version > v and lab.index == 6 and lab.meta["index"] == 6   # drawn, inside the batch


def test_live_throttle_and_refresh():
    eng = sample_engine()
    lab = PhysicsLab(redraw_interval_s=3600.0, **SMALL)
    cb = lab.follow(eng)
    for fr in sample_frames(8):
        cb(eng.step(fr))
    assert lab.n_frames == 8 and lab.index == 7
    assert lab.meta["index"] == 0                         # only the first push was drawn
    lab.refresh()
    assert lab.meta["index"] == 7 and lab.meta["ts_ns"] == eng.last_forecast.origin_ts_ns


@pytest.mark.parametrize("bad", [-1.0, float("nan")])
def test_bad_intervals_are_refused(bad):
    with pytest.raises(ValueError, match="redraw_interval_s"):
        PhysicsLab(redraw_interval_s=bad, **SMALL)


def test_session_charts_with_bands(world):
    s = session(world, n=40, config=EngineConfig(n_paths=8))
    s.lab(**SMALL)
    s.run(progress=False)
    charts = s.charts()
    assert set(charts) == {"actual_vs_predicted", "error_by_horizon", "theta"}
    spec = charts["actual_vs_predicted"].to_dict()
    layer_marks = [layer["mark"]["type"] if isinstance(layer["mark"], dict) else layer["mark"]
                   for layer in spec["layer"]]
    assert "area" in layer_marks                          # the ensemble band came from the lab's frames
    rows = charts["theta"].to_dict()["datasets"]
    n_theta = sum(len(v) for v in rows.values())
    assert n_theta == 40 * len(s.theta_history().columns[1:])
    charts2 = s.charts(max_points=20)
    assert sum(len(v) for v in charts2["theta"].to_dict()["datasets"].values()) <= 20 + 5


def test_session_charts_without_lab_use_the_frame_tick(world):
    s = session(world, n=20)
    s.run(progress=False)
    charts = s.charts()
    data = next(iter(charts["actual_vs_predicted"].to_dict()["datasets"].values()))
    spot = world.frames[19].spot
    assert all(abs(r["actual"] - spot) < 200 * world.frames[0].tick_size for r in data if r["actual"] is not None)


def test_session_charts_band_from_the_head_quantiles_without_a_lab(world):
    s = session(world, n=30)
    s.run(progress=False)
    spec = s.charts(tz="America/Chicago")["actual_vs_predicted"].to_dict()
    levels = s.config.quantiles
    assert min(levels) < 0.5 < max(levels)                # the forecast carries a band by default
    areas = [l for l in spec["layer"] if (l["mark"]["type"] if isinstance(l["mark"], dict) else l["mark"]) == "area"]
    assert len(areas) == 1 and spec["title"].startswith("actual vs predicted (band: q")
    assert spec["layer"][0]["encoding"]["x"]["axis"]["title"] == "target time (America/Chicago)"
    head = s.engine.head.history()
    data = [r for v in spec["datasets"].values() for r in v if r.get("lo") is not None]
    assert data and all(r["lo"] <= r["hi"] for r in data)
    assert min(r["lo"] for r in data) >= (head["spot"] + head[f"q{100 * min(levels):02g}"] * world.frames[0].tick_size).min() - 1e-9
