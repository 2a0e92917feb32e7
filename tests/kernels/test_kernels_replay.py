"""Replay/calibration kernel vs the NumPy Engine and the NumPy calibrate reference.

Tolerances: float32 kernels vs float64 reference over a whole synthetic session:
forecasts within 1e-3 ticks, θ within 1e-3 (absolute, θ ~ 1), per-horizon
counts exact, MAE within 1e-4 relative.
"""

from __future__ import annotations

import numpy as np
import pytest

from fixtures_kernels import DT_NS, T0, producers, synthetic_frames
from fixtures_kernels import SHADER_BACKENDS, assert_standin_clean, shader_backend
from marketphys.core.engine import Engine, EngineConfig
from marketphys.core.frame import MarketFrame
from marketphys.core.grid import Grid
from marketphys.core.integrator import IntegratorConfig
from marketphys.core.theta import ThetaBounds
from marketphys.kernels import ReplayAnchor, ReplayBlock, get_backend, make_engine, make_hyper

pytestmark = pytest.mark.xdist_group(name="kernels-replay")  # one worker builds the shared session

GRID = Grid(n=40, dx=2.0)
CONFIG = EngineConfig(grid=GRID, backend="numpy")  # the NumPy reference engine the kernels are compared with


@pytest.fixture(scope="module", params=SHADER_BACKENDS)
def msl(request):
    """msl-cpu, and MetalBackend on the metalcompute stand-in (fixtures_kernels)."""
    yield shader_backend(request.param)
    assert_standin_clean()


@pytest.fixture(scope="module")
def session():
    """~1,500 frames with gaps, the NumPy Engine's run over them, and the replay block."""
    frames = synthetic_frames(1500, GRID, seed=1, gaps=True)
    eng = Engine(producers(), CONFIG)
    fcs = eng.run(frames)
    block = ReplayBlock.from_frames(frames, producers(), CONFIG)
    return frames, eng, fcs, block


def test_kernel_replay_equals_numpy_engine(msl, session):
    frames, eng, fcs, block = session
    res = msl.calibrate(block, eng.theta0.values, trace=True, chunk_frames=700)
    x = np.array([f.x_hat for f in fcs])
    th = np.array([f.theta for f in fcs])
    np.testing.assert_allclose(res.trace_x[0], x, atol=1e-3)
    np.testing.assert_allclose(res.trace_theta[0], th, atol=1e-3)
    np.testing.assert_allclose(res.theta[0], eng.theta.values, atol=1e-3)
    assert res.n_updates[0] == eng.learner.n_updates > 1200
    np.testing.assert_array_equal(res.n[0], eng.ledger.n)
    np.testing.assert_allclose(res.mae[0], eng.ledger.sum_abs / eng.ledger.n, rtol=1e-4)
    assert np.any(eng.ledger.n_expired > 0)  # the gaps really exercised expiry
    np.testing.assert_array_equal(res.state["n_expired"][0, :4], eng.ledger.n_expired)
    assert res.stats[0].tolist() == list(eng.stats.to_dict().values())
    assert np.abs(res.theta[0] - eng.theta0.values).max() > 0.05  # it learned something


def test_numpy_calibrate_equals_engine(session):
    frames, eng, fcs, block = session
    res = get_backend("numpy").calibrate(block.split(300)[0], eng.theta0.values, trace=True)
    x = np.array([f.x_hat for f in fcs[:300]])
    # float64 both; only the summation order of padded wall energies differs (1e-16), which
    # the online learner amplifies to ~1e-7 over a few hundred frames
    np.testing.assert_allclose(res.trace_x[0], x, atol=1e-5)


@pytest.mark.parametrize("lanes", [1, 31, 33])
def test_lanes_with_own_theta_and_hyper_match_reference(msl, session, lanes):
    _, _, _, block = session
    sub = block.split(160)[0]
    rng = np.random.default_rng(lanes)
    theta0 = rng.uniform([0, 0, 0, 0, -1], [3, 3, 3, 3, 1], (lanes, 5))
    hyper = make_hyper(lanes, 4, huber_delta=rng.uniform(1, 6, lanes), forgetting=rng.uniform(0.98, 1.0, lanes),
                       damping=rng.uniform(0.05, 1.0, lanes), step_size=rng.uniform(0.3, 1.0, lanes),
                       learn=rng.uniform(size=lanes) > 0.2, alpha=rng.uniform(0.2, 1.0, (lanes, 4)))
    bounds = ThetaBounds(lo=(0.0, 0.0, 0.0, 0.0, -5.0), hi=(5.0, 5.0, 5.0, 5.0, 5.0))
    a = msl.calibrate(sub, theta0, hyper, bounds=bounds, prior_strength=2.0, trace=True)
    b = get_backend("numpy").calibrate(sub, theta0, hyper, bounds=bounds, prior_strength=2.0, trace=True)
    np.testing.assert_allclose(a.trace_x, b.trace_x, atol=1e-3)
    np.testing.assert_allclose(a.theta, b.theta, atol=1e-3)
    np.testing.assert_array_equal(a.n_updates, b.n_updates)
    np.testing.assert_allclose(a.loss_sum, b.loss_sum, rtol=1e-3)
    np.testing.assert_array_equal(a.stats.sum(axis=0), b.stats.sum(axis=0))


def test_blocks_continue_where_they_stopped(msl, session):
    _, eng, _, block = session
    first, second = block.split(250)[:2]
    whole = msl.calibrate(ReplayBlock(GRID, CONFIG.integrator, block.contrib[:500], block.walls[:500], block.t[:500],
                                      block.spot[:500], block.v0[:500], block.dt_units, block.tol_units),
                          eng.theta0.values)
    r1 = msl.calibrate(first, eng.theta0.values)
    r2 = msl.calibrate(second, None, state=r1.state)
    np.testing.assert_array_equal(r2.theta, whole.theta)   # bit for bit: the same float32 operations
    np.testing.assert_array_equal(r2.n, whole.n)


def test_lanes_out_of_step_are_refused(msl, session):
    """The kernel keeps one ledger timing per lane group: lanes from different replays are refused."""
    _, eng, _, block = session
    first, second = block.split(250)[:2]
    r1 = msl.calibrate(first, np.tile(eng.theta0.values, (20, 1)))
    r0 = msl.calibrate(first.split(240)[0], np.tile(eng.theta0.values, (20, 1)))
    mixed = r1.state.copy()
    mixed[7] = r0.state[7]
    with pytest.raises(ValueError, match="out of step: ledger.* of lane 7"):
        msl.calibrate(second, None, state=mixed)


def test_group_lanes_equal_lone_lanes(msl, session):
    """A lane inside a group (shared ledger timing, field pairs from PAIR_MIN_LANES lanes on) ends
    where it ends replayed alone (one lane per thread, composed fields)."""
    from marketphys.kernels.base import PAIR_MIN_LANES

    _, eng, _, block = session
    sub = block.split(400)[0]
    lanes = PAIR_MIN_LANES + 8
    theta0 = np.random.default_rng(5).uniform([0.2, 0.2, 0.2, 0.2, -1], [3, 3, 3, 3, 1], (lanes, 5))
    group = msl.calibrate(sub, theta0, trace=True)
    for lane in (0, 13, lanes - 1):
        alone = msl.calibrate(sub, theta0[lane:lane + 1], trace=True)
        np.testing.assert_allclose(group.trace_x[lane], alone.trace_x[0], atol=1e-4)
        np.testing.assert_array_equal(group.n[lane], alone.n[0])
        np.testing.assert_array_equal(group.state["n_expired"][lane], alone.state["n_expired"][0])
        np.testing.assert_allclose(group.mae[lane], alone.mae[0], rtol=1e-4)
        assert group.n_updates[lane] == alone.n_updates[0]


def test_no_lookahead_in_kernel_replay(msl, session):
    """Forecasts up to frame k do not change when frames after k are perturbed."""
    _, eng, _, block = session
    sub = block.split(200)[0]
    a = msl.calibrate(sub, eng.theta0.values, trace=True)
    pert = ReplayBlock(GRID, CONFIG.integrator, sub.contrib.copy(), sub.walls.copy(), sub.t, sub.spot.copy(),
                       sub.v0.copy(), sub.dt_units, sub.tol_units)
    pert.spot[120:] += 50.0
    pert.contrib[120:] *= -3.0
    b = msl.calibrate(pert, eng.theta0.values, trace=True)
    np.testing.assert_array_equal(a.trace_x[0, :120], b.trace_x[0, :120])
    assert not np.allclose(a.trace_x[0, 120:], b.trace_x[0, 120:])


def test_bad_inputs_are_named():
    cfg = IntegratorConfig()
    with pytest.raises(ValueError, match="forgetting of lane 1"):
        make_hyper(2, 4, forgetting=[0.99, 1.5])
    with pytest.raises(ValueError, match="huber_delta of lane 0"):
        make_hyper(1, 4, huber_delta=np.nan)
    frames = [MarketFrame(ts_ns=T0 + i * DT_NS // 8, spot=5000.0) for i in range(64)]
    with pytest.raises(ValueError, match="too dense for the kernel ledger"):
        ReplayBlock.from_frames(frames, [], EngineConfig(grid=Grid(n=4), integrator=cfg))
    anchor = ReplayAnchor(base_ns=T0, unit_ns=DT_NS, base_spot=5000.0, tick_size=0.25)
    with pytest.raises(ValueError, match="not a whole number"):
        anchor.units([T0 + 3])
    with pytest.raises(ValueError, match="ReplayBlock.v0"):
        ReplayBlock(Grid(n=2), cfg, np.zeros((2, 5, 5)), np.zeros((2, 1, 3)), np.array([0, 4]), np.zeros(2),
                    np.array([0.0, np.nan]), 4, 1)


def test_engine_on_msl_cpu_equals_numpy_engine(session):
    """The Engine with its rollout on msl-cpu: same forecasts and learned θ as the NumPy engine."""
    frames, eng, fcs, _ = session
    k = make_engine(producers(), EngineConfig(grid=GRID, backend="msl-cpu"))
    assert k.kernels is not None and k.kernels.name == "msl-cpu"
    kfcs = k.run(frames)
    np.testing.assert_allclose(np.array([f.x_hat for f in kfcs]), np.array([f.x_hat for f in fcs]), atol=1e-3)
    np.testing.assert_allclose(np.array([f.theta for f in kfcs]), np.array([f.theta for f in fcs]), atol=1e-3)
    np.testing.assert_allclose(k.theta.values, eng.theta.values, atol=1e-3)
    assert k.stats.to_dict() == eng.stats.to_dict()


def test_engine_bands_on_msl_cpu(session):
    frames, _, _, _ = session
    cfg = dict(grid=GRID, n_paths=501, seed=3)
    a = make_engine(producers(diffusion=True), EngineConfig(**cfg, backend="msl-cpu")).run(frames[:30])
    b = Engine(producers(diffusion=True), EngineConfig(**cfg, backend="numpy")).run(frames[:30])
    for fa, fb in zip(a, b):
        for q in fb.bands:
            np.testing.assert_allclose(fa.bands[q], fb.bands[q], atol=2e-3)
