"""A small generated session for demos, tests and benchmarks of the lab.

Frames carry a push scalar, a vacuum profile that drifts with spot and one GEX-like
strike profile, and run through core producers, so the lab shows every encoding
(terrain valley, walls that thicken and erode, currents, haze) on real Engine output.
"""

from __future__ import annotations

import numpy as np

from marketphys.core.engine import Engine, EngineConfig
from marketphys.core.frame import MarketFrame
from marketphys.core.grid import Grid
from marketphys.core.producers import ConstantViscosity, ProfileProducer, PushProducer, StrikeWallProducer
from marketphys.kernels import make_engine


def sample_frames(n: int = 120, seed: int = 0, grid: Grid | None = None, t0_ns: int = 1_700_000_000_000_000_000):
    """``n`` MarketFrames every 0.5 s of a seeded random walk with a moving vacuum and strike walls."""
    if n < 1:
        raise ValueError(f"sample_frames: n must be >= 1, got {n}")
    grid = grid or Grid(n=64, dx=2.0)
    rng = np.random.default_rng(seed)
    x = grid.x
    strike_px = 5000.0 + np.arange(-6, 7) * 5.0          # fixed absolute strikes so walls keep identity
    spot, frames = 5000.0, []
    for k in range(n):
        push = 4.0 * np.sin(k / 15.0) + rng.normal(0, 1.0)
        spot = round((spot + 0.25 * rng.normal(push * 0.1, 1.5)) / 0.25) * 0.25
        centre = 30.0 * np.sin(k / 25.0)
        vacuum = -np.exp(-0.5 * ((x - centre) / 14.0) ** 2)
        flow = np.tanh((x - centre) / 40.0)
        strikes = (strike_px - spot) / 0.25
        gex = np.exp(-0.5 * ((strike_px - 5010.0) / 4.0) ** 2) * (1.0 + 0.8 * np.sin(k / 10.0))
        frames.append(MarketFrame(ts_ns=t0_ns + k * 500_000_000, spot=spot, tick_size=0.25,
                                  scalars={"push": push}, profiles={"vacuum": vacuum, "flow": flow},
                                  strike_rel_ticks=strikes, strikes={"gex_abs_norm": gex}))
    return frames


def sample_engine(grid: Grid | None = None, n_paths: int = 0) -> Engine:
    grid = grid or Grid(n=64, dx=2.0)
    producers = [PushProducer(gain=1.0), ProfileProducer("vacuum", "U", gain=20.0),
                 ProfileProducer("flow", "C", gain=3.0), ConstantViscosity(0.8),
                 StrikeWallProducer(gain=1.0, threshold=0.3, width_ticks=6.0, decay=0.85)]
    return make_engine(producers, EngineConfig(grid=grid, n_paths=n_paths, seed=1))


def sample_session(n: int = 120, seed: int = 0, lab=None, n_paths: int = 0):
    """Run an engine over ``sample_frames`` and push every step into ``lab`` (if given); returns the engine."""
    eng = sample_engine(n_paths=n_paths)
    for fr in sample_frames(n, seed, eng.config.grid):
        fc = eng.step(fr)
        if lab is not None:
            lab.push(eng, fc)
    return eng
