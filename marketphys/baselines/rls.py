"""Recursive least squares with exponential forgetting: the online learner behind AR and OFI baselines."""

from __future__ import annotations

import numpy as np


class RLS:
    """w ← w + k·(y − xᵀw), k = P·x / (λ + xᵀP·x), P ← (P − k·xᵀP)/λ; starts at w = 0, P = I/ridge."""

    def __init__(self, dim: int, forgetting: float = 0.999, ridge: float = 1e-2):
        if dim < 1:
            raise ValueError(f"RLS: dim must be >= 1, got {dim!r}")
        if not (0.0 < forgetting <= 1.0):
            raise ValueError(f"RLS: forgetting must be in (0, 1], got {forgetting!r}")
        if not (ridge > 0):
            raise ValueError(f"RLS: ridge must be > 0, got {ridge!r}")
        self.dim, self.forgetting, self.ridge = int(dim), float(forgetting), float(ridge)
        self.reset()

    def reset(self) -> None:
        self.w = np.zeros(self.dim)
        self.P = np.eye(self.dim) / self.ridge
        self.n = 0

    def predict(self, x: np.ndarray) -> float:
        return float(self.w @ x)

    def update(self, x: np.ndarray, y: float) -> None:
        x = np.asarray(x, dtype=np.float64)
        if not (np.all(np.isfinite(x)) and np.isfinite(y)):
            return
        Px = self.P @ x
        k = Px / (self.forgetting + x @ Px)
        self.w = self.w + k * (y - self.w @ x)
        self.P = (self.P - np.outer(k, Px)) / self.forgetting
        self.P = 0.5 * (self.P + self.P.T)
        self.n += 1
