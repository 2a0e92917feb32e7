"""Session step/seek/run, replay logs (bit for bit, crash-safe), θ export/load, ablation, calibration, lakes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fixtures_serving import build_fixture_lake
from marketphys.core.engine import EngineConfig
from marketphys.core.producers import ConstantViscosity, ProfileProducer, PushProducer
from marketphys.core.theta import ThetaBounds
from marketphys.replay.ablation import ablate
from marketphys.replay.calibrate import calibrate, hyper_grid, summarize
from marketphys.replay.export import ThetaFileError, export_theta, load_theta
from marketphys.replay.log import LogError, read_log, replay_log
from marketphys.frames.producers import FlowCurrentProducer, GexWallProducer
from marketphys.replay.session import Session, SessionError
from marketphys.frames.sources import SourceError
from marketphys.synth.engine_world import WorldConfig, make_world

FUTURES = ["snap", "wall", "vacuum", "physics", "bucket_radar"]


@pytest.fixture(scope="module")
def world():
    return make_world(WorldConfig(n_frames=500, seed=11))


@pytest.fixture(scope="module")
def world_session(world):
    s = Session.from_frames(world.frames, producers=world.producers)
    s.run(progress=False)
    return s


def test_step_seek_and_run(world):
    fr = world.frames[:40]
    s = Session.from_frames(fr, producers=world.producers)
    fc = s.step()
    assert fc.origin_ts_ns == fr[0].ts_ns and s.frame is fr[0]
    s.seek(fr[10].ts_ns)
    assert s.frame.ts_ns == fr[10].ts_ns and s.n_steps == 11
    x_at_10 = s.forecast.x_hat.copy()
    s.run(until=fr[20].ts_ns, progress=False)
    assert s.frame.ts_ns == fr[20].ts_ns
    s.seek(fr[10].ts_ns)                       # back: reset and replay, deterministic
    assert s.n_steps == 11 and np.array_equal(s.forecast.x_hat, x_at_10)
    s.run(progress=False)
    assert s.exhausted and s.n_steps == 40
    assert s.step() is None
    th = s.theta_history()
    assert len(th) == 40 and list(th.columns[:2]) == ["ts_ns", "wU"]
    assert len(s.fields_frame()) == s.config.grid.size and set("UCGOD") <= set(s.fields_frame().columns)
    assert len(s.walls) > 0 and (s.walls.strength > 0).all()
    assert list(s.forecast_frame().columns[:3]) == ["horizon", "seconds", "engine"]
    with pytest.raises(SessionError, match="ended"):
        s.seek(fr[-1].ts_ns + 10**10)
    with pytest.raises(SessionError, match="cannot read time"):
        s.seek("not a time")


def test_live_stream_cannot_seek_back(world):
    s = Session.from_stream(iter(world.frames[:10]), producers=world.producers)
    s.run(n=5, progress=False)
    with pytest.raises(SessionError, match="live stream"):
        s.seek(world.frames[0].ts_ns)


def test_engine_beats_random_walk_at_every_horizon_significantly(world_session):
    card = world_session.scorecard()
    assert card.beats("random_walk").all(), str(card)
    dm = card.dm[card.dm.baseline == "random_walk"]
    assert (dm.p_value < 1e-3).all()
    rm = card.metric("rmse")
    assert (rm["engine"] < 0.8 * rm["random_walk"]).all()


def test_learned_weights_point_the_right_way(world):
    """Start at zero with bounds that allow either sign: walls must come out repelling, drift following the flow."""
    bounds = ThetaBounds(lo=(-50.0, -20.0, 0.0, -50.0, -50.0), hi=(50.0, 20.0, 20.0, 50.0, 50.0))
    s = Session.from_frames(world.frames, producers=world.producers, theta0=[0.0, 0.0, 0.5, 0.0, 0.0],
                            config=EngineConfig(bounds=bounds), baselines=[])
    s.run(progress=False)
    th = s.theta
    truth = world.theta_true
    assert th["wO"] > 0.5 * truth["wO"]          # walls repel
    assert th["wC"] > 0.5 * truth["wC"]          # drift follows the current / flow
    assert th["wU"] > 0.25 * truth["wU"]          # wells attract (slower to learn from 500 frames)


def test_log_replays_bit_for_bit_and_survives_a_crash(world, tmp_path):
    path = tmp_path / "run.arrow"
    prods = [PushProducer(gain=1.5), ConstantViscosity(0.7), FlowCurrentProducer("trade_imbalance"),
             ProfileProducer("vacuum_score", target="U", gain=-4.0, name="vacuum_wells"), GexWallProducer()]
    s = Session.from_frames(world.frames[:80], producers=prods, log=path, config=EngineConfig(seed=5, n_paths=0))
    s.run(progress=False)
    s.close()
    r = replay_log(path)
    assert r.log.complete and len(r.log.frames) == 80
    assert r.identical and r.first_mismatch() is None
    assert np.array_equal(r.thetas[-1], s.theta.values)
    assert r.log.header["seed"] == 5
    # crash mid-frame: every complete frame is still there
    data = path.read_bytes()
    cut = tmp_path / "cut.arrow"
    cut.write_bytes(data[: len(data) - 3000])
    log = read_log(cut)
    assert not log.complete and len(log.frames) == 79
    assert np.array_equal(log.thetas, r.log.thetas[:79])
    # a writer killed without closing (no end marker) still reads fully
    s2 = Session.from_frames(world.frames[:10], producers=prods, log=tmp_path / "open.arrow")
    s2.run(progress=False)
    assert len(read_log(tmp_path / "open.arrow").frames) == 10
    s2.close()
    with pytest.raises(LogError, match="not a replay log"):
        (tmp_path / "x.arrow").write_bytes(b"garbage")
        read_log(tmp_path / "x.arrow")


def test_log_of_notebook_producers_needs_them_passed(world, tmp_path):
    """A notebook class nobody registered must be passed again; an @producer function is registered by name."""
    from marketphys.core.producers import Producer, producer

    class CellFlow(Producer):
        target = "C"
        name = "cell_flow_cls"

        def produce(self, frame, grid):
            return frame.scalars.get("push", 0.0)

    s = Session.from_frames(world.frames[:20], producers=[CellFlow()], log=tmp_path / "nb.arrow", baselines=[])
    s.run(progress=False)
    s.close()
    from marketphys.replay.specs import SpecError
    with pytest.raises(SpecError, match="pass producers"):
        replay_log(tmp_path / "nb.arrow")
    assert replay_log(tmp_path / "nb.arrow", producers=[CellFlow()]).identical

    @producer("C")
    def cell_flow(frame, grid):
        return frame.scalars.get("push", 0.0)

    s = Session.from_frames(world.frames[:20], producers=[cell_flow], log=tmp_path / "fn.arrow", baselines=[])
    s.run(progress=False)
    s.close()
    assert replay_log(tmp_path / "fn.arrow").identical


def test_theta_export_round_trip_and_refusals(world_session, tmp_path):
    p = export_theta(tmp_path / "theta.json", world_session)
    tf = load_theta(p, grid=world_session.config.grid)
    assert np.array_equal(tf.theta.values, world_session.theta.values)
    assert tf.config == world_session.config
    assert tf.training_window["n_frames"] == 500
    assert tf.scorecard["horizons"]["1"]["engine"]["n"] > 0
    doc = json.loads(p.read_text())
    assert {"theta", "bounds", "grid", "producers", "training_window", "scorecard", "package_version",
            "schema_version", "checksum"} <= doc.keys()
    from marketphys.core.grid import Grid
    with pytest.raises(ThetaFileError, match="grid"):
        load_theta(p, grid=Grid(n=64))
    bad = dict(doc, theta=dict(doc["theta"], wU=2.0))
    (tmp_path / "edited.json").write_text(json.dumps(bad))
    with pytest.raises(ThetaFileError, match="checksum"):
        load_theta(tmp_path / "edited.json")
    old = dict(doc, schema_version=99)
    (tmp_path / "future.json").write_text(json.dumps(old))
    with pytest.raises(ThetaFileError, match="schema_version=99"):
        load_theta(tmp_path / "future.json")
    with pytest.raises(ThetaFileError, match="does not exist"):
        load_theta(tmp_path / "none.json")


def test_ablation_finds_that_walls_add_skill(world):
    a = ablate(world.frames[:400], world.producers, drop="world_walls", progress=False)
    assert (a.table.rmse_diff < 0).all()
    assert a.table.p_value.iloc[0] < 0.05
    with pytest.raises(ValueError, match="no producer named"):
        ablate(world.frames[:10], world.producers, drop="nope")


def test_batch_calibration_over_days_and_lanes():
    days = {f"day{i}": make_world(WorldConfig(n_frames=80, seed=i)).frames for i in range(2)}
    prods = make_world(WorldConfig(n_frames=2)).producers
    tab = calibrate(days, hyper_grid(forgetting=[0.99, 0.999]), producers=prods, scheduler="sync", progress=False)
    assert len(tab) == 4 and set(tab.day) == {"day0", "day1"}
    assert set(tab.backend) == {"msl-cpu"}            # the fastest backend here: all lanes in the replay kernel
    assert {"theta_wU", "rmse_h1", "skill_h4", "forgetting"} <= set(tab.columns)
    summ = summarize(tab)
    assert len(summ) == 2 and (summ.days == 2).all()
    with pytest.raises(ValueError, match="tunable"):
        hyper_grid(grid=[1])


def test_kernel_calibration_equals_the_reference_session_lane_by_lane():
    days = {f"day{i}": make_world(WorldConfig(n_frames=300, seed=10 + i)).frames for i in range(2)}
    prods = make_world(WorldConfig(n_frames=2)).producers
    lanes = hyper_grid(forgetting=[0.99, 1.0], damping=[0.1, 1.0]) + [{"learn": False}, {"prior_strength": 10.0}]
    fast = calibrate(days, lanes, producers=prods, scheduler="sync", progress=False)
    ref = calibrate(days, lanes, producers=prods, scheduler="sync", progress=False, backend="session")
    assert set(ref.backend) == {"session"} and len(fast) == len(ref) == 2 * len(lanes)
    cols = [c for c in ref.columns if c.startswith(("theta_", "rmse_h"))]
    np.testing.assert_allclose(fast[cols].to_numpy(float), ref[cols].to_numpy(float), rtol=2e-3, atol=2e-4)
    assert fast.theta_wC.nunique() > 2               # the lanes really learned differently


def test_futures_only_lake_replays_and_scores(tmp_path):
    info = build_fixture_lake(tmp_path, seconds=20, surfaces=FUTURES)
    s = Session.from_lake(tmp_path, date=info["date"])
    assert not s.source.has_options
    s.run(progress=False)
    assert s.n_steps == len(info["ts"])
    card = s.scorecard()
    assert set(card.forecasters) == {"engine", "random_walk", "constant_velocity", "ar", "ofi", "microprice",
                                     "queue_imbalance", "physics_linear", "physics"}
    assert (card.table.n > 0).all()
    assert len(s.walls) == 0                       # no options: the gamma-wall producer has nothing to say


def test_lake_with_options_builds_gamma_walls(tmp_path):
    info = build_fixture_lake(tmp_path, seconds=6)
    s = Session.from_lake(tmp_path, date=info["date"])
    assert s.source.has_options
    s.run(progress=False)
    assert len(s.walls) > 0 and s.frame.strike_rel_ticks is not None


def test_lake_errors_name_the_problem(tmp_path):
    with pytest.raises(SourceError, match="does not exist"):
        Session.from_lake(tmp_path / "nope")
    build_fixture_lake(tmp_path, seconds=2, surfaces=FUTURES)
    with pytest.raises(SourceError, match="no ES data for date 2024-01-02"):
        Session.from_lake(tmp_path, date="2024-01-02")
