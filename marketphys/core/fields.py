"""Canonical fields over the grid and their interpolation at continuous x (docs/architecture.md#fields).

Everything here is a pure function over arrays so kernels can mirror it line by line.
Gradients are central differences on the grid (one-sided at the edges); values and
gradients are linearly interpolated between cells; outside the grid they hold the
edge value and their slope is zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from marketphys.core.grid import Grid

FIELD_NAMES = ("U", "C", "G", "O", "D")
"""U potential, C current (ticks/s), G viscosity Γ (1/s), O obstacle energy, D diffusion (ticks²/s)."""


def grid_gradient(values: np.ndarray, dx: float) -> np.ndarray:
    """Central-difference derivative on the grid; one-sided at the two edges."""
    g = np.empty_like(values, dtype=np.float64)
    g[1:-1] = (values[2:] - values[:-2]) / (2.0 * dx)
    g[0] = (values[1] - values[0]) / dx
    g[-1] = (values[-1] - values[-2]) / dx
    return g


def locate(x: np.ndarray, n: int, dx: float):
    """Cell index i0 (left neighbour, 0-based), fraction t in [0,1] and an inside-grid mask."""
    f = np.asarray(x, dtype=np.float64) / dx + n
    size = 2 * n + 1
    inside = (f >= 0.0) & (f <= size - 1)
    # NaN reads cell 0; ±inf are held at their own edge by the clips below (as mp_locate)
    f = np.where(np.isnan(f), 0.0, f) if np.isnan(f).any() else f
    i0 = np.clip(np.floor(f), 0, size - 2).astype(np.int64)
    t = np.clip(f - i0, 0.0, 1.0)
    return i0, t, inside


def lerp(values: np.ndarray, i0: np.ndarray, t: np.ndarray) -> np.ndarray:
    return values[i0] * (1.0 - t) + values[i0 + 1] * t


@dataclass
class Fields:
    """The medium at one frame: U, C, Γ (G), O, D on the grid plus ∂U/∂x and ∂O/∂x."""

    grid: Grid
    U: np.ndarray
    C: np.ndarray
    G: np.ndarray
    O: np.ndarray
    D: np.ndarray
    dU: np.ndarray
    dO: np.ndarray

    @classmethod
    def from_arrays(cls, grid: Grid, U=None, C=None, G=None, O=None, D=None) -> "Fields":
        arrs = {}
        for name, a in zip(FIELD_NAMES, (U, C, G, O, D)):
            a = grid.zeros() if a is None else np.broadcast_to(np.asarray(a, dtype=np.float64), (grid.size,)).copy()
            arrs[name] = a
        return cls(grid=grid, dU=grid_gradient(arrs["U"], grid.dx), dO=grid_gradient(arrs["O"], grid.dx), **arrs)

    @classmethod
    def zeros(cls, grid: Grid) -> "Fields":
        return cls.from_arrays(grid)

    def at(self, x) -> dict[str, np.ndarray]:
        """Every field (and dU, dO) interpolated at continuous x (ticks from spot)."""
        i0, t, _ = locate(np.atleast_1d(x), self.grid.n, self.grid.dx)
        return {k: lerp(getattr(self, k), i0, t) for k in (*FIELD_NAMES, "dU", "dO")}

    def potential_view(self, wU: float, wO: float) -> np.ndarray:
        """V = wU·U + wO·O: the effective potential the instrument draws as terrain."""
        return wU * self.U + wO * self.O

    def to_dict(self) -> dict[str, np.ndarray]:
        return {k: getattr(self, k) for k in (*FIELD_NAMES, "dU", "dO")}
