"""The same equivalence checks on the Metal GPU, wherever Metal exists (macOS, Apple Silicon).

Metal compiles with fast math, so tolerances are looser than msl-cpu's.
"""

from __future__ import annotations

import numpy as np
import pytest

from fixtures_kernels import producers, synthetic_frames
from marketphys.core.engine import EngineConfig
from marketphys.core.fields import Fields
from marketphys.core.grid import Grid
from marketphys.core.integrator import IntegratorConfig
from marketphys.kernels import ReplayBlock, get_backend
from marketphys.kernels.metal import metal_platform_ok

pytestmark = [pytest.mark.metal, pytest.mark.skipif(not metal_platform_ok()[0], reason="Metal only on macOS")]


@pytest.fixture(scope="module")
def metal():
    return get_backend("metal")


def test_metal_rng_words_identical(metal):
    w_k, n_k = metal.philox(9, 33, 17, stream=2)
    w_r, n_r = get_backend("numpy").philox(9, 33, 17, stream=2)
    np.testing.assert_array_equal(w_k, w_r)
    np.testing.assert_allclose(n_k, n_r, atol=1e-4)


@pytest.mark.parametrize("lanes", [1, 31, 33, 257])
def test_metal_rollout_matches_reference(metal, lanes):
    grid = Grid(n=33, dx=2.0)
    rng = np.random.default_rng(lanes)
    f = Fields.from_arrays(grid, U=np.sin(grid.x / 9.0) * 3, C=0.5, G=np.abs(rng.normal(size=grid.size)))
    theta = rng.uniform([0, 0, 0, 0, -2], [3, 3, 3, 3, 2], (lanes, 5))
    v0 = rng.normal(0, 10, lanes)
    a = metal.rollout(f, theta, v0, IntegratorConfig())
    b = get_backend("numpy").rollout(f, theta, v0, IntegratorConfig())
    np.testing.assert_allclose(a.x, b.x, atol=1e-3, rtol=1e-4)
    np.testing.assert_allclose(a.jac, b.jac, atol=1e-3, rtol=1e-3)


def test_metal_compose_and_replay_match_msl_cpu(metal):
    grid = Grid(n=40)
    frames = synthetic_frames(300, grid, seed=2)
    block = ReplayBlock.from_frames(frames, producers(), EngineConfig(grid=grid))
    a = metal.calibrate(block, np.ones(5) * [1, 1, 1, 1, 0], trace=True)
    b = get_backend("numpy").calibrate(block, np.ones(5) * [1, 1, 1, 1, 0], trace=True)
    np.testing.assert_allclose(a.trace_x, b.trace_x, atol=1e-2)
    np.testing.assert_allclose(a.theta, b.theta, atol=1e-2)
