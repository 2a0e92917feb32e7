"""θ: the interpretable force weights the learner tunes (docs/architecture.md#dynamics)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

PARAM_NAMES: tuple[str, ...] = ("wU", "wC", "wG", "wO", "b")
"""wU: potential, wC: current, wG: viscosity (Γ), wO: obstacles, b: bias acceleration."""

N_PARAMS = len(PARAM_NAMES)


@dataclass(frozen=True)
class ThetaBounds:
    """Box constraints; the defaults forbid negative weights (no negative viscosity)."""

    lo: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0, -50.0)
    hi: tuple[float, ...] = (50.0, 20.0, 20.0, 50.0, 50.0)

    def __post_init__(self) -> None:
        lo, hi = np.asarray(self.lo, float), np.asarray(self.hi, float)
        if lo.shape != (N_PARAMS,) or hi.shape != (N_PARAMS,):
            raise ValueError(f"ThetaBounds needs {N_PARAMS} values per side ({', '.join(PARAM_NAMES)}), got lo={self.lo}, hi={self.hi}")
        bad = np.flatnonzero(~(lo <= hi))
        if bad.size:
            i = int(bad[0])
            raise ValueError(f"ThetaBounds: lo > hi for {PARAM_NAMES[i]} ({lo[i]} > {hi[i]})")
        if lo[2] < 0:
            raise ValueError(f"ThetaBounds: wG lower bound {lo[2]} < 0 would allow negative viscosity")

    @property
    def lo_array(self) -> np.ndarray:
        return np.asarray(self.lo, dtype=np.float64)

    @property
    def hi_array(self) -> np.ndarray:
        return np.asarray(self.hi, dtype=np.float64)

    def project(self, theta: np.ndarray) -> np.ndarray:
        return np.clip(theta, self.lo_array, self.hi_array)

    def to_dict(self) -> dict:
        return {n: [float(a), float(b)] for n, a, b in zip(PARAM_NAMES, self.lo, self.hi)}


@dataclass
class Theta:
    """A named view of the weight vector; ``values`` is the array kernels use."""

    values: np.ndarray = field(default_factory=lambda: np.array([1.0, 1.0, 1.0, 1.0, 0.0]))

    def __post_init__(self) -> None:
        v = np.asarray(self.values, dtype=np.float64).copy()
        if v.shape != (N_PARAMS,):
            raise ValueError(f"Theta needs {N_PARAMS} values ({', '.join(PARAM_NAMES)}), got shape {v.shape}")
        if not np.all(np.isfinite(v)):
            raise ValueError(f"Theta values must be finite, got {v.tolist()}")
        self.values = v

    @classmethod
    def coerce(cls, theta) -> "Theta":
        """θ given any way a caller holds it: None is the default θ, a Theta passes as it is, and
        anything array-like is checked (five values, finite) on the way in."""
        if theta is None:
            return cls()
        return theta if isinstance(theta, Theta) else cls(np.asarray(theta))

    @classmethod
    def from_dict(cls, d: dict) -> "Theta":
        missing = [n for n in PARAM_NAMES if n not in d]
        if missing:
            raise ValueError(f"Theta.from_dict: missing {missing}; expected keys {list(PARAM_NAMES)}")
        return cls(np.array([float(d[n]) for n in PARAM_NAMES]))

    def to_dict(self) -> dict:
        return {n: float(v) for n, v in zip(PARAM_NAMES, self.values)}

    def __getitem__(self, name: str) -> float:
        return float(self.values[PARAM_NAMES.index(name)])

    def __repr__(self) -> str:
        return "Theta(" + ", ".join(f"{n}={v:.4g}" for n, v in zip(PARAM_NAMES, self.values)) + ")"
