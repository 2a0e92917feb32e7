"""Closed-form cases, invariants and convergence of the integrator (docs/architecture.md#dynamics)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from marketphys.core.fields import Fields
from marketphys.core.grid import Grid
from marketphys.core.integrator import IntegratorConfig, rollout
from marketphys.core.walls import obstacle_field

GRID = Grid(n=128, dx=2.0)


def theta(wU=0.0, wC=0.0, wG=0.0, wO=0.0, b=0.0):
    return np.array([wU, wC, wG, wO, b])


def test_zero_forces_keep_particle_at_rest():
    f = Fields.zeros(GRID)
    res = rollout(f, theta(1, 1, 1, 1, 0), 0.0, IntegratorConfig())
    assert np.all(res.x == 0.0) and np.all(res.v == 0.0)
    assert np.all(res.jac[..., :4] == 0.0)


@pytest.mark.parametrize("gamma,v0", [(0.5, 10.0), (2.0, -7.0), (8.0, 3.0)])
def test_pure_damping_matches_discrete_and_continuous_solution(gamma, v0):
    cfg = IntegratorConfig(substeps=64)
    f = Fields.from_arrays(GRID, G=gamma)
    res = rollout(f, theta(wG=1.0), v0, cfg)
    h = cfg.h
    n = np.arange(1, cfg.horizons + 1) * cfg.substeps
    # implicit drag: v_k = v0 / (1 + γh)^k, x_n = h Σ_{k=1..n} v_k (exact for the scheme)
    q = 1.0 / (1.0 + gamma * h)
    x_discrete = h * v0 * q * (1 - q ** n) / (1 - q)
    np.testing.assert_allclose(res.x[0], x_discrete, rtol=1e-12)
    t = n * h
    x_exact = v0 / gamma * (1 - np.exp(-gamma * t))
    np.testing.assert_allclose(res.x[0], x_exact, rtol=gamma * h)  # first-order scheme: relative error ≈ γh/2


def test_constant_push_gives_the_analytic_trajectory():
    cfg = IntegratorConfig(substeps=200)
    beta, v0 = 3.0, 2.0
    res = rollout(Fields.zeros(GRID), theta(b=beta), v0, cfg)
    n = np.arange(1, cfg.horizons + 1) * cfg.substeps
    h = cfg.h
    np.testing.assert_allclose(res.x[0], h * n * v0 + beta * h * h * n * (n + 1) / 2, rtol=1e-12)
    t = n * h
    np.testing.assert_allclose(res.x[0], v0 * t + 0.5 * beta * t * t, rtol=5e-3)


def test_constant_current_relaxes_velocity_towards_it():
    cfg = IntegratorConfig(substeps=100)
    c, k = 6.0, 2.0
    res = rollout(Fields.from_arrays(GRID, C=c), theta(wC=k), 0.0, cfg)
    t = np.arange(1, 5) * 0.5
    np.testing.assert_allclose(res.v[0], c * (1 - np.exp(-k * t)), rtol=0.01)


def test_a_wall_repels():
    cfg = IntegratorConfig()
    walls = obstacle_field(GRID, np.array([12.0]), np.array([40.0]), np.array([4.0]))
    free = rollout(Fields.zeros(GRID), theta(wO=1.0), 12.0, cfg)
    walled = rollout(Fields.from_arrays(GRID, O=walls), theta(wO=1.0), 12.0, cfg)
    assert np.all(walled.x[0] < free.x[0])          # slowed by the wall ahead
    below = rollout(Fields.from_arrays(GRID, O=obstacle_field(GRID, np.array([4.0]), np.array([40.0]), np.array([4.0]))),
                    theta(wO=1.0), 0.0, cfg)
    assert below.a0[0] < 0 and below.x[0, -1] < 0    # pushed away from a wall just above


def test_a_valley_attracts():
    U = -50.0 * np.exp(-0.5 * ((GRID.x - 20.0) / 10.0) ** 2)
    res = rollout(Fields.from_arrays(GRID, U=U, G=1.0), theta(wU=1.0, wG=0.5), 0.0, IntegratorConfig())
    assert res.a0[0] > 0 and np.all(np.diff(res.x[0]) > 0)


# ----------------------------------------------------------------------------- invariants

@settings(max_examples=60, deadline=None)
@given(gamma=st.lists(st.floats(0.0, 50.0), min_size=GRID.size, max_size=GRID.size),
       wC=st.floats(0.0, 20.0), wG=st.floats(0.0, 20.0), v0=st.floats(-80.0, 80.0),
       substeps=st.integers(1, 16))
def test_damped_energy_never_grows_without_forcing(gamma, wC, wG, v0, substeps):
    """No potential, no current field, no bias: only drag. |v| (so ½v²) is non-increasing every substep."""
    f = Fields.from_arrays(GRID, G=np.array(gamma))
    cfg = IntegratorConfig(horizons=1, substeps=1)
    v = v0
    x = 0.0
    for _ in range(substeps * 4):
        res = rollout(f, theta(wC=wC, wG=wG), v, cfg, sensitivities=False, x0=x)
        v_new = res.v[0, 0]
        assert abs(v_new) <= abs(v) + 1e-12
        x, v = res.x[0, 0], v_new


@settings(max_examples=60, deadline=None)
@given(scale=st.sampled_from([1.0, 1e3, 1e8, 1e150, 1e300]),
       seed=st.integers(0, 2**31 - 1), v0=st.floats(-1e6, 1e6), th=st.lists(st.floats(0.0, 50.0), min_size=5, max_size=5))
def test_outputs_stay_finite_under_adversarial_fields(scale, seed, v0, th):
    rng = np.random.default_rng(seed)
    arrs = {k: scale * rng.standard_normal(GRID.size) for k in ("U", "C", "O")}
    f = Fields.from_arrays(GRID, G=np.abs(scale * rng.standard_normal(GRID.size)), **arrs)
    cfg = IntegratorConfig()
    res = rollout(f, np.array(th), v0, cfg)
    assert np.all(np.isfinite(res.x)) and np.all(np.isfinite(res.jac))
    assert np.all(np.abs(res.v) <= cfg.v_max)
    assert np.all(np.abs(res.x) <= cfg.v_max * cfg.dt * cfg.horizons + 1e-9)
    if abs(v0) > cfg.v_max:
        assert res.stats.clamp_v > 0


def test_clamps_and_nonfinite_are_counted_not_hidden():
    cfg = IntegratorConfig()
    huge = Fields.from_arrays(GRID, U=1e6 * np.sin(GRID.x / 5))
    res = rollout(huge, theta(wU=10.0), 0.0, cfg)
    assert res.stats.clamp_a > 0
    with np.errstate(over="ignore"):
        inf = Fields.from_arrays(GRID, U=np.where(GRID.x >= 0, 1e308, -1e308))  # ∂U/∂x overflows at spot
    res = rollout(inf, theta(wU=10.0), 0.0, cfg)
    assert res.stats.nonfinite > 0 and np.all(np.isfinite(res.x))
    off = rollout(Fields.zeros(GRID), theta(b=0.0), 79.0, IntegratorConfig(dt=10.0))
    assert off.stats.off_grid > 0


# ----------------------------------------------------------------------------- convergence

def test_integrator_converges_at_first_order_as_substeps_shrink():
    U = 0.5 * 3.0 * GRID.x ** 2 / 100.0 + 20.0 * np.sin(GRID.x / 7.0)
    C = 4.0 * np.cos(GRID.x / 11.0)
    f = Fields.from_arrays(GRID, U=U, C=C, G=0.7 + 0.3 * np.sin(GRID.x / 13.0))
    th = theta(wU=1.0, wC=0.8, wG=1.0, b=0.5)
    ref = rollout(f, th, 5.0, IntegratorConfig(substeps=8192), sensitivities=False).x[0]
    errs = [np.max(np.abs(rollout(f, th, 5.0, IntegratorConfig(substeps=k), sensitivities=False).x[0] - ref))
            for k in (8, 16, 32, 64)]
    assert all(e1 > e2 for e1, e2 in zip(errs, errs[1:])), errs
    orders = np.log2(np.array(errs[:-1]) / np.array(errs[1:]))
    assert np.all((orders > 0.8) & (orders < 1.3)), orders


# ----------------------------------------------------------------------------- sensitivities

@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_forward_sensitivities_match_finite_differences(seed):
    rng = np.random.default_rng(seed)
    x = GRID.x
    f = Fields.from_arrays(
        GRID,
        U=20 * np.sin(x / (9 + 4 * rng.random())) + 0.02 * x ** 2 * rng.random(),
        C=5 * np.cos(x / (15 + 5 * rng.random()) + rng.random()),
        G=1.0 + 0.5 * np.sin(x / 10 + rng.random()),
        O=obstacle_field(GRID, rng.uniform(-30, 30, 3), rng.uniform(5, 30, 3), rng.uniform(3, 8, 3)),
    )
    th = rng.uniform([0.5, 0.3, 0.2, 0.5, -2.0], [2.0, 1.5, 1.5, 2.0, 2.0])
    v0 = rng.uniform(-10, 10)
    cfg = IntegratorConfig()
    res = rollout(f, th, v0, cfg)
    assert res.stats.clamp_a == 0 and res.stats.clamp_v == 0
    eps = 1e-6
    for p in range(5):
        d = np.zeros(5)
        d[p] = eps
        xp = rollout(f, th + d, v0, cfg, sensitivities=False).x[0]
        xm = rollout(f, th - d, v0, cfg, sensitivities=False).x[0]
        fd = (xp - xm) / (2 * eps)
        np.testing.assert_allclose(res.jac[0, :, p], fd, rtol=1e-4, atol=1e-6, err_msg=f"parameter {p}")
