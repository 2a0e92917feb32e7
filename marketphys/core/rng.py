"""Counter-based random numbers (Philox4x32-10) so every backend draws the same noise.

A draw is a pure function of (seed, lane, step): no hidden stream state, so a Metal
thread, a C++ loop and this NumPy reference agree bit for bit on the integers. The
normal is Box-Muller on two 23-bit uniforms, which float32 represents exactly (a 24-bit
grid of cell midpoints would need 25 bits, and float32 would round u near 1).
"""

from __future__ import annotations

import numpy as np

PHILOX_M0 = np.uint64(0xD2511F53)
PHILOX_M1 = np.uint64(0xCD9E8D57)
PHILOX_W0 = np.uint32(0x9E3779B9)
PHILOX_W1 = np.uint32(0xBB67AE85)
_MASK32 = np.uint64(0xFFFFFFFF)


def philox4x32(c0, c1, c2, c3, k0, k1, rounds: int = 10):
    """Philox4x32 on uint32 arrays (broadcast); returns four uint32 arrays."""
    c0, c1, c2, c3 = (np.asarray(c, dtype=np.uint32) for c in (c0, c1, c2, c3))
    c0, c1, c2, c3 = np.broadcast_arrays(c0, c1, c2, c3)
    c0, c1, c2, c3 = c0.copy(), c1.copy(), c2.copy(), c3.copy()
    k0 = np.uint32(k0)
    k1 = np.uint32(k1)
    with np.errstate(over="ignore"):
        for _ in range(rounds):
            p0 = PHILOX_M0 * c0.astype(np.uint64)
            p1 = PHILOX_M1 * c2.astype(np.uint64)
            hi0, lo0 = (p0 >> np.uint64(32)).astype(np.uint32), (p0 & _MASK32).astype(np.uint32)
            hi1, lo1 = (p1 >> np.uint64(32)).astype(np.uint32), (p1 & _MASK32).astype(np.uint32)
            c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
            k0 = np.uint32(k0 + PHILOX_W0)
            k1 = np.uint32(k1 + PHILOX_W1)
    return c0, c1, c2, c3


def seed_key(seed: int) -> tuple[int, int]:
    s = int(seed) & 0xFFFFFFFFFFFFFFFF
    return s & 0xFFFFFFFF, (s >> 32) & 0xFFFFFFFF


def uniform23(r: np.ndarray) -> np.ndarray:
    """Map a uint32 to (0, 1) using its top 23 bits: (k + 0.5)/2²³ is exact in float32 on every backend."""
    return ((np.asarray(r, dtype=np.uint32) >> np.uint32(9)).astype(np.float64) + 0.5) * (1.0 / 8388608.0)


def normal(seed: int, lane, step, stream: int = 0) -> np.ndarray:
    """Standard normal draw for (seed, lane, step, stream): Box-Muller on Philox words 0 and 1."""
    k0, k1 = seed_key(seed)
    r0, r1, _, _ = philox4x32(lane, step, stream, 0, k0, k1)
    u1, u2 = uniform23(r0), uniform23(r1)
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)
