"""A replay log with drawn paths, a non-default seed and θ0 replays bit for bit, bands included.

The seed acts only on the bands and θ0 only on θ, so a log written with the defaults (and
n_paths = 0) cannot tell whether replay honours them. Here both differ from the defaults,
the bands are logged, and the replay is compared with a direct engine run frame by frame.
"""

from __future__ import annotations

import numpy as np
import pytest

from marketphys.core.engine import EngineConfig
from marketphys.core.producers import ConstantDiffusion, ConstantViscosity, ProfileProducer, PushProducer
from marketphys.core.theta import Theta
from marketphys.kernels import make_engine
from marketphys.replay.log import read_log, replay_log
from marketphys.frames.producers import FlowCurrentProducer, GexWallProducer
from marketphys.replay.session import Session
from marketphys.synth.engine_world import WorldConfig, make_world

SEED = 987_654
THETA0 = np.array([2.0, 0.5, 1.5, 3.0, -0.75])
QUANTILES = (0.05, 0.5, 0.95)


def producers():
    return [PushProducer(gain=1.5), ConstantViscosity(0.7), FlowCurrentProducer("trade_imbalance"),
            ProfileProducer("vacuum_score", target="U", gain=-4.0, name="vacuum_wells"), GexWallProducer(),
            ConstantDiffusion(1.5)]


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    frames = make_world(WorldConfig(n_frames=40, seed=11)).frames
    cfg = EngineConfig(seed=SEED, n_paths=48, quantiles=QUANTILES)
    path = tmp_path_factory.mktemp("log") / "run.arrow"
    s = Session.from_frames(frames, producers=producers(), config=cfg, theta0=Theta(THETA0.copy()), log=path,
                            baselines=[])
    s.run(progress=False)
    s.close()
    direct = make_engine(producers(), cfg, theta0=Theta(THETA0.copy())).run(frames)
    return frames, cfg, path, direct


def _bands(fcs):
    return np.array([[fc.bands[q] for q in QUANTILES] for fc in fcs])


def test_log_holds_the_run_bit_for_bit(logged):
    frames, cfg, path, direct = logged
    log = read_log(path)
    assert log.header["seed"] == SEED and log.header["engine_config"]["n_paths"] == 48
    assert np.array_equal(Theta.from_dict(log.header["theta0"]).values, THETA0)
    assert np.array_equal(log.thetas, np.array([fc.theta for fc in direct]))
    assert np.array_equal(log.x_hats, np.array([fc.x_hat for fc in direct]))
    assert log.bands.shape == (len(frames), len(QUANTILES), cfg.integrator.horizons)
    assert np.array_equal(log.bands, _bands(direct))
    assert np.array_equal(log.thetas[0], THETA0)   # the first forecast uses θ0 itself


def test_replay_honours_the_logged_seed_and_theta0(logged):
    frames, cfg, path, direct = logged
    r = replay_log(path)
    assert r.engine.config.seed == SEED and np.array_equal(r.engine.theta0.values, THETA0)
    assert r.identical and r.first_mismatch() is None
    assert np.array_equal(r.bands, _bands(direct)) and np.array_equal(r.thetas, np.array([fc.theta for fc in direct]))
    # the test can tell: the default seed changes the bands, the default θ0 changes θ and x̂
    other_seed = make_engine(producers(), EngineConfig(n_paths=48, quantiles=QUANTILES), theta0=Theta(THETA0.copy()))
    assert not np.array_equal(_bands(other_seed.run(frames)), r.bands)
    default_theta = make_engine(producers(), cfg).run(frames)
    assert not np.array_equal(np.array([fc.theta for fc in default_theta]), r.thetas)


def test_a_changed_band_is_a_mismatch(logged):
    frames, cfg, path, direct = logged
    r = replay_log(path)
    r.bands[7, 1, 2] = np.nextafter(r.bands[7, 1, 2], np.inf)   # one ulp in frame 7
    assert not r.identical and r.first_mismatch() == 7
