"""The whole-day kernel replay matches a frame-by-frame Session (forecasts, θ, scorecard)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import marketphys.kernels as kernels
from fixtures_kernels import assert_standin_clean, standin_metal
from marketphys.core.engine import EngineConfig
from marketphys.kernels import available_backends
from marketphys.replay.batch import replay_day
from marketphys.replay.session import Session
from marketphys.synth.engine_world import WorldConfig, make_world

USABLE = [name for name, ok, _ in available_backends() if ok and name in ("numpy", "msl-cpu")]
# and MetalBackend on the metalcompute stand-in, wherever msl-cpu builds kernels
DAY_BACKENDS = [*USABLE, *(["metal-standin"] if "msl-cpu" in USABLE else [])]


@pytest.fixture(scope="module")
def world():
    return make_world(WorldConfig(n_frames=400, seed=5))


@pytest.fixture(scope="module")
def reference(world):
    s = Session.from_frames(world.frames, producers=world.producers, config=EngineConfig(backend="numpy"))
    s.run(progress=False)  # the float64 reference Session
    return s


def _key(h):
    return h.sort_values(["origin_ts_ns", "horizon"]).reset_index(drop=True)


@pytest.mark.parametrize("backend", DAY_BACKENDS)
def test_day_replay_matches_the_session(world, reference, backend, monkeypatch):
    if backend == "metal-standin":
        monkeypatch.setitem(kernels._instances, "metal", standin_metal())
        backend = "metal"
    d = replay_day(world.frames, producers=world.producers, backend=backend, progress=False)
    assert d.backend == backend
    assert d.n_steps == reference.n_steps
    # θ used at every origin, and the final θ (float32 kernels: close, not bit-equal)
    np.testing.assert_allclose(d.theta_trace, np.array(reference._theta_rows), atol=1e-4)
    np.testing.assert_allclose(d.theta.values, reference.theta.values, atol=1e-4)
    # every forecaster's ledger: same targets resolved, same actuals, forecasts within float32
    want, got = reference.histories(), d.histories()
    assert set(want) == set(got)
    for name in want:
        a, b = _key(want[name]), _key(got[name])
        assert len(a) == len(b), name
        np.testing.assert_array_equal(a.origin_ts_ns, b.origin_ts_ns)
        np.testing.assert_array_equal(a.status.astype(str), b.status.astype(str))
        np.testing.assert_allclose(a.actual, b.actual, atol=1e-12)
        np.testing.assert_allclose(a.x_hat, b.x_hat, atol=1e-3 if name in ("engine", "physics") else 1e-9,
                                   err_msg=name)
    ca, cb = reference.scorecard().table, d.scorecard().table
    pd.testing.assert_series_equal(ca.n, cb.n)
    np.testing.assert_allclose(ca.rmse, cb.rmse, rtol=1e-4)
    assert_standin_clean()


def test_session_at_rebuilds_the_moment(world, reference):
    d = replay_day(world.frames, producers=world.producers, backend=USABLE[-1], progress=False)
    s = d.session_at(300, warmup=120)
    assert s.frame is world.frames[300] and s.n_steps == 121
    # restarted from the kernel's θ 120 frames earlier, it forecasts the moment like the whole-day run
    np.testing.assert_allclose(s.forecast.x_hat, d.x_hat[300], atol=1e-3)
    np.testing.assert_allclose(s.theta.values, d.theta_trace[300], atol=1e-6)
    with pytest.raises(IndexError, match="frame 400 outside"):
        d.session_at(400)


def test_day_replay_refuses_no_frames():
    with pytest.raises(ValueError, match="no frames"):
        replay_day([], progress=False)
