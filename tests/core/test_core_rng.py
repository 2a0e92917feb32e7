"""The reference RNG's uniforms are exactly representable in float32 (so kernels agree)."""

from __future__ import annotations

import numpy as np

from marketphys.core.rng import normal, uniform23


def test_uniform_exact_in_float32_and_open_interval():
    words = np.array([0, 1, 511, 512, 2**31, 2**32 - 513, 2**32 - 512, 2**32 - 1], dtype=np.uint32)
    u = uniform23(words)
    np.testing.assert_array_equal(u.astype(np.float32).astype(np.float64), u)
    assert np.all((u > 0) & (u < 1))
    assert u[-1] == 1.0 - 0.5 / 2**23 and u[0] == 0.5 / 2**23


def test_normal_float32_recompute_close():
    """Box-Muller in float32 from the same words stays within 2e-6 of float64 (no rounding of u)."""
    from marketphys.core.rng import philox4x32, seed_key

    k0, k1 = seed_key(11)
    lane = np.arange(4096, dtype=np.uint32)
    r0, r1, _, _ = philox4x32(lane, 3, 0, 0, k0, k1)
    u1, u2 = uniform23(r0).astype(np.float32), uniform23(r1).astype(np.float32)
    z32 = np.sqrt(np.float32(-2) * np.log(u1)) * np.cos(np.float32(2 * np.pi) * u2)
    np.testing.assert_allclose(z32, normal(11, lane, 3), atol=2e-6)
