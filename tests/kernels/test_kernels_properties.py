"""Property tests (hypothesis) of the msl-cpu kernels against the reference and physics invariants."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from fixtures_kernels import SHADER_BACKENDS, assert_standin_clean, shader_backend
from marketphys.core.fields import Fields
from marketphys.core.grid import Grid
from marketphys.core.integrator import IntegratorConfig, energy
from marketphys.kernels import get_backend

REF = get_backend("numpy")


@pytest.fixture(scope="module", params=SHADER_BACKENDS)
def msl(request):
    """msl-cpu, and MetalBackend on the metalcompute stand-in (fixtures_kernels)."""
    yield shader_backend(request.param)
    assert_standin_clean()

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(n=st.integers(1, 40), seed=st.integers(0, 2**32 - 1), lanes=st.integers(1, 40),
       v_scale=st.floats(0.0, 60.0), substeps=st.integers(4, 9), horizons=st.integers(1, 8))
def test_random_media_rollouts_match_reference(msl, n, seed, lanes, v_scale, substeps, horizons):
    """Smooth media, stable steps: float32 tracks float64 (rough white-noise media amplify rounding by design)."""
    rng = np.random.default_rng(seed)
    grid = Grid(n=n, dx=float(rng.choice([0.5, 1.0, 2.0, 3.0])))

    def smooth(scale):  # a few random waves, wavelengths >= 8 cells: media, not white noise
        i = np.arange(grid.size)
        return sum(scale * rng.normal() * np.sin(2 * np.pi * i / rng.uniform(8, 40) + rng.uniform(0, 6)) for _ in range(3))

    f = Fields.from_arrays(grid, U=smooth(2.0), C=smooth(3.0), G=np.abs(smooth(0.5)), O=np.abs(smooth(2.0)),
                           D=np.abs(smooth(1.0)))
    theta = rng.uniform([0, 0, 0, 0, -3], [2, 2, 2, 2, 3], (lanes, 5))
    v0 = rng.normal(0, v_scale + 1e-9, lanes)
    cfg = IntegratorConfig(substeps=substeps, horizons=horizons)
    a, b = msl.rollout(f, theta, v0, cfg, seed=seed), REF.rollout(f, theta, v0, cfg, seed=seed)
    # a clamp decision exactly at a threshold may flip between float32 and float64; then paths differ by design
    assume(a.stats.to_dict() == b.stats.to_dict())
    scale = 1.0 + np.abs(b.x)
    assert np.all(np.abs(a.x - b.x) <= 2e-4 * scale), np.abs(a.x - b.x).max()
    # ∂x̂/∂θ uses the interpolant's slope, piecewise constant in x: a float32 path that crosses a
    # cell boundary a substep apart from float64 moves the Jacobian by ~h·Δslope, hence the looser bound
    assert np.all(np.abs(a.jac - b.jac) <= 1e-3 * (1.0 + np.abs(b.jac)))


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), v0=st.floats(-30.0, 30.0))
def test_damped_unforced_particle_never_gains_energy(msl, seed, v0):
    """Invariant: with only viscosity (and a static potential), mechanical energy does not grow."""
    rng = np.random.default_rng(seed)
    grid = Grid(n=30, dx=2.0)
    U = np.cumsum(rng.normal(0, 0.05, grid.size))
    f = Fields.from_arrays(grid, U=U, G=0.5 + np.abs(rng.normal(0, 0.5, grid.size)))
    theta = np.array([1.0, 0.0, 1.0, 0.0, 0.0])
    cfg = IntegratorConfig(substeps=32, horizons=8)
    r = msl.rollout(f, theta, v0, cfg)
    e = energy(f, theta, r.x[0], r.v[0])
    e0 = energy(f, theta, np.zeros(1), np.array([v0]))[0]
    assert np.all(np.diff(np.concatenate([[e0], e])) <= 1e-3 * (1 + abs(e0)))


@SETTINGS
@given(v0=st.floats(-70.0, 70.0), x0=st.floats(-40.0, 40.0))
def test_no_force_moves_at_constant_velocity(msl, v0, x0):
    grid = Grid(n=30, dx=2.0)
    r = msl.rollout(Fields.zeros(grid), np.zeros(5), v0, IntegratorConfig(), x0=x0)
    t = np.arange(1, 5) * 0.5
    np.testing.assert_allclose(r.x[0], x0 + v0 * t, atol=1e-4 * (1 + abs(v0)))
    np.testing.assert_allclose(r.v[0], v0, atol=1e-5 * (1 + abs(v0)))
