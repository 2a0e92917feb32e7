"""Kernel backends that dispatch shaders/ (docs/architecture.md#kernels-and-backends).

``get_backend(name)`` returns a backend exposing ``compose``, ``rollout``,
``ensemble_bands``, ``philox``, ``calibrate`` and the generic ``dispatch``;
``"auto"`` (the engine's default) picks metal on macOS, else msl-cpu when a C++ compiler
works, else numpy (the reference), and says which it picked and why
(``resolve_backend``; ``marketphys backends``; ``--selftest`` checks every kernel here).

Typical uses::

    be = get_backend("auto")                           # metal / msl-cpu / numpy
    res = be.rollout(fields, theta, v0, IntegratorConfig())          # one frame, many lanes
    make_engine(producers, EngineConfig(backend="msl-cpu"))          # the engine's rollout on a backend
    Engine(producers, config, backend=be)                            # the same, the backend passed in

    block = ReplayBlock.from_frames(frames, producers, engine_config)  # producers run once, in Python
    hyper = make_hyper(64, 4, huber_delta=np.linspace(1, 8, 64))       # per-lane learner settings
    res = be.calibrate(block, theta0_per_lane, hyper, trace=True)      # 64 online learners in one dispatch
    res.mae, res.theta, res.best_lane()
"""

from __future__ import annotations

import logging
import os
import warnings

from marketphys.kernels.base import BackendUnavailable, KernelBackend
from marketphys.kernels.replay import (CalibrationResult, ReplayAnchor, ReplayBlock, hyper_from_engine, initial_state,
                                       make_hyper)

log = logging.getLogger(__name__)

BACKENDS = ("metal", "msl-cpu", "numpy")
_instances: dict[str, KernelBackend] = {}

__all__ = ["BACKENDS", "BackendUnavailable", "CalibrationResult", "KernelBackend", "ReplayAnchor", "ReplayBlock",
           "available_backends", "choose_backend", "get_backend", "hyper_from_engine", "initial_state", "make_engine",
           "make_hyper", "resolve_backend"]


def _make(name: str) -> KernelBackend:
    if name == "numpy":
        from marketphys.kernels.numpy_backend import NumpyBackend

        return NumpyBackend()
    if name == "msl-cpu":
        from marketphys.kernels.msl_cpu import MslCpuBackend

        return MslCpuBackend()
    if name == "metal":
        from marketphys.kernels.metal import MetalBackend

        return MetalBackend()
    raise ValueError(f"unknown kernel backend {name!r}; choose one of {(*BACKENDS, 'auto')}")


def _probe(name: str) -> tuple[bool, str]:
    if name == "numpy":
        return True, "reference implementation (marketphys.core)"
    if name == "msl-cpu":
        from marketphys.kernels.msl_cpu import probe

        return probe()
    if name == "metal":
        from marketphys.kernels.metal import metal_platform_ok

        ok, why = metal_platform_ok()
        if not ok:
            return ok, why
        try:
            get_backend("metal")
        except BackendUnavailable as err:
            return False, str(err)
        return True, why
    raise ValueError(name)


def available_backends() -> list[tuple[str, bool, str]]:
    """(name, usable, reason) for every backend."""
    out = [(name, *_probe(name)) for name in BACKENDS]
    out.append(("cuda", False, "not built: optional CuPy backend (no NVIDIA GPU in CI)"))
    return out


_choices: dict[tuple[str | None, str | None], tuple[str, str]] = {}


def choose_backend() -> tuple[str, str]:
    """The backend ``auto`` resolves to here, and why (probed once per process and compiler
    setting: every Engine defaults to ``auto``, and a probe runs a kernel)."""
    key = (os.environ.get("CXX"), os.environ.get("MARKETPHYS_MSL_LANES"))
    if key not in _choices:
        _choices[key] = _choose()
    return _choices[key]


def _choose() -> tuple[str, str]:
    reasons = []
    for name in ("metal", "msl-cpu"):
        ok, why = _probe(name)
        if ok:
            return name, f"auto picked {name}: {why}"
        reasons.append(f"{name} unavailable ({why})")
    return "numpy", "auto picked numpy (the reference): " + "; ".join(reasons)


def resolve_backend(name: str = "auto") -> tuple[KernelBackend, str]:
    """The backend ``name`` means here, and why it is the one (``auto``: the probe's reason)."""
    if name == "auto":
        be = get_backend("auto")
        return be, be.selected_because
    return get_backend(name), f"{name} asked for"


def get_backend(name: str = "auto") -> KernelBackend:
    """A (cached) backend instance; ``auto`` logs and warns about its choice when it falls back."""
    if name == "auto":
        chosen, why = choose_backend()
        log.info(why)
        if chosen == "numpy":
            warnings.warn(why, RuntimeWarning, stacklevel=2)
        be = get_backend(chosen)
        be.selected_because = why
        return be
    if name not in _instances:
        _instances[name] = _make(name)
    return _instances[name]


def make_engine(producers=(), config=None, theta0=None):
    """An ``Engine`` whose rollout runs on the backend ``config.backend`` names ("auto": the fastest that
    works here, with the reason kept in ``engine.backend_reason``). The core takes the backend as an
    argument; this is where its name is resolved."""
    from marketphys.core.engine import Engine, EngineConfig

    config = config or EngineConfig()
    if config.backend == "numpy":
        return Engine(producers, config, theta0)
    be, why = resolve_backend(config.backend)
    return Engine(producers, config, theta0, backend=be, backend_reason=why)
