"""No-lookahead harness usable on any forecaster: perturb the future, the past must not change.

``no_lookahead_check(make, frames, cut)`` runs ``make(frames)`` over the frames, then
again over a copy whose frames after ``cut`` have been perturbed (spot and every
scalar/profile/strike channel). A forecast made at an origin ≤ cut is a function of
frames ≤ cut only, so it must be bit-identical in both runs; any difference is a leak.
``make`` receives the frame list so a deliberately leaky forecaster can peek.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable, Sequence

import numpy as np

from marketphys.core.frame import MarketFrame


class LookaheadError(AssertionError):
    """A forecast at some origin changed when only frames after it changed."""


def perturb_future(frames: Sequence[MarketFrame], cut: int, seed: int = 0, scale: float = 8.0) -> list[MarketFrame]:
    """Frames after index ``cut`` with spot and every channel shifted randomly (times kept)."""
    rng = np.random.default_rng(seed)
    out = list(frames[:cut + 1])
    drift = 0.0
    for f in frames[cut + 1:]:
        drift += scale * rng.standard_normal() * f.tick_size
        out.append(replace(
            f, spot=max(f.spot + round(drift / f.tick_size) * f.tick_size, f.tick_size),
            scalars={k: v + scale * rng.standard_normal() for k, v in f.scalars.items()},
            profiles={k: np.asarray(v) + rng.standard_normal(np.shape(v)) for k, v in f.profiles.items()},
            strikes={k: np.asarray(v) + rng.standard_normal(np.shape(v)) for k, v in f.strikes.items()}))
    return out


def _forecasts(make: Callable, frames: Sequence[MarketFrame]) -> list[np.ndarray]:
    fc = make(list(frames))
    return [np.asarray(fc.step(f) if hasattr(fc, "step") and not hasattr(fc, "ledger") else _engine_step(fc, f),
                       dtype=np.float64) for f in frames]


def _engine_step(engine, frame):
    f = engine.step(frame)
    return np.full(engine.config.integrator.horizons, np.nan) if f is None else f.x_hat


def no_lookahead_check(make: Callable[[list[MarketFrame]], object], frames: Sequence[MarketFrame], cut: int | None = None,
                       seed: int = 0, raise_on_leak: bool = True) -> dict:
    """Compare forecasts at origins ≤ cut between the real and a perturbed future; report (or raise on) any leak.

    ``make(frames)`` returns a fresh forecaster (``step(frame) -> x̂``) or an Engine.
    """
    frames = list(frames)
    if len(frames) < 3:
        raise ValueError(f"no_lookahead_check needs at least 3 frames, got {len(frames)}")
    cut = len(frames) // 2 if cut is None else int(cut)
    if not 0 <= cut < len(frames) - 1:
        raise ValueError(f"cut must leave some future to perturb: 0 <= cut < {len(frames) - 1}, got {cut}")
    a = _forecasts(make, frames)
    b = _forecasts(make, perturb_future(frames, cut, seed))
    changed = [i for i in range(cut + 1) if not np.array_equal(a[i], b[i], equal_nan=True)]
    report = {"cut": cut, "origins_checked": cut + 1, "leaks": len(changed),
              "first_leak_ts_ns": int(frames[changed[0]].ts_ns) if changed else None,
              "future_mattered": any(not np.array_equal(a[i], b[i], equal_nan=True) for i in range(cut + 1, len(frames)))}
    if changed and raise_on_leak:
        i = changed[0]
        raise LookaheadError(f"lookahead: the forecast at origin {frames[i].ts_ns} (frame {i}) changed when only frames "
                             f"after {frames[cut].ts_ns} (frame {cut}) were perturbed: {a[i]} vs {b[i]}")
    return report
