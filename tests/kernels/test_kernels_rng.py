"""Philox draws: identical integers on every backend, normals within float32 tolerance."""

from __future__ import annotations

import numpy as np
import pytest

from fixtures_kernels import SHADER_BACKENDS, assert_standin_clean, shader_backend
from marketphys.core.rng import normal, philox4x32
from marketphys.kernels import get_backend

NORMAL_ATOL = 5e-6  # float32 log/cos on |z| <= 5.8 vs float64


@pytest.fixture(scope="module", params=SHADER_BACKENDS)
def msl(request):
    """msl-cpu, and MetalBackend on the metalcompute stand-in (fixtures_kernels)."""
    yield shader_backend(request.param)
    assert_standin_clean()


@pytest.mark.parametrize("lanes", [1, 31, 33, 257])
def test_words_identical_and_normals_close(msl, lanes):
    ref = get_backend("numpy")
    for seed, stream, offset in ((0, 0, 0), (2**40 + 12345, 7, 1000), (2**64 - 1, 2**32 - 1, 2**32 - lanes)):
        w_k, n_k = msl.philox(seed, lanes, 19, stream=stream, lane_offset=offset)
        w_r, n_r = ref.philox(seed, lanes, 19, stream=stream, lane_offset=offset)
        np.testing.assert_array_equal(w_k, w_r)
        np.testing.assert_allclose(n_k, n_r, rtol=0, atol=NORMAL_ATOL)


def test_philox_known_answer():
    """Random123's published Philox4x32-10 vectors pin the reference itself."""
    out = philox4x32(0, 0, 0, 0, 0, 0)
    assert [int(v) for v in out] == [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]
    out = philox4x32(0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF)
    assert [int(v) for v in out] == [0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD]


def test_normals_are_standard(msl):
    _, z = msl.philox(5, 200, 500)
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1.0) < 0.01
    assert np.all(np.isfinite(z)) and np.allclose(z, normal(5, np.arange(200)[:, None], np.arange(500)[None, :]), atol=NORMAL_ATOL)
