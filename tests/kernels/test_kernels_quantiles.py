"""Ensemble quantiles by rank selection (shaders/quantile.metal) equal np.quantile exactly."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fixtures_kernels import SHADER_BACKENDS, assert_standin_clean, shader_backend
from marketphys.kernels import get_backend
from marketphys.kernels.quantiles import interpolate, quantile_ranks

BANDS = (0.05, 0.25, 0.5, 0.75, 0.95)


@pytest.fixture(scope="module", params=SHADER_BACKENDS)
def msl(request):
    """msl-cpu, and MetalBackend on the metalcompute stand-in (fixtures_kernels)."""
    yield shader_backend(request.param)
    assert_standin_clean()


def reference(x, qs):
    return np.quantile(np.asarray(x, np.float32).astype(np.float64), qs, axis=0)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.integers(2, 3000), cols=st.integers(1, 5), seed=st.integers(0, 2**32 - 1),
       distinct=st.sampled_from([3, 50, None]), spread=st.sampled_from([1e-6, 1.0, 1e30]),
       qs=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=8))
def test_selected_quantiles_equal_numpy(msl, rows, cols, seed, distinct, spread, qs):
    """Ties, constant columns, tiny and huge ranges, arbitrary quantile lists (0 and 1 included)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_cauchy((rows, cols)) * spread
    if distinct is not None:  # heavy ties: values drawn from a few levels
        x = rng.choice(x.ravel()[:distinct], size=(rows, cols))
    x = x.astype(np.float32)
    np.testing.assert_array_equal(msl.column_quantiles(x, qs), reference(x, qs))


@pytest.mark.parametrize("rows", [2, 31, 33, 257, 10_000])
def test_band_quantiles_on_odd_sizes(msl, rows):
    x = np.random.default_rng(rows).normal(size=(rows, 4)).astype(np.float32)
    x[:, 2] = 3.5  # a constant column
    np.testing.assert_array_equal(msl.column_quantiles(x, BANDS), reference(x, BANDS))


def test_non_finite_values_fall_back_to_numpy_semantics(msl):
    x = np.random.default_rng(0).normal(size=(100, 3)).astype(np.float32)
    x[5, 0], x[7, 1] = np.nan, np.inf
    np.testing.assert_array_equal(msl.column_quantiles(x, BANDS), reference(x, BANDS))


def test_quantile_ranks_reject_bad_quantiles():
    with pytest.raises(ValueError, match="quantiles must be finite numbers in \\[0, 1\\]"):
        quantile_ranks(10, [0.5, 1.5])
    with pytest.raises(ValueError, match="empty set: n=0"):
        quantile_ranks(0, [0.5])


def test_interpolation_is_numpys_formula():
    x = np.sort(np.random.default_rng(1).normal(size=(1001, 2)), axis=0)
    qs = np.linspace(0, 1, 23)
    ranks, below, above, frac = quantile_ranks(1001, qs)
    np.testing.assert_array_equal(interpolate(x[ranks].T, below, above, frac), np.quantile(x, qs, axis=0))
