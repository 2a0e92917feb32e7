"""The spatial grid: cells of Δx ticks centred on spot (docs/architecture.md#grid-and-timebase)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Grid:
    """Cells i in [-n..n], x(i) = i·dx ticks, centred on the frame's spot.

    The default half-width n = 128 with dx = 2 covers ±256 ticks, enough for the
    25-strike GEX grid (±240 ticks for ES, docs/architecture.md#grid-and-timebase).
    """

    n: int = 128
    dx: float = 2.0

    def __post_init__(self) -> None:
        if not isinstance(self.n, (int, np.integer)) or self.n < 1:
            raise ValueError(f"Grid.n must be a positive integer, got n={self.n!r}")
        if not np.isfinite(self.dx) or self.dx <= 0:
            raise ValueError(f"Grid.dx must be a positive number of ticks, got dx={self.dx!r}")

    @property
    def size(self) -> int:
        """Number of cells, 2n + 1."""
        return 2 * self.n + 1

    @property
    def x(self) -> np.ndarray:
        """Cell centres in ticks relative to spot."""
        return np.arange(-self.n, self.n + 1, dtype=np.float64) * self.dx

    @property
    def half_width_ticks(self) -> float:
        return self.n * self.dx

    def zeros(self) -> np.ndarray:
        return np.zeros(self.size, dtype=np.float64)

    def to_dict(self) -> dict:
        return {"n": int(self.n), "dx": float(self.dx)}
