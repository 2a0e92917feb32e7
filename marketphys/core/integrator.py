"""Fixed-step rollout of the price particle with forward sensitivities (docs/architecture.md#dynamics).

a = wU·(−∂U/∂x) + wC·(C(x) − v) + wΓ·(−Γ(x)·v) + wO·(−∂O/∂x) + b

Semi-implicit Euler with ``substeps`` per Δt. The drag terms (wC·(−v) and wΓ·(−Γ·v))
are taken implicitly, v' = (v + h·A(x)) / (1 + h·κ(x)) with A = wU·F_U + wC·C + wO·F_O + b
and κ = wC + wΓ·Γ ≥ 0, so damping can never pump energy in whatever the step size;
then x += v'·h (+ √(2·D(x)·h)·z when diffusion is on). The effective acceleration
(v' − v)/h is exactly Σ θ_k·comp_k evaluated at v', so θ stays linear and legible. Caps on |a| and |v|; every clamp, non-finite
acceleration and excursion off the grid is counted in the returned stats, never hidden.

Forward sensitivities s = ∂(x, v)/∂θ are propagated through the same discrete steps,
so they equal the derivative of exactly what is computed (checked against finite
differences in the tests). A clamped quantity has zero sensitivity.

Everything is vectorised over lanes (ensemble paths or θ candidates); kernels mirror
this function one line at a time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from marketphys.core.fields import Fields, lerp, locate
from marketphys.core.rng import normal
from marketphys.core.theta import N_PARAMS


@dataclass(frozen=True)
class IntegratorConfig:
    """Settings of the rollout (not learned)."""

    dt: float = 0.5
    horizons: int = 4
    substeps: int = 8
    a_max: float = 400.0
    v_max: float = 80.0

    def __post_init__(self) -> None:
        for name in ("dt", "a_max", "v_max"):
            v = getattr(self, name)
            if not np.isfinite(v) or v <= 0:
                raise ValueError(f"IntegratorConfig.{name} must be finite and > 0, got {v!r}")
        for name in ("horizons", "substeps"):
            v = getattr(self, name)
            if int(v) != v or v < 1:
                raise ValueError(f"IntegratorConfig.{name} must be an integer >= 1, got {v!r}")

    @property
    def h(self) -> float:
        return self.dt / self.substeps

    def to_dict(self) -> dict:
        return {"dt": self.dt, "horizons": self.horizons, "substeps": self.substeps, "a_max": self.a_max, "v_max": self.v_max}


@dataclass
class RolloutStats:
    """Counters of every guard that fired, in lane-substeps."""

    clamp_a: int = 0
    clamp_v: int = 0
    nonfinite: int = 0
    off_grid: int = 0

    def add(self, other: "RolloutStats") -> None:
        self.clamp_a += other.clamp_a
        self.clamp_v += other.clamp_v
        self.nonfinite += other.nonfinite
        self.off_grid += other.off_grid

    def to_dict(self) -> dict:
        return {"clamp_a": self.clamp_a, "clamp_v": self.clamp_v, "nonfinite": self.nonfinite, "off_grid": self.off_grid}


@dataclass
class RolloutResult:
    """x̂ per lane and horizon (ticks from spot), final v, ∂x̂/∂θ and the guard counters."""

    x: np.ndarray            # (L, H)
    v: np.ndarray            # (L, H) velocity at each horizon
    jac: np.ndarray | None   # (L, H, P)
    a0: np.ndarray           # (L,) net acceleration at the start (the probe's force arrow)
    stats: RolloutStats = field(default_factory=RolloutStats)


SAMPLED = ("F_U", "C", "G", "F_O", "D")
"""Columns of the table ``field_table`` stacks: the force fields the rollout samples."""


def field_table(fields: Fields) -> np.ndarray:
    """(cells, 5) table of F_U = −∂U/∂x, C, Γ, F_O = −∂O/∂x, D: one gather per substep instead of five."""
    return np.stack([-fields.dU, fields.C, fields.G, -fields.dO, fields.D], axis=1)


def sample(table: np.ndarray, n: int, dx: float, x: np.ndarray):
    """Table values at x (linear interpolation), their x-slopes (zero off the grid) and the inside mask."""
    i0, t, inside = locate(x, n, dx)
    lo, hi = table[i0], table[i0 + 1]
    vals = lo + (hi - lo) * t[:, None]
    slopes = np.where(inside[:, None], (hi - lo) * (1.0 / dx), 0.0)
    return vals, slopes, inside


def rollout(fields: Fields, theta: np.ndarray, v0, cfg: IntegratorConfig, *, sensitivities: bool = True,
            seed: int | None = None, lane_offset: int = 0, x0=0.0, stream: int = 0) -> RolloutResult:
    """Roll H steps of Δt from x0 with fields held (zero-order hold).

    ``theta`` is (P,) or (L, P); ``v0`` a scalar or (L,). With ``seed`` set, each
    substep adds √(2·D(x)·h)·z with z = Philox normal(seed, lane, substep index).
    """
    theta = np.atleast_2d(np.asarray(theta, dtype=np.float64))
    v = np.atleast_1d(np.asarray(v0, dtype=np.float64)).copy()
    L = max(theta.shape[0], v.shape[0])
    theta = np.broadcast_to(theta, (L, N_PARAMS))
    v = np.broadcast_to(v, (L,)).copy()
    x = np.broadcast_to(np.asarray(x0, dtype=np.float64), (L,)).copy()
    h = cfg.h
    stats = RolloutStats()

    over = np.abs(v) > cfg.v_max
    stats.clamp_v += int(over.sum())
    v = np.clip(v, -cfg.v_max, cfg.v_max)

    sx = np.zeros((L, N_PARAMS))
    sv = np.zeros((L, N_PARAMS))
    xs = np.empty((L, cfg.horizons))
    vs = np.empty((L, cfg.horizons))
    jac = np.empty((L, cfg.horizons, N_PARAMS)) if sensitivities else None
    lanes = np.arange(L, dtype=np.uint32) + np.uint32(lane_offset)
    a_first = None

    wU, wC, wG, wO, b = theta[:, 0], theta[:, 1], theta[:, 2], theta[:, 3], theta[:, 4]
    table, n, dx = field_table(fields), fields.grid.n, fields.grid.dx
    ones = np.ones(L)
    for hz in range(cfg.horizons):
        for k in range(cfg.substeps):
            vals, sl, inside = sample(table, n, dx, x)
            f_u, c, gam, f_o, d = vals.T
            stats.off_grid += int((~inside).sum())
            # explicit part A(x) and the drag coefficient κ(x) = wC + wΓ·Γ(x) >= 0
            A = wU * f_u + wC * c + wO * f_o + b
            kappa = wC + wG * gam
            bad = ~(np.isfinite(A) & np.isfinite(kappa))
            if bad.any():
                stats.nonfinite += int(bad.sum())
                A = np.where(bad, 0.0, A)
                kappa = np.where(bad, 0.0, kappa)
            denom = 1.0 + h * kappa
            v_new = (v + h * A) / denom
            a = (v_new - v) / h
            clamped = np.abs(a) > cfg.a_max
            if clamped.any():
                stats.clamp_a += int(clamped.sum())
                a = np.clip(a, -cfg.a_max, cfg.a_max)
                v_new = v + h * a
            if a_first is None:
                a_first = a.copy()
            if sensitivities:
                comps = np.stack([f_u, c - v_new, -gam * v_new, f_o, ones], axis=-1)
                dA_dx = wU * sl[:, 0] + wC * sl[:, 1] + wO * sl[:, 3]
                dk_dx = wG * sl[:, 2]
                sv_new = (sv + h * (comps + (dA_dx - v_new * dk_dx)[:, None] * sx)) / denom[:, None]
                sv = np.where((clamped | bad)[:, None], sv, sv_new)
            v = v_new
            vc = np.abs(v) > cfg.v_max
            if vc.any():
                stats.clamp_v += int(vc.sum())
                v = np.clip(v, -cfg.v_max, cfg.v_max)
                if sensitivities:
                    sv = np.where(vc[:, None], 0.0, sv)
            x = x + v * h
            if seed is not None:
                z = normal(seed, lanes, hz * cfg.substeps + k, stream)
                x = x + np.sqrt(2.0 * np.maximum(d, 0.0) * h) * z
            if sensitivities:
                sx = sx + h * sv
        xs[:, hz] = x
        vs[:, hz] = v
        if sensitivities:
            jac[:, hz, :] = sx
    return RolloutResult(x=xs, v=vs, jac=jac, a0=a_first, stats=stats)


def energy(fields: Fields, theta: np.ndarray, x: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Mechanical energy ½v² + wU·U(x) + wO·O(x) per lane (for the damping invariant)."""
    g = fields.grid
    i0, t, _ = locate(np.atleast_1d(x), g.n, g.dx)
    theta = np.atleast_2d(theta)
    return 0.5 * np.asarray(v) ** 2 + theta[:, 0] * lerp(fields.U, i0, t) + theta[:, 3] * lerp(fields.O, i0, t)


def ensemble_bands(fields: Fields, theta: np.ndarray, v0: float, cfg: IntegratorConfig, n_paths: int, seed: int,
                   quantiles=(0.05, 0.25, 0.5, 0.75, 0.95), stream: int = 0,
                   x0: float = 0.0) -> tuple[dict[float, np.ndarray], RolloutStats]:
    """Per-horizon quantiles (ticks) of ``n_paths`` seeded diffusion paths."""
    res = rollout(fields, np.broadcast_to(theta, (n_paths, N_PARAMS)), np.full(n_paths, v0), cfg,
                  sensitivities=False, seed=seed, stream=stream, x0=x0)
    qs = np.quantile(res.x, quantiles, axis=0)
    return {float(q): qs[i] for i, q in enumerate(quantiles)}, res.stats
