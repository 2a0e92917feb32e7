"""Compose and rollout kernels vs the NumPy reference: odd sizes and adversarial values.

Tolerances: float32 kernels vs the float64 reference. Composed fields agree to
1e-5 relative to the field's scale; rollouts (32 substeps) to 1e-4 ticks + 1e-5
relative; guard counters exactly in cases designed away from the thresholds.
"""

from __future__ import annotations

import numpy as np
import pytest

from fixtures_kernels import SHADER_BACKENDS, assert_standin_clean, shader_backend
from marketphys.core.fields import Fields
from marketphys.core.grid import Grid
from marketphys.core.integrator import IntegratorConfig
from marketphys.kernels import get_backend
from marketphys.kernels.layout import FIELD_ROWS

REF = get_backend("numpy")


@pytest.fixture(scope="module", params=SHADER_BACKENDS)
def msl(request):
    """msl-cpu, and MetalBackend on the metalcompute stand-in (fixtures_kernels)."""
    yield shader_backend(request.param)
    assert_standin_clean()


def random_inputs(grid: Grid, frames: int, walls: int, seed: int):
    rng = np.random.default_rng(seed)
    contrib = rng.normal(size=(frames, 5, grid.size))
    contrib[:, 2] = np.abs(contrib[:, 2])
    contrib[:, 4] = np.abs(contrib[:, 4])
    w = np.stack([rng.uniform(-grid.half_width_ticks, grid.half_width_ticks, (frames, walls)),
                  rng.uniform(0, 5, (frames, walls)), rng.uniform(0.5, 8, (frames, walls))], axis=-1)
    return contrib, w


def assert_fields_close(a, b, rtol=1e-5):
    for k, name in enumerate(FIELD_ROWS):
        x, y = a[:, k], b[:, k]
        np.testing.assert_array_equal(np.isnan(x), np.isnan(y), err_msg=f"NaN pattern of {name}")
        scale = max(1.0, float(np.nanmax(np.abs(y[np.isfinite(y)]), initial=0.0)))
        np.testing.assert_allclose(np.nan_to_num(x), np.nan_to_num(y), rtol=0, atol=rtol * scale, err_msg=name)


@pytest.mark.parametrize("n,frames,walls", [(1, 1, 1), (15, 3, 4), (16, 2, 0), (64, 5, 9)])
def test_compose_matches_reference(msl, n, frames, walls):
    grid = Grid(n=n, dx=2.0 if n % 2 else 1.5)
    contrib, w = random_inputs(grid, frames, walls, seed=n)
    assert_fields_close(msl.compose(grid, contrib, w), REF.compose(grid, contrib, w))


def test_compose_adversarial_walls(msl):
    grid = Grid(n=31, dx=2.0)
    contrib = np.zeros((1, 5, grid.size))
    walls = np.array([[[0.0, 1e6, 3.0],      # huge strength on the particle
                       [10.0, 2.0, 0.0],     # zero width: floored, a spike of one cell
                       [-4.0, 5.0, 1e-9],    # tiny width, between cells
                       [999.0, 3.0, 2.0]]])  # far off the grid
    assert_fields_close(msl.compose(grid, contrib, walls), REF.compose(grid, contrib, walls))


def test_compose_nan_in_profile_propagates_like_reference(msl):
    grid = Grid(n=20, dx=2.0)
    contrib, w = random_inputs(grid, 2, 3, seed=4)
    contrib[0, 0, 7] = np.nan   # U: poisons dU at cells 6 and 8
    contrib[1, 3, 0] = np.nan   # O at the edge
    a, b = msl.compose(grid, contrib, w), REF.compose(grid, contrib, w)
    assert np.isnan(a[0, 5, 6]) and np.isnan(a[0, 5, 8]) and not np.isnan(a[0, 5, 7])
    assert_fields_close(a, b)


def fields_for(grid: Grid, seed: int, **over) -> Fields:
    contrib, w = random_inputs(grid, 1, 3, seed)
    contrib[0, 0] *= 3.0
    for k, v in over.items():
        contrib[0, "UCGOD".index(k)] = v
    return Fields(grid, *REF.compose(grid, contrib, w)[0])


def assert_rollout_close(a, b, stats=True, atol=1e-4, rtol=1e-5):
    np.testing.assert_allclose(a.x, b.x, atol=atol, rtol=rtol)
    np.testing.assert_allclose(a.v, b.v, atol=atol, rtol=rtol)
    np.testing.assert_allclose(a.a0, b.a0, atol=atol, rtol=rtol)
    if b.jac is not None:
        np.testing.assert_allclose(a.jac, b.jac, atol=atol, rtol=1e-4)
    if stats:
        assert a.stats.to_dict() == b.stats.to_dict()


@pytest.mark.parametrize("lanes", [1, 31, 33, 257])
def test_rollout_lanes_match_reference(msl, lanes):
    grid = Grid(n=33, dx=2.0)
    f = fields_for(grid, seed=lanes)
    rng = np.random.default_rng(lanes)
    theta = rng.uniform([0, 0, 0, 0, -2], [3, 3, 3, 3, 2], (lanes, 5))
    v0 = rng.normal(0, 10, lanes)
    cfg = IntegratorConfig(substeps=5, horizons=4)
    assert_rollout_close(msl.rollout(f, theta, v0, cfg), REF.rollout(f, theta, v0, cfg))
    # one θ and one v0 broadcast over lanes; x0 per lane
    x0 = rng.uniform(-10, 10, lanes)
    v3 = np.full(lanes, 3.0)
    assert_rollout_close(msl.rollout(f, theta[0], v3, cfg, x0=x0), REF.rollout(f, theta[0], v3, cfg, x0=x0))


@pytest.mark.parametrize("lanes", [1, 257])
def test_diffusion_paths_match_reference(msl, lanes):
    grid = Grid(n=40, dx=2.0)
    f = fields_for(grid, seed=3, D=2.5)
    cfg = IntegratorConfig()
    kw = dict(sensitivities=False, seed=2**33 + 9, stream=17, lane_offset=5)
    a = msl.rollout(f, np.array([1.0, 1.0, 0.5, 1.0, 0.0]), np.zeros(lanes), cfg, **kw)
    b = REF.rollout(f, np.array([1.0, 1.0, 0.5, 1.0, 0.0]), np.zeros(lanes), cfg, **kw)
    assert a.jac is None
    assert_rollout_close(a, b, atol=5e-4)
    assert np.std(a.x[:, -1]) > 0.5 or lanes == 1


def test_ensemble_bands_match_reference(msl):
    grid = Grid(n=40, dx=2.0)
    f = fields_for(grid, seed=5, D=1.0)
    cfg = IntegratorConfig()
    qa, _ = msl.ensemble_bands(f, np.array([1.0, 1.0, 1.0, 1.0, 0.0]), 2.0, cfg, 999, seed=4)
    qb, _ = REF.ensemble_bands(f, np.array([1.0, 1.0, 1.0, 1.0, 0.0]), 2.0, cfg, 999, seed=4)
    for q in qb:
        np.testing.assert_allclose(qa[q], qb[q], atol=1e-3)


def test_ensemble_shares_one_medium_table(msl, monkeypatch):
    """An ensemble's paths share one θ: the frame's A/κ/D table is built once (medium_table) and
    every path reads it, with the same bands as the reference."""
    grid = Grid(n=40, dx=2.0)
    f = fields_for(grid, seed=6, D=0.8)
    cfg = IntegratorConfig()
    entries = []
    real = msl.dispatch
    monkeypatch.setattr(msl, "dispatch", lambda shader, entry, *a, **k: (entries.append(entry), real(shader, entry, *a, **k))[1])
    theta = np.array([1.2, 0.8, 1.0, 1.5, 0.1])
    qa, sa = msl.ensemble_bands(f, theta, 1.0, cfg, 500, seed=9)
    assert entries[:2] == ["medium_table", "rollout_lanes"]
    qb, sb = REF.ensemble_bands(f, theta, 1.0, cfg, 500, seed=9)
    for q in qb:
        np.testing.assert_allclose(qa[q], qb[q], atol=1e-3)
    assert sa == sb


def test_adversarial_rollouts_count_guards_like_reference(msl):
    grid = Grid(n=21, dx=2.0)
    cfg = IntegratorConfig()
    theta = np.array([1.0, 1.0, 1.0, 1.0, 0.0])
    # a huge wall right on the particle: accelerations clamp
    contrib = np.zeros((1, 5, grid.size))
    wall = np.array([[[1.0, 1e6, 3.0]]])
    f = Fields(grid, *REF.compose(grid, contrib, wall)[0])
    a, b = msl.rollout(f, theta, 0.0, cfg), REF.rollout(f, theta, 0.0, cfg)
    assert b.stats.clamp_a > 0
    assert_rollout_close(a, b, atol=1e-3)
    # velocity beyond the cap, running off the grid
    f0 = Fields.zeros(grid)
    a, b = msl.rollout(f0, theta * 0, 500.0, cfg), REF.rollout(f0, theta * 0, 500.0, cfg)
    assert b.stats.clamp_v == 1 and b.stats.off_grid > 0
    assert_rollout_close(a, b)
    # zero-width wall on the particle (floored width): huge gradient spike
    f = Fields(grid, *REF.compose(grid, contrib, np.array([[[0.5, 3.0, 0.0]]]))[0])
    assert_rollout_close(msl.rollout(f, theta, 1.0, cfg), REF.rollout(f, theta, 1.0, cfg), atol=1e-3, rtol=1e-4)


def test_nan_in_profile_counted_like_reference(msl):
    grid = Grid(n=21, dx=2.0)
    U = np.zeros(grid.size)
    U[grid.n] = np.nan            # the particle sits on a poisoned cell
    f = Fields.from_arrays(grid, U=U, C=1.0, G=0.5)
    theta = np.array([1.0, 1.0, 1.0, 1.0, 0.0])
    args = (f, np.tile(theta, (3, 1)), np.array([0.0, 40.0, -40.0]), IntegratorConfig())
    a, b = msl.rollout(*args), REF.rollout(*args)
    assert b.stats.nonfinite > 0
    assert a.stats.to_dict() == b.stats.to_dict()
    np.testing.assert_allclose(a.x, b.x, atol=1e-4)
    np.testing.assert_allclose(a.jac, b.jac, atol=1e-4)


def test_sensitivities_match_finite_differences(msl):
    """The kernel's Jacobian is the derivative of what it computes (float32: coarse step)."""
    grid = Grid(n=33, dx=2.0)
    f = fields_for(grid, seed=8)
    cfg = IntegratorConfig()
    theta = np.array([1.0, 0.8, 0.6, 1.2, 0.3])
    base = msl.rollout(f, theta, 2.0, cfg)
    eps = 1e-2
    for p in range(5):
        tp, tm = theta.copy(), theta.copy()
        tp[p] += eps
        tm[p] -= eps
        fd = (msl.rollout(f, tp, 2.0, cfg, sensitivities=False).x - msl.rollout(f, tm, 2.0, cfg, sensitivities=False).x) / (2 * eps)
        np.testing.assert_allclose(base.jac[0, :, p], fd[0], atol=2e-3, rtol=2e-2)
