"""The ground truth as engine input: MarketFrames carrying the true fields, and the
producers that pass them through, so an engine run with the true θ is the reference
any learned engine is measured against."""

from __future__ import annotations

from typing import Iterator

import numpy as np

from marketphys.core.frame import MarketFrame
from marketphys.core.grid import Grid
from marketphys.core.producers import ProfileProducer
from marketphys.synth.config import TICK
from marketphys.synth.truth import GroundTruth

TRUE_CHANNELS = {"U": "true_U", "C": "true_C", "G": "true_G", "O": "true_O", "D": "true_D"}


def truth_frames(truth: GroundTruth, grid: Grid | None = None, spot: str = "book", velocity: bool = True,
                 start: int = 0, stop: int | None = None) -> Iterator[MarketFrame]:
    """One frame per window start: spot = the book mid (what the pipeline sees) or the latent mid,
    profiles ``true_U`` ... ``true_D`` on the grid centred on that spot, and (optionally) the true
    velocity as the ``velocity`` scalar."""
    if spot not in ("book", "latent"):
        raise ValueError(f"truth_frames: spot must be 'book' or 'latent', got {spot!r}")
    grid = grid or Grid()
    mids = truth.book_mid if spot == "book" else truth.latent_mid
    stop = truth.n_windows if stop is None else min(stop, truth.n_windows)
    for w in range(start, stop):
        s = float(mids[w])
        f = truth.fields_at(w, grid, spot=s)
        scalars = {"ofi": float(truth.ofi[w])}
        if velocity:
            scalars["velocity"] = float(truth.velocity[w])
        yield MarketFrame(ts_ns=int(truth.window_start_ns[w]), spot=s, tick_size=TICK, scalars=scalars,
                          profiles={ch: getattr(f, name) for name, ch in TRUE_CHANNELS.items()})


def truth_producers() -> list[ProfileProducer]:
    """Pass-through producers: field X = profiles['true_X'] (gain 1), so θ alone sets the forces."""
    return [ProfileProducer(ch, target=name, gain=1.0, name=f"truth:{name}") for name, ch in TRUE_CHANNELS.items()]


def forecast_errors(truth: GroundTruth, forecasts, spot: str = "latent") -> np.ndarray:
    """(n, H) errors in ticks of forecasts made at window starts against the realised mid."""
    mids = truth.latent_mid if spot == "latent" else truth.book_mid
    w0 = ((np.array([f.origin_ts_ns for f in forecasts]) - truth.window_start_ns[0]) // 500_000_000).astype(int)
    H = forecasts[0].x_hat.shape[0]
    err = np.full((len(forecasts), H), np.nan)
    for k, (w, f) in enumerate(zip(w0, forecasts)):
        for h in range(1, H + 1):
            if w + h < truth.n_windows:
                err[k, h - 1] = f.x_hat[h - 1] - (mids[w + h] - mids[w]) / TICK
    return err
