"""Fields, their gradients and their interpolation against closed forms and ``np.interp``.

Central differences are exact for a quadratic inside the grid and one-sided differences exact
for a line at the edges; ``np.interp`` is an independent linear interpolation that holds the
edge values outside the grid, which is what ``locate``/``lerp`` promise (and the kernels do).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from marketphys.core.fields import FIELD_NAMES, Fields, grid_gradient, lerp, locate
from marketphys.core.grid import Grid

GRID = Grid(n=5, dx=0.5)


def test_gradient_is_exact_for_a_quadratic_inside_and_one_sided_at_the_edges():
    x = GRID.x
    y = 3.0 * x ** 2 - 2.0 * x + 1.0
    g = grid_gradient(y, GRID.dx)
    np.testing.assert_allclose(g[1:-1], 6.0 * x[1:-1] - 2.0, rtol=1e-12, atol=1e-12)
    # one-sided: (y1 − y0)/dx is the slope at the midpoint of the first cell, 6·(x0 + dx/2) − 2
    assert g[0] == pytest.approx(6.0 * (x[0] + 0.25) - 2.0, rel=1e-12)
    assert g[-1] == pytest.approx(6.0 * (x[-1] - 0.25) - 2.0, rel=1e-12)
    assert g.dtype == np.float64


@settings(max_examples=30, deadline=None)
@given(slope=st.floats(-1e3, 1e3), icpt=st.floats(-1e3, 1e3), dx=st.floats(0.1, 8.0))
def test_gradient_of_a_line_is_its_slope_everywhere(slope, icpt, dx):
    x = np.arange(-4, 5) * dx
    np.testing.assert_allclose(grid_gradient(slope * x + icpt, dx), slope, rtol=1e-9, atol=1e-6)


def test_gradient_of_integer_values_is_float():
    g = grid_gradient(np.array([0, 1, 3, 4]), 1.0)
    np.testing.assert_array_equal(g, [1.0, 1.5, 1.5, 1.0])   # an int result array would truncate the halves


def test_locate_by_hand():
    # n = 5, dx = 0.5: cells at −2.5 … 2.5; f = x/dx + 5
    i0, t, inside = locate(np.array([-2.5, -2.6, 0.0, 0.2, 0.25, 2.4, 2.5, 2.6, 100.0]), 5, 0.5)
    np.testing.assert_array_equal(i0, [0, 0, 5, 5, 5, 9, 9, 9, 9])
    np.testing.assert_allclose(t, [0.0, 0.0, 0.0, 0.4, 0.5, 0.8, 1.0, 1.0, 1.0], atol=1e-12)
    np.testing.assert_array_equal(inside, [True, False, True, True, True, True, True, False, False])
    assert i0.dtype == np.int64


def test_locate_holds_the_edges_for_non_finite_x_like_the_kernels():
    """+inf reads the right edge and −inf the left, as the clamps in mp_locate do; NaN reads cell 0 (mp_locate
    maps NaN to 0). None of them is inside."""
    i0, t, inside = locate(np.array([np.inf, -np.inf, np.nan]), 5, 0.5)
    np.testing.assert_array_equal(i0, [9, 0, 0])
    np.testing.assert_array_equal(t, [1.0, 0.0, 0.0])
    assert not inside.any()
    f = Fields.from_arrays(GRID, U=GRID.x ** 3)
    np.testing.assert_array_equal(f.at([np.inf, -np.inf, 1e300])["U"], [2.5 ** 3, -(2.5 ** 3), 2.5 ** 3])


def test_lerp_between_two_cells():
    v = np.array([1.0, 3.0, -5.0])
    np.testing.assert_allclose(lerp(v, np.array([0, 1, 1]), np.array([0.25, 0.5, 1.0])), [1.5, -1.0, -5.0])


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 8), dx=st.floats(0.25, 4.0))
def test_every_field_at_x_equals_np_interp(seed, n, dx):
    rng = np.random.default_rng(seed)
    g = Grid(n=n, dx=dx)
    arrs = {k: rng.normal(size=g.size) for k in FIELD_NAMES}
    f = Fields.from_arrays(g, **arrs)
    x = np.concatenate([rng.uniform(-1.5, 1.5, 20) * g.half_width_ticks, g.x, [-g.half_width_ticks, g.half_width_ticks]])
    got = f.at(x)
    assert sorted(got) == sorted((*FIELD_NAMES, "dU", "dO"))
    for k in FIELD_NAMES:
        np.testing.assert_allclose(got[k], np.interp(x, g.x, arrs[k]), rtol=1e-12, atol=1e-12, err_msg=k)
    np.testing.assert_allclose(got["dU"], np.interp(x, g.x, grid_gradient(arrs["U"], dx)), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got["dO"], np.interp(x, g.x, grid_gradient(arrs["O"], dx)), rtol=1e-12, atol=1e-12)
    # a scalar x works too
    assert f.at(0.0)["U"].shape == (1,) and f.at(0.0)["U"][0] == pytest.approx(arrs["U"][n])


def test_from_arrays_broadcasts_scalars_zeros_the_rest_and_copies():
    U = GRID.x.copy()
    f = Fields.from_arrays(GRID, U=U, G=2)
    U[:] = 99.0                                       # the caller's array is not the field
    np.testing.assert_array_equal(f.U, GRID.x)
    np.testing.assert_array_equal(f.G, np.full(GRID.size, 2.0))
    assert f.G.dtype == np.float64 and f.G.flags.writeable
    for k in ("C", "O", "D", "dO"):
        np.testing.assert_array_equal(getattr(f, k), np.zeros(GRID.size))
    np.testing.assert_allclose(f.dU, 1.0, rtol=1e-12)
    z = Fields.zeros(GRID)
    for k in (*FIELD_NAMES, "dU", "dO"):
        np.testing.assert_array_equal(getattr(z, k), np.zeros(GRID.size))
    with pytest.raises(ValueError):
        Fields.from_arrays(GRID, C=np.ones(GRID.size + 1))


def test_dO_is_the_gradient_of_O():
    O = np.exp(-GRID.x ** 2)
    f = Fields.from_arrays(GRID, O=O)
    np.testing.assert_allclose(f.dO, grid_gradient(O, GRID.dx), rtol=0, atol=0)
    np.testing.assert_array_equal(f.dU, 0.0)


def test_potential_view_and_dict():
    f = Fields.from_arrays(GRID, U=GRID.x, O=GRID.x ** 2, C=1.0)
    np.testing.assert_allclose(f.potential_view(2.0, -3.0), 2.0 * GRID.x - 3.0 * GRID.x ** 2)
    d = f.to_dict()
    assert list(d) == ["U", "C", "G", "O", "D", "dU", "dO"]
    for k, v in d.items():
        assert v is getattr(f, k)
