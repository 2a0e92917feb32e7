"""Producers and engine settings as plain data, so logs and θ files can rebuild a run.

A producer is recorded as its class path plus ``config()``; rebuilding looks that name up
in a registry (the built-in producers, plus those this session registered with
``@producer`` or ``register_producer``) and calls the class with the config keys its
``__init__`` accepts. A name not in the registry is refused: a file never chooses what
gets imported or called. Engine settings are range-checked before anything runs.
"""

from __future__ import annotations

import importlib
import inspect

import numpy as np

from marketphys.core.engine import EngineConfig
from marketphys.core.grid import Grid
from marketphys.core.integrator import IntegratorConfig
from marketphys.core.learner import LEARNER_FIELDS, LearnerConfig
from marketphys.core.head import HeadConfig
from marketphys.core.producers import FunctionProducer, Producer, class_key, registered_class, registered_function
from marketphys.core.theta import PARAM_NAMES, ThetaBounds


class SpecError(ValueError):
    """A recorded producer or configuration cannot be rebuilt; the message says which and why."""


def producer_spec(p: Producer) -> dict:
    cls = type(p)
    return {"class": f"{cls.__module__}:{cls.__qualname__}", "name": p.name, "target": p.target, "config": p.config()}


_LAKE_PRODUCERS = ("GexWallProducer", "FlowCurrentProducer", "DepthVacuumProducer", "DepthViscosity",
                   "FlowGexWallProducer")
BUILTIN_PRODUCERS: dict[str, str] = {
    f"{mod}:{cls}": mod for mod, names in {
        "marketphys.core.producers": ("PushProducer", "SoftWallProducer", "ConstantViscosity", "ConstantDiffusion",
                                      "ProfileProducer", "StrikeWallProducer"),
        "marketphys.frames.producers": _LAKE_PRODUCERS,
        "marketphys.synth.engine_world": ("WorldProfiles", "WorldWalls"),
    }.items() for cls in names}
"""The producer classes a θ file may name without registering them; only these modules are ever imported."""
# θ files and replay logs written before the lake producers moved to marketphys.frames name them here
BUILTIN_PRODUCERS.update({f"marketphys.replay.producers:{cls}": "marketphys.frames.producers" for cls in _LAKE_PRODUCERS})

_FUNCTION_KEY = class_key(FunctionProducer)


def resolve_producer(spec: dict):
    """The class (or ``@producer`` function) a spec names, from the registry only; never imports what a file says."""
    if not isinstance(spec, dict):
        raise SpecError(f"a producer record must be an object, got {type(spec).__name__}")
    key = spec.get("class")
    name = spec.get("name")
    if not isinstance(key, str) or not key:
        raise SpecError(f"producer {name!r}: no producer name recorded (class={key!r})")
    if key == _FUNCTION_KEY:
        fn = registered_function(name) if isinstance(name, str) else None
        if fn is None:
            raise SpecError(f"unknown producer {name!r}: no @producer function of that name in this session; "
                            f"define it with @producer or pass producers=[...]")
        return fn
    cls = registered_class(key)
    if cls is None and key in BUILTIN_PRODUCERS:
        mod_name, _, qual = key.partition(":")
        cls = getattr(importlib.import_module(BUILTIN_PRODUCERS[key]), qual)
    if cls is None:
        raise SpecError(f"unknown producer {key!r} (named {name!r}): not a built-in nor registered in this session "
                        f"(register_producer / @producer); nothing was imported; pass producers=[...]")
    return cls


def build_producer(spec: dict) -> Producer:
    found = resolve_producer(spec)
    path = spec["class"]
    if isinstance(found, tuple):
        fn, target = found
        if target != spec.get("target"):
            raise SpecError(f"producer {spec.get('name')!r}: registered with target {target!r}, recorded "
                            f"{spec.get('target')!r}; pass producers=[...]")
        return FunctionProducer(fn, target, spec["name"])
    obj = found
    params = inspect.signature(obj.__init__).parameters
    config = spec.get("config", {})
    if not isinstance(config, dict):
        raise SpecError(f"producer {spec.get('name')!r}: config must be an object, got {type(config).__name__}")
    cfg = {k: v for k, v in config.items() if k in params}
    try:
        p = obj(**cfg)
    except (TypeError, ValueError) as err:
        raise SpecError(f"producer {spec.get('name')!r}: {path}({cfg}) failed: {err}; pass producers=[...]") from None
    if p.name != spec.get("name") or p.target != spec.get("target"):
        raise SpecError(f"producer {spec.get('name')!r}: rebuilt as {p.name!r}/{p.target!r}, recorded "
                        f"{spec.get('name')!r}/{spec.get('target')!r}; its settings are not all in config(); "
                        f"pass producers=[...]")
    return p


def build_producers(specs: list[dict]) -> list[Producer]:
    return [build_producer(s) for s in specs]


SETTING_LIMITS: dict[tuple[str, ...], tuple[float, float]] = {
    ("grid", "n"): (1, 8192),
    ("grid", "dx"): (1e-3, 1e4),
    ("integrator", "dt"): (1e-3, 3600.0),
    ("integrator", "substeps"): (1, 1024),
    ("integrator", "horizons"): (1, 1024),
    ("n_paths",): (0, 100_000),
}
"""Ranges a recorded setting must fall in before anything runs: work per frame grows with
grid cells × substeps × horizons × paths, so a file cannot ask for an hour per frame."""


def check_settings(d: dict) -> None:
    """Raise SpecError naming the first setting outside ``SETTING_LIMITS`` (or not a number)."""
    for keys, (lo, hi) in SETTING_LIMITS.items():
        v = d
        for k in keys:
            v = v.get(k) if isinstance(v, dict) else None
        field_name = ".".join(keys)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v):
            raise SpecError(f"engine_config.{field_name}={v!r} is not a finite number")
        if not lo <= v <= hi:
            raise SpecError(f"engine_config.{field_name}={v!r} is outside the allowed range [{lo:g}, {hi:g}]")


def engine_config_from_dict(d: dict) -> EngineConfig:
    """Inverse of ``EngineConfig.to_dict``; settings are range-checked first (``SETTING_LIMITS``)."""
    if not isinstance(d, dict):
        raise SpecError(f"engine configuration record must be an object, got {type(d).__name__}")
    check_settings(d)
    try:
        b = d["bounds"]
        bounds = ThetaBounds(lo=tuple(float(b[n][0]) for n in PARAM_NAMES), hi=tuple(float(b[n][1]) for n in PARAM_NAMES))
        # the learner's settings (LearnerConfig, checked there); records from before ridge and step_size
        # were recorded ran with their defaults
        learner = {n: d[n] if n not in ("ridge", "step_size", "alpha") else d.get(n, getattr(LearnerConfig, n))
                   for n in LEARNER_FIELDS}
        if learner["alpha"] is not None:
            learner["alpha"] = tuple(learner["alpha"])
        return EngineConfig(grid=Grid(**d["grid"]), integrator=IntegratorConfig(**d["integrator"]), mode=d["mode"],
                            seed=int(d["seed"]), n_paths=int(d["n_paths"]), quantiles=tuple(d["quantiles"]),
                            **learner, bounds=bounds,
                            backend=str(d.get("backend", "numpy")),  # records from before "auto" ran on numpy
                            # files from before the seed's start was the default were trained with the latent start
                            start=d.get("start", "latent"),
                            head=HeadConfig.from_dict(d["head"]) if "head" in d else HeadConfig())
    except (KeyError, TypeError, AttributeError) as err:
        raise SpecError(f"engine configuration record is incomplete or malformed: {err!r}") from None
    except ValueError as err:
        raise SpecError(f"engine configuration: {err}") from None
