"""What the engine needs of a kernel backend, so that the core never imports one.

The backend is an argument (``Engine(..., backend=be)``), as a solver is in an ODE library:
the core defines the protocol, ``marketphys.kernels`` implements it (numpy, msl-cpu, metal)
and resolves a name such as ``EngineConfig.backend = "auto"`` into an instance
(``marketphys.kernels.make_engine``). With no backend passed the engine runs its own
float64 reference (``core.integrator``).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from marketphys.core.fields import Fields
from marketphys.core.integrator import IntegratorConfig, RolloutResult, RolloutStats

__all__ = ["RolloutBackend", "KERNEL_BACKENDS"]

KERNEL_BACKENDS = ("msl-cpu", "metal")
"""``EngineConfig.backend`` names that need a backend instance passed in (``"numpy"`` and ``"auto"`` do not:
with none passed, both run the core's float64 reference)."""


@runtime_checkable
class RolloutBackend(Protocol):
    """A backend's rollout and ensemble, with the signatures of ``core.integrator``'s reference."""

    name: str

    def rollout(self, fields: Fields, theta, v0, cfg: IntegratorConfig, *, sensitivities: bool = True,
                x0=0.0) -> RolloutResult:
        """Deterministic rollout (lanes x H) with sensitivities ∂x/∂θ when asked for."""
        ...

    def ensemble_bands(self, fields: Fields, theta, v0: float, cfg: IntegratorConfig, n_paths: int, seed: int,
                       quantiles=(0.05, 0.25, 0.5, 0.75, 0.95), stream: int = 0,
                       x0: float = 0.0) -> tuple[dict[float, np.ndarray], RolloutStats]:
        """Per-horizon quantiles of ``n_paths`` seeded diffusion paths, and their guard counters."""
        ...
