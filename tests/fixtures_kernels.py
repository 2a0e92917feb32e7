"""Synthetic sessions for the kernel tests: frames built from marketphys.core types."""

from __future__ import annotations

import numpy as np

from marketphys.core.frame import MarketFrame
from marketphys.core.grid import Grid
from marketphys.core.producers import (ConstantDiffusion, ConstantViscosity, ProfileProducer, PushProducer,
                                       SoftWallProducer, StrikeWallProducer)

T0 = 1_700_000_000_000_000_000
DT_NS = 500_000_000


SHADER_BACKENDS = ("msl-cpu", "metal-standin")
"""Every kernel test that runs on msl-cpu also runs MetalBackend on the metalcompute stand-in."""

_standin = None


def standin_metal():
    """MetalBackend driving tests/metalcompute_standin.py (shared by every test module)."""
    global _standin
    if _standin is None:
        import metalcompute_standin

        from marketphys.kernels.metal import MetalBackend

        _standin = MetalBackend(module=metalcompute_standin)
    return _standin


def shader_backend(name: str):
    """A shader backend by test id: "msl-cpu" or "metal-standin"."""
    if name == "metal-standin":
        return standin_metal()
    from marketphys.kernels import get_backend

    return get_backend(name)


def assert_standin_clean() -> None:
    """No handle left alive and no write past a buffer's end in the stand-in so far."""
    import metalcompute_standin as mc

    assert mc.pending() == 0, f"{mc.pending()} metalcompute run handles never completed"
    assert not mc.faults, mc.faults


def synthetic_frames(n: int, grid: Grid, seed: int = 0, spot0: float = 5000.0, gaps: bool = False) -> list[MarketFrame]:
    """A random-walk spot pushed by a scalar, a bumpy profile and a strike surface.

    With ``gaps`` some frames are dropped (the ledger must expire their targets).
    """
    rng = np.random.default_rng(seed)
    x = grid.x
    strike_rel = np.arange(-240, 241, 20, dtype=np.float64)
    frames, spot, push = [], spot0, 0.0
    for i in range(n):
        push = 0.9 * push + rng.normal(0, 0.5)
        spot = spot + 0.25 * round(0.6 * push + rng.normal(0, 1.0))
        prof = np.sin(x / 17.0 + 0.01 * i) * 0.5 + 0.1 * rng.normal(size=grid.size)
        gex = np.clip(np.abs(rng.normal(0.3, 0.3, size=strike_rel.size)), 0, 1)
        if gaps and i % 97 in (5, 6):
            continue
        frames.append(MarketFrame(ts_ns=T0 + i * DT_NS, spot=spot, scalars={"push": push},
                                  profiles={"bumps": prof}, strike_rel_ticks=strike_rel, strikes={"gex_abs_norm": gex}))
    return frames


def producers(diffusion: bool = False):
    out = [PushProducer(gain=2.0), SoftWallProducer(offset_ticks=12.0, width_ticks=5.0, reinforcement=0.3),
           ConstantViscosity(0.8), ProfileProducer("bumps", target="U", gain=3.0),
           StrikeWallProducer(threshold=0.85, gain=0.5, width_ticks=6.0, decay=0.7)]
    if diffusion:
        out.append(ConstantDiffusion(2.0))
    return out
