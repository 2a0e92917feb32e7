"""Producers and engine settings as plain data, so logs and θ files can rebuild a run.

A producer is recorded as its class path plus ``config()``; rebuilding calls the class
with the config keys its ``__init__`` accepts. Producers defined in a notebook cell
(or whose settings are not plain values) cannot be rebuilt from data: pass them again.
"""

from __future__ import annotations

import importlib
import inspect

from marketphys.core.engine import EngineConfig
from marketphys.core.grid import Grid
from marketphys.core.integrator import IntegratorConfig
from marketphys.core.producers import Producer
from marketphys.core.head import HeadConfig
from marketphys.core.theta import PARAM_NAMES, ThetaBounds


class SpecError(ValueError):
    """A recorded producer or configuration cannot be rebuilt; the message says which and why."""


def producer_spec(p: Producer) -> dict:
    cls = type(p)
    return {"class": f"{cls.__module__}:{cls.__qualname__}", "name": p.name, "target": p.target, "config": p.config()}


def build_producer(spec: dict) -> Producer:
    path = spec.get("class", "")
    mod_name, _, qual = path.partition(":")
    if mod_name == "__main__" or "<locals>" in qual or not qual:
        raise SpecError(f"producer {spec.get('name')!r} ({path}) was defined in a notebook or function and cannot be "
                        f"rebuilt from its record; pass producers=[...] explicitly")
    try:
        obj = importlib.import_module(mod_name)
        for part in qual.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as err:
        raise SpecError(f"producer {spec.get('name')!r}: cannot import {path} ({err}); pass producers=[...]") from None
    params = inspect.signature(obj.__init__).parameters
    cfg = {k: v for k, v in spec.get("config", {}).items() if k in params}
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


def engine_config_from_dict(d: dict) -> EngineConfig:
    """Inverse of ``EngineConfig.to_dict``."""
    try:
        b = d["bounds"]
        bounds = ThetaBounds(lo=tuple(float(b[n][0]) for n in PARAM_NAMES), hi=tuple(float(b[n][1]) for n in PARAM_NAMES))
        return EngineConfig(grid=Grid(**d["grid"]), integrator=IntegratorConfig(**d["integrator"]), mode=d["mode"],
                            seed=int(d["seed"]), n_paths=int(d["n_paths"]), quantiles=tuple(d["quantiles"]),
                            learn=bool(d["learn"]), huber_delta=float(d["huber_delta"]), forgetting=float(d["forgetting"]),
                            damping=float(d["damping"]), prior_strength=float(d["prior_strength"]),
                            alpha=None if d.get("alpha") is None else tuple(d["alpha"]), bounds=bounds,
                            # files from before the seed's start was the default were trained with the latent start
                            start=d.get("start", "latent"),
                            head=HeadConfig.from_dict(d["head"]) if "head" in d else HeadConfig())
    except (KeyError, TypeError) as err:
        raise SpecError(f"engine configuration record is incomplete or malformed: {err!r}") from None
