"""Online learner for θ (docs/architecture.md#learner): damped Gauss-Newton with RLS-style memory.

Loss per resolved origin: Σ_h α_h · Huber_δ(actual_h − x̂_h). Huber enters as IRLS
weights; the curvature estimate A = λ·A + Jᵀ W J is the RLS information matrix with
forgetting λ; the step solves (A + μ·diag(A) + εI) Δ = Jᵀ W r and is projected onto
the bounds. The Jacobian comes from the forward sensitivities stored with the
forecast; the residual is first-order corrected for θ having moved since then.
"""

from __future__ import annotations

import numpy as np

from marketphys.core.fields import Fields
from marketphys.core.integrator import IntegratorConfig, RolloutResult, rollout
from marketphys.core.theta import N_PARAMS, PARAM_NAMES, Theta, ThetaBounds


def huber_loss(r: np.ndarray, delta: float) -> np.ndarray:
    a = np.abs(r)
    return np.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta))


def huber_weight(r: np.ndarray, delta: float) -> np.ndarray:
    """IRLS weight ψ(r)/r: 1 inside δ, δ/|r| outside."""
    a = np.abs(r)
    return np.where(a <= delta, 1.0, delta / np.maximum(a, 1e-300))


class GaussNewtonLearner:
    """``predict_one`` rolls the particle out with the current θ; ``learn_one`` updates θ."""

    def __init__(self, theta0=None, bounds: ThetaBounds | None = None, cfg: IntegratorConfig | None = None,
                 alpha=None, huber_delta: float = 4.0, forgetting: float = 0.999, damping: float = 0.1,
                 ridge: float = 1e-6, prior_strength: float = 1.0, step_size: float = 1.0, learn: bool = True):
        self.cfg = cfg or IntegratorConfig()
        self.bounds = bounds or ThetaBounds()
        H = self.cfg.horizons
        self.alpha = np.ones(H) if alpha is None else np.asarray(alpha, dtype=np.float64)
        if self.alpha.shape != (H,) or np.any(self.alpha < 0) or not np.all(np.isfinite(self.alpha)):
            raise ValueError(f"alpha must be {H} finite weights >= 0 (one per horizon), got {alpha!r}")
        if not (0.0 < forgetting <= 1.0):
            raise ValueError(f"forgetting must be in (0, 1], got {forgetting!r}")
        for name, v in (("huber_delta", huber_delta), ("damping", damping), ("ridge", ridge),
                        ("prior_strength", prior_strength), ("step_size", step_size)):
            if not np.isfinite(v) or v < 0:
                raise ValueError(f"{name} must be finite and >= 0, got {v!r}")
        self.huber_delta, self.forgetting, self.damping = float(huber_delta), float(forgetting), float(damping)
        self.ridge, self.step_size, self.learn = float(ridge), float(step_size), bool(learn)
        self.prior_strength = float(prior_strength)
        t0 = Theta() if theta0 is None else (theta0 if isinstance(theta0, Theta) else Theta(np.asarray(theta0)))
        self.theta = self.bounds.project(t0.values)
        self.A = np.eye(N_PARAMS) * self.prior_strength
        self.n_updates = 0
        self.bound_hits = np.zeros(N_PARAMS, dtype=np.int64)
        self.last_loss = float("nan")

    # -- river-style API -------------------------------------------------------------
    def predict_one(self, fields: Fields, v0: float, x0: float = 0.0) -> RolloutResult:
        return rollout(fields, self.theta, v0, self.cfg, sensitivities=True, x0=x0)

    def learn_one(self, x_hat: np.ndarray, jac: np.ndarray, theta_at_forecast: np.ndarray,
                  actual: np.ndarray, mask: np.ndarray | None = None) -> float:
        """Update θ from one resolved origin; returns its weighted Huber loss (before the update).

        ``mask`` marks horizons that resolved (False for gaps); unresolved ones are ignored.
        """
        actual = np.asarray(actual, dtype=np.float64)
        m = np.isfinite(actual) if mask is None else (np.asarray(mask, bool) & np.isfinite(actual))
        if not m.any():
            return float("nan")
        pred = x_hat + jac @ (self.theta - theta_at_forecast)
        r = np.where(m, actual - pred, 0.0)
        loss = float(np.sum(self.alpha * huber_loss(r, self.huber_delta) * m))
        self.last_loss = loss
        if not self.learn:
            return loss
        w = self.alpha * huber_weight(r, self.huber_delta) * m
        Jw = jac * w[:, None]
        self.A = self.forgetting * self.A + jac.T @ Jw
        g = Jw.T @ r
        M = self.A + self.damping * np.diag(np.diag(self.A)) + self.ridge * np.eye(N_PARAMS)
        try:
            step = np.linalg.solve(M, g)
        except np.linalg.LinAlgError:
            step = np.zeros(N_PARAMS)
        if not np.all(np.isfinite(step)):
            step = np.zeros(N_PARAMS)
        proposed = self.theta + self.step_size * step
        projected = self.bounds.project(proposed)
        self.bound_hits += (projected != proposed)
        self.theta = projected
        self.n_updates += 1
        return loss

    # -- views -----------------------------------------------------------------------
    @property
    def theta_named(self) -> Theta:
        return Theta(self.theta.copy())

    def state_dict(self) -> dict:
        return {"theta": dict(zip(PARAM_NAMES, self.theta.tolist())), "A": self.A.tolist(),
                "n_updates": self.n_updates, "bound_hits": self.bound_hits.tolist()}

    def __repr__(self) -> str:
        return f"GaussNewtonLearner({self.theta_named!r}, n_updates={self.n_updates})"
