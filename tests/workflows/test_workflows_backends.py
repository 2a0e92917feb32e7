"""The engine's backend is "auto" by default, says which backend ran and why, and a whole Session
gives the same results on every backend to the float32 tolerance documented in docs/kernels.md
(forecasts and θ within 1e-3 ticks / units, ensemble bands within 2e-3 ticks, scorecard MAE
within 1e-3 relative, identical guard counters and update counts)."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest

import marketphys.kernels as kernels
from fixtures_kernels import assert_standin_clean, standin_metal
from marketphys.core.engine import Engine, EngineConfig
from marketphys.replay.session import Session
from marketphys.synth.engine_world import WorldConfig, make_world

ATOL = 1e-3        # ticks (x̂) and θ units
BANDS_ATOL = 2e-3  # ticks
MAE_RTOL = 1e-3


@pytest.fixture(scope="module")
def world():
    return make_world(WorldConfig(n_frames=160, seed=3))


def run_session(world, backend: str) -> Session:
    s = Session.from_frames(world.frames, producers=world.producers,
                            config=EngineConfig(backend=backend, n_paths=64, seed=2))
    s.run(progress=False)
    return s


@pytest.fixture(scope="module")
def metal_is_the_standin():
    """get_backend("metal") answers MetalBackend over the metalcompute stand-in for this module."""
    saved = kernels._instances.get("metal")
    kernels._instances["metal"] = standin_metal()
    yield
    if saved is None:
        kernels._instances.pop("metal", None)
    else:
        kernels._instances["metal"] = saved
    assert_standin_clean()


@pytest.fixture(scope="module")
def runs(world, metal_is_the_standin):
    return {b: run_session(world, b) for b in ("numpy", "auto", "metal")}


def test_default_is_auto_and_the_reason_is_kept():
    assert EngineConfig().backend == "auto"
    name, why = kernels.choose_backend()
    e = kernels.make_engine([], EngineConfig())
    assert (e.backend, e.backend_reason) == (name, why)
    if sys.platform != "darwin":
        assert e.backend == "msl-cpu" and e.kernels is not None and "auto picked msl-cpu" in e.backend_reason
    ref = kernels.make_engine([], EngineConfig(backend="numpy"))
    assert ref.backend == "numpy" and ref.kernels is None and "reference" in ref.backend_reason
    with pytest.raises(ValueError, match="EngineConfig.backend must be one of .* got 'cuda2'"):
        EngineConfig(backend="cuda2")


def test_session_says_which_backend_ran(runs):
    assert runs["numpy"].backend == "numpy"
    assert runs["auto"].backend == kernels.choose_backend()[0]
    assert runs["metal"].backend == "metal" and runs["metal"].engine.kernels is standin_metal()
    for s in runs.values():
        assert s.summary().endswith(f"backend {s.backend}")


@pytest.mark.parametrize("backend", ["auto", "metal"])
def test_session_results_do_not_depend_on_the_backend(runs, backend):
    ref, s = runs["numpy"], runs[backend]
    assert s.n_steps == ref.n_steps == 160
    th_a, th_b = s.theta_history(), ref.theta_history()
    pd.testing.assert_index_equal(th_a.columns, th_b.columns)
    np.testing.assert_allclose(th_a.to_numpy(float), th_b.to_numpy(float), atol=ATOL, rtol=0)
    h_a, h_b = s.ledger.history(), ref.ledger.history()  # every forecast of the run, per horizon
    np.testing.assert_array_equal(h_a[["origin_ts_ns", "horizon"]], h_b[["origin_ts_ns", "horizon"]])
    assert (h_a["status"] == h_b["status"]).all()
    np.testing.assert_allclose(h_a["x_hat"], h_b["x_hat"], atol=ATOL, rtol=0)
    fc_a, fc_b = s.forecast, ref.forecast
    np.testing.assert_allclose(fc_a.x_hat, fc_b.x_hat, atol=ATOL, rtol=0)
    for q in fc_b.bands:
        np.testing.assert_allclose(fc_a.bands[q], fc_b.bands[q], atol=BANDS_ATOL, rtol=0)
    assert s.engine.stats.to_dict() == ref.engine.stats.to_dict()
    assert s.engine.learner.n_updates == ref.engine.learner.n_updates > 100
    np.testing.assert_array_equal(s.engine.ledger.n, ref.engine.ledger.n)
    card_a = s.scorecard().table.set_index(["horizon", "forecaster"])
    card_b = ref.scorecard().table.set_index(["horizon", "forecaster"]).loc[card_a.index]
    np.testing.assert_array_equal(card_a["n"], card_b["n"])
    np.testing.assert_allclose(card_a[["mae", "rmse"]].to_numpy(float), card_b[["mae", "rmse"]].to_numpy(float),
                               rtol=MAE_RTOL, atol=0)


def test_the_core_engine_takes_its_backend_as_an_argument():
    """core never resolves a backend name: with none passed it runs its float64 reference ("auto") or says
    which kernel backend it needs; a backend passed in is used, and one that contradicts the config is refused."""
    plain = Engine([], EngineConfig())
    assert plain.backend == "numpy" and plain.kernels is None and "no kernel backend passed" in plain.backend_reason
    with pytest.raises(ValueError, match="EngineConfig.backend 'msl-cpu' names a kernel backend"):
        Engine([], EngineConfig(backend="msl-cpu"))
    be = kernels.get_backend("numpy")
    with pytest.raises(ValueError, match="EngineConfig.backend is 'metal' but the backend passed in is 'numpy'"):
        Engine([], EngineConfig(backend="metal"), backend=be)
    with pytest.raises(TypeError, match="expected a RolloutBackend"):
        Engine([], EngineConfig(), backend="msl-cpu")
    name, _ = kernels.choose_backend()
    if name != "numpy":
        passed = Engine([], EngineConfig(), backend=kernels.get_backend(name))
        assert passed.kernels is kernels.get_backend(name) and passed.backend_reason == f"{name} passed in"


def test_core_does_not_import_kernels():
    """The layer rule behind the backend argument, checked in a fresh interpreter: building and stepping a
    core Engine loads no marketphys.kernels module."""
    import subprocess

    code = ("import sys, numpy as np\n"
            "from marketphys.core.engine import Engine, EngineConfig\n"
            "from marketphys.core.frame import MarketFrame\n"
            "e = Engine([], EngineConfig(n_paths=4))\n"
            "e.step(MarketFrame(ts_ns=1, spot=100.0))\n"
            "print(sorted(m for m in sys.modules if m.startswith('marketphys.kernels')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
