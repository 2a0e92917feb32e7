"""Soft walls with memory (docs/architecture.md#walls): S(t+1) = decay·S(t) + reinforcement(t).

A wall is an entity with identity: it lives at an absolute price, so as spot moves
the wall slides across the spot-centred grid while its strength thickens or erodes.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from marketphys.core.grid import Grid

MIN_WIDTH_TICKS = 1e-3
"""A zero-width wall would be a delta spike; widths are floored here and in the kernels."""


@dataclass(frozen=True)
class WallState:
    """One wall: centre (absolute price), strength S, width σ (ticks), decay per frame."""

    wall_id: str
    center: float
    strength: float
    width: float
    decay: float = 0.98
    s_max: float = 10.0
    reinforcement: float = 0.0
    d_strength: float = 0.0
    age: int = 0

    def __post_init__(self) -> None:
        if not np.isfinite(self.center) or self.center <= 0:
            raise ValueError(f"WallState {self.wall_id!r}: center must be a finite positive price, got {self.center!r}")
        if not np.isfinite(self.width) or self.width < 0:
            raise ValueError(f"WallState {self.wall_id!r}: width must be >= 0 ticks, got {self.width!r}")
        if not (0.0 <= self.decay <= 1.0):
            raise ValueError(f"WallState {self.wall_id!r}: decay must be in [0, 1], got {self.decay!r}")
        if not np.isfinite(self.s_max) or self.s_max <= 0:
            raise ValueError(f"WallState {self.wall_id!r}: s_max must be > 0, got {self.s_max!r}")
        if not np.isfinite(self.strength):
            raise ValueError(f"WallState {self.wall_id!r}: strength is not finite ({self.strength!r})")

    def evolve(self, reinforcement: float) -> "WallState":
        """One frame of memory: decay, reinforce, bound to [0, s_max]."""
        r = float(reinforcement) if np.isfinite(reinforcement) else 0.0
        s = float(np.clip(self.decay * self.strength + r, 0.0, self.s_max))
        return replace(self, strength=s, reinforcement=r, d_strength=s - self.strength, age=self.age + 1)


@dataclass
class WallSet:
    """The persistent set of walls; producers reinforce them, the engine decays them once per frame."""

    walls: dict[str, WallState] = field(default_factory=dict)
    forget_below: float = 1e-4

    def __len__(self) -> int:
        return len(self.walls)

    def __iter__(self):
        return iter(self.walls.values())

    def get(self, wall_id: str) -> WallState | None:
        return self.walls.get(wall_id)

    def step(self, updates: dict[str, dict]) -> None:
        """Apply one frame: every wall decays; ``updates`` reinforce or create walls.

        ``updates[wall_id]`` holds ``reinforcement`` and, to create a wall, ``center``
        and ``width`` (optionally ``decay``, ``s_max``, ``strength``). Walls that
        fade below ``forget_below`` and get no reinforcement are forgotten.
        """
        new: dict[str, WallState] = {}
        for wid, w in self.walls.items():
            u = updates.get(wid)
            w2 = w.evolve(u.get("reinforcement", 0.0) if u else 0.0)
            if u:
                w2 = replace(w2, **{k: u[k] for k in ("width", "decay", "s_max") if k in u})
            if w2.strength >= self.forget_below or u:
                new[wid] = w2
        for wid, u in updates.items():
            if wid in self.walls:
                continue
            if "center" not in u or "width" not in u:
                raise ValueError(f"wall update {wid!r} creates a new wall and needs 'center' and 'width', got keys {sorted(u)}")
            w = WallState(wall_id=wid, center=float(u["center"]), strength=float(u.get("strength", 0.0)),
                          width=float(u["width"]), decay=float(u.get("decay", 0.98)), s_max=float(u.get("s_max", 10.0)))
            new[wid] = w.evolve(u.get("reinforcement", 0.0))
        self.walls = new

    def arrays(self, spot: float, tick_size: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(centre in ticks relative to spot, strength, width) as arrays, in id order."""
        ws = [self.walls[k] for k in sorted(self.walls)]
        c = np.array([(w.center - spot) / tick_size for w in ws], dtype=np.float64)
        s = np.array([w.strength for w in ws], dtype=np.float64)
        sig = np.array([w.width for w in ws], dtype=np.float64)
        return c, s, sig

    def snapshot(self) -> list[WallState]:
        return [self.walls[k] for k in sorted(self.walls)]


def obstacle_field(grid: Grid, centers: np.ndarray, strengths: np.ndarray, widths: np.ndarray) -> np.ndarray:
    """O(x) = Σ_k S_k · exp(-½((x - c_k)/σ_k)²) on the grid (centres in ticks from spot)."""
    x = grid.x[:, None]
    sig = np.maximum(np.asarray(widths, dtype=np.float64), MIN_WIDTH_TICKS)[None, :]
    z = (x - np.asarray(centers, dtype=np.float64)[None, :]) / sig
    return (np.asarray(strengths, dtype=np.float64)[None, :] * np.exp(-0.5 * z * z)).sum(axis=1)
