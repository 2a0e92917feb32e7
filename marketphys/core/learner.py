"""Online learner for θ (docs/architecture.md#learner): damped Gauss-Newton with RLS-style memory.

Loss per resolved origin: Σ_h α_h · Huber_δ(actual_h − x̂_h). Huber enters as IRLS
weights; the curvature estimate A = λ·A + Jᵀ W J is the RLS information matrix with
forgetting λ; the step solves (A + μ·diag(A) + εI) Δ = Jᵀ W r and is projected onto
the bounds. The Jacobian comes from the forward sensitivities stored with the
forecast; the residual is first-order corrected for θ having moved since then.
"""

from __future__ import annotations

import dataclasses
import numbers
from dataclasses import dataclass

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


class LearnerSettingError(ValueError):
    """A learner setting out of its range; ``field``, ``value`` and ``rule`` say which and why."""

    def __init__(self, field: str, value, rule: str):
        super().__init__(f"{field} {rule}, got {value!r}")
        self.field, self.value, self.rule = field, value, rule


_NON_NEGATIVE = "must be finite and >= 0"
_FORGETTING = "must be in (0, 1]"
_ALPHA = "finite weights >= 0 (one per horizon)"


def _real(name: str, v):
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
        raise LearnerSettingError(name, v, "must be a real number")
    return float(v)


@dataclass(frozen=True)
class LearnerConfig:
    """The online learner's settings, listed and checked once: the engine's config extends it, the
    replay kernels' lanes (``kernels.make_hyper``) and recorded files are built from it.

    ``huber_delta`` (ticks) where the loss turns linear; ``forgetting`` λ of the curvature memory;
    ``damping`` μ (Levenberg-Marquardt) and ``ridge`` ε of the step; ``prior_strength`` the initial
    curvature A = prior·I; ``step_size`` scales each step; ``learn`` False freezes θ; ``alpha`` the
    loss weight per horizon (None: all 1)."""

    huber_delta: float = 4.0
    forgetting: float = 0.999
    damping: float = 0.1
    ridge: float = 1e-6
    prior_strength: float = 1.0
    step_size: float = 1.0
    learn: bool = True
    alpha: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        self._check_learner()

    def _check_learner(self) -> None:
        """Raise LearnerSettingError naming the first bad setting; store floats, a bool and a tuple."""
        put = object.__setattr__
        for name in ("huber_delta", "damping", "ridge", "prior_strength", "step_size"):
            v = _real(name, getattr(self, name))
            if not (np.isfinite(v) and v >= 0):
                raise LearnerSettingError(name, getattr(self, name), _NON_NEGATIVE)
            put(self, name, v)
        v = _real("forgetting", self.forgetting)
        if not (0.0 < v <= 1.0):
            raise LearnerSettingError("forgetting", self.forgetting, _FORGETTING)
        put(self, "forgetting", v)
        if not isinstance(self.learn, (bool, np.bool_)):
            raise LearnerSettingError("learn", self.learn, "must be True or False")
        put(self, "learn", bool(self.learn))
        if self.alpha is not None:
            a = self.alpha
            if isinstance(a, (str, bytes)) or np.ndim(a) != 1 or not all(
                    isinstance(x, numbers.Real) and not isinstance(x, (bool, np.bool_)) for x in a):
                raise LearnerSettingError("alpha", a, f"must be None or {_ALPHA}")
            w = np.asarray(a, dtype=np.float64)
            if w.size == 0 or not np.all(np.isfinite(w)) or np.any(w < 0):
                raise LearnerSettingError("alpha", a, f"must be {w.size} {_ALPHA}")
            put(self, "alpha", tuple(float(x) for x in w))

    @property
    def learner(self) -> "LearnerConfig":
        """The learner's settings alone (also from a config that extends this one)."""
        return LearnerConfig(**{n: getattr(self, n) for n in LEARNER_FIELDS})

    def learner_dict(self) -> dict:
        return {n: (list(v) if isinstance(v, tuple) else v) for n in LEARNER_FIELDS for v in [getattr(self, n)]}


LEARNER_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(LearnerConfig))


class GaussNewtonLearner:
    """``predict_one`` rolls the particle out with the current θ; ``learn_one`` updates θ.

    Settings come as one ``LearnerConfig`` (``settings=``) or as its fields by name; they read back as
    attributes (``learner.forgetting``)."""

    def __init__(self, theta0=None, bounds: ThetaBounds | None = None, cfg: IntegratorConfig | None = None,
                 settings: LearnerConfig | None = None, **by_name):
        self.settings = (LearnerConfig(**by_name) if settings is None
                         else dataclasses.replace(settings.learner, **by_name))
        self.cfg = cfg or IntegratorConfig()
        self.bounds = bounds or ThetaBounds()
        H = self.cfg.horizons
        a = self.settings.alpha
        self.alpha = np.ones(H) if a is None else np.asarray(a, dtype=np.float64)
        if self.alpha.shape != (H,):
            raise LearnerSettingError("alpha", a, f"must be {H} {_ALPHA}")
        self.theta = self.bounds.project(Theta.coerce(theta0).values)
        self.A = np.eye(N_PARAMS) * self.prior_strength
        self.n_updates = 0
        self.bound_hits = np.zeros(N_PARAMS, dtype=np.int64)
        self.last_loss = float("nan")

    def __getattr__(self, name: str):
        # the settings read back by name (only reached when normal lookup fails; safe while unpickling)
        if name in LEARNER_FIELDS and "settings" in self.__dict__:
            return getattr(self.settings, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    # -- river-style API -------------------------------------------------------------
    def predict_one(self, fields: Fields, v0: float, x0: float = 0.0) -> RolloutResult:
        return rollout(fields, self.theta, v0, self.cfg, sensitivities=True, x0=x0)

    def learn_one(self, x_hat: np.ndarray, jac: np.ndarray, theta_at_forecast: np.ndarray,
                  actual: np.ndarray, mask: np.ndarray | None = None) -> float:
        """Update θ from one resolved origin; returns its weighted Huber loss (before the update).

        ``mask`` marks horizons that resolved (False for gaps); unresolved ones are ignored.
        """
        s = self.settings
        actual = np.asarray(actual, dtype=np.float64)
        m = np.isfinite(actual) if mask is None else (np.asarray(mask, bool) & np.isfinite(actual))
        if not m.any():
            return float("nan")
        pred = x_hat + jac @ (self.theta - theta_at_forecast)
        r = np.where(m, actual - pred, 0.0)
        loss = float(np.sum(self.alpha * huber_loss(r, s.huber_delta) * m))
        self.last_loss = loss
        if not s.learn:
            return loss
        w = self.alpha * huber_weight(r, s.huber_delta) * m
        Jw = jac * w[:, None]
        self.A = s.forgetting * self.A + jac.T @ Jw
        g = Jw.T @ r
        M = self.A + s.damping * np.diag(np.diag(self.A)) + s.ridge * np.eye(N_PARAMS)
        try:
            step = np.linalg.solve(M, g)
        except np.linalg.LinAlgError:
            step = np.zeros(N_PARAMS)
        if not np.all(np.isfinite(step)):
            step = np.zeros(N_PARAMS)
        proposed = self.theta + s.step_size * step
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
