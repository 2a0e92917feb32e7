"""Lane groups (MP_LANES lanes per thread) and the shared-theta medium table against the reference.

msl-cpu runs 16 (g++) or 32 (clang) lanes per thread as structure-of-arrays SIMD code; lane
counts around the group widths check the tail group (lanes past the end repeat the last lane and are never
written), and the medium table path (one theta, no sensitivities, >= TABLE_MIN_LANES lanes)
must count every guard exactly like the reference, adversarial media included.
"""

from __future__ import annotations

import numpy as np
import pytest

from fixtures_kernels import SHADER_BACKENDS, assert_standin_clean, shader_backend
from marketphys.core.fields import Fields
from marketphys.core.grid import Grid
from marketphys.core.integrator import IntegratorConfig
from marketphys.kernels import get_backend
from marketphys.kernels.base import TABLE_MIN_LANES
from marketphys.kernels.msl_cpu import MslCpuBackend
from test_kernels_physics import assert_rollout_close, fields_for

REF = get_backend("numpy")
THETA = np.array([1.0, 1.0, 0.5, 1.0, 0.2])


@pytest.fixture(scope="module")
def msl():
    return get_backend("msl-cpu")


@pytest.fixture(scope="module", params=SHADER_BACKENDS)
def shader(request):
    """msl-cpu, and MetalBackend on the metalcompute stand-in (fixtures_kernels)."""
    yield shader_backend(request.param)
    assert_standin_clean()


@pytest.mark.parametrize("lanes", [15, 16, 17, 31, 33, 47, 65])
def test_group_tails_match_reference(msl, lanes):
    assert msl.lanes_per_thread in (16, 32)
    grid = Grid(n=25, dx=2.0)
    f = fields_for(grid, seed=lanes, D=1.5)
    rng = np.random.default_rng(lanes)
    theta = rng.uniform([0, 0, 0, 0, -2], [3, 3, 3, 3, 2], (lanes, 5))
    v0 = rng.normal(0, 10, lanes)
    cfg = IntegratorConfig(substeps=6, horizons=3)
    assert_rollout_close(msl.rollout(f, theta, v0, cfg), REF.rollout(f, theta, v0, cfg))
    kw = dict(sensitivities=False, seed=11, stream=3, lane_offset=2**32 - 7)  # lane counters wrap
    assert_rollout_close(msl.rollout(f, theta, v0, cfg, **kw), REF.rollout(f, theta, v0, cfg, **kw), atol=5e-4)


@pytest.mark.parametrize("width", ["16", "32"])
def test_one_lane_per_thread_equals_a_group(monkeypatch, width):
    """MP_LANES only regroups the work: 1 and 16 or 32 lanes per thread give the same numbers."""
    monkeypatch.setenv("MARKETPHYS_MSL_LANES", "1")
    one = MslCpuBackend(workers=2)
    monkeypatch.setenv("MARKETPHYS_MSL_LANES", width)
    many = MslCpuBackend(workers=2)
    assert (one.lanes_per_thread, many.lanes_per_thread) == (1, int(width))
    grid = Grid(n=30, dx=1.0)
    f = fields_for(grid, seed=9, D=2.0)
    theta = np.random.default_rng(2).uniform([0, 0, 0, 0, -1], [2, 2, 2, 2, 1], (37, 5))
    cfg = IntegratorConfig()
    for kw in (dict(), dict(sensitivities=False, seed=5)):
        a, b = one.rollout(f, theta, 2.0, cfg, **kw), many.rollout(f, theta, 2.0, cfg, **kw)
        np.testing.assert_array_equal(a.x, b.x)
        assert a.stats == b.stats


def test_bad_lane_override_is_named(monkeypatch):
    monkeypatch.setenv("MARKETPHYS_MSL_LANES", "12")
    with pytest.raises(ValueError, match="MARKETPHYS_MSL_LANES must be a power of two from 1 to 64, got '12'"):
        MslCpuBackend()


def _adversarial_media(grid):
    contrib = np.zeros((1, 5, grid.size))
    huge_wall = Fields(grid, *REF.compose(grid, contrib, np.array([[[1.0, 1e6, 3.0]]]))[0])
    U = np.zeros(grid.size)
    U[grid.n + 2] = np.nan
    poisoned = Fields.from_arrays(grid, U=U, C=1.0, G=0.5, D=1.0)
    thin_wall = Fields(grid, *REF.compose(grid, contrib, np.array([[[0.5, 3.0, 0.0]]]))[0])
    return {"huge wall": huge_wall, "NaN in U": poisoned, "zero-width wall": thin_wall, "empty": Fields.zeros(grid)}


@pytest.mark.parametrize("diffusion", [False, True])
def test_medium_table_counts_guards_like_reference(shader, diffusion):
    grid = Grid(n=21, dx=2.0)
    cfg = IntegratorConfig()
    lanes = TABLE_MIN_LANES + 13
    v0 = np.linspace(-300.0, 300.0, lanes)  # some lanes start beyond the velocity cap and run off the grid
    kw = dict(sensitivities=False, seed=7 if diffusion else None)
    for name, f in _adversarial_media(grid).items():
        a, b = shader.rollout(f, THETA, v0, cfg, **kw), REF.rollout(f, THETA, v0, cfg, **kw)
        assert a.stats.to_dict() == b.stats.to_dict(), name
        ok = np.isfinite(b.x).all(axis=1)
        np.testing.assert_allclose(a.x[ok], b.x[ok], atol=1e-3, rtol=1e-4, err_msg=name)
        np.testing.assert_array_equal(np.isfinite(a.x), np.isfinite(b.x), err_msg=name)
    assert REF.rollout(_adversarial_media(grid)["NaN in U"], THETA, v0, cfg, **kw).stats.nonfinite > 0


def test_medium_table_equals_direct_interpolation(shader):
    """Below TABLE_MIN_LANES the same rollout interpolates the five fields: the paths agree."""
    grid = Grid(n=40, dx=2.0)
    f = fields_for(grid, seed=4, D=1.0)
    cfg = IntegratorConfig()
    kw = dict(sensitivities=False, seed=3, stream=9)
    tabled = shader.rollout(f, THETA, 1.5, cfg, x0=np.linspace(-20, 20, TABLE_MIN_LANES), **kw)
    direct = np.concatenate([shader.rollout(f, THETA, 1.5, cfg, x0=x0, lane_offset=i * 16, **kw).x
                             for i, x0 in enumerate(np.split(np.linspace(-20, 20, TABLE_MIN_LANES), TABLE_MIN_LANES // 16))])
    np.testing.assert_allclose(tabled.x, direct, atol=1e-4, rtol=1e-5)


def test_few_lanes_run_one_per_thread(msl):
    """A lone lane (a session's replay, one rollout) uses the MP_LANES=1 build, not a padded group."""
    from marketphys.kernels.msl_cpu import GROUP_MIN_LANES

    wide = msl.lanes_per_thread
    assert [msl.lane_width(n) for n in (1, GROUP_MIN_LANES - 1, GROUP_MIN_LANES, 1024)] == [1, 1, 16, wide]
    assert msl.lane_width(wide - 1) == 16 and msl.lane_width(wide) == wide
    assert msl.threads_for(17, 16) == 2 and msl.threads_for(17, 1) == 17
