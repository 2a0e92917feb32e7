"""The producer plug-in contract (docs/architecture.md#producers).

A producer maps a frame (plus its own state) to exactly one of ΔU, ΔC, ΔΓ (``"G"``),
ΔO, ΔD, or wall updates (``"walls"``). The engine sums contributions per target,
so adding a feature never touches the physics. Writing one in a notebook cell::

    @producer("C")
    def ofi_current(frame, grid):
        return 0.5 * frame.scalars.get("ofi", 0.0)   # a scalar broadcasts over the grid
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from marketphys.core.frame import MarketFrame
from marketphys.core.grid import Grid

FIELD_TARGETS = ("U", "C", "G", "O", "D")
TARGETS = (*FIELD_TARGETS, "walls")


class ProducerError(ValueError):
    """A producer returned something the engine cannot use; names the producer."""


class Producer:
    """Base class: set ``target`` and implement ``produce(frame, grid)``.

    Field producers return an array of grid length or a scalar (broadcast).
    Wall producers return ``{wall_id: {"reinforcement": r, "center": price, "width": ticks}}``.
    Settings go in ``__init__``; learned or remembered state lives in attributes;
    ``reset()`` clears it (a replay from the start calls it).
    """

    target: str = "U"
    name: str = ""

    def produce(self, frame: MarketFrame, grid: Grid) -> Any:  # pragma: no cover - interface
        raise NotImplementedError

    def reset(self) -> None:
        """Clear any state kept between frames."""

    def config(self) -> dict:
        """Settings that reproduce this producer (exported with θ)."""
        return {k: v for k, v in vars(self).items() if not k.startswith("_") and isinstance(v, (int, float, str, bool))}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, target={self.target!r})"


class FunctionProducer(Producer):
    """Wraps a plain function ``f(frame, grid)`` as a producer."""

    def __init__(self, fn: Callable[[MarketFrame, Grid], Any], target: str, name: str | None = None):
        if target not in TARGETS:
            raise ProducerError(f"producer target must be one of {TARGETS}, got {target!r}")
        self._fn = fn
        self.target = target
        self.name = name or getattr(fn, "__name__", "producer")

    def produce(self, frame: MarketFrame, grid: Grid) -> Any:
        return self._fn(frame, grid)


# ----------------------------------------------------------------------------- registry
# θ files and replay logs name their producers; rebuilding one resolves the name here and
# nowhere else, so a file is data and never code: nothing it names is imported or called
# unless this session registered it (``@producer``, ``register_producer``) or it is built in.

_FUNCTIONS: dict[str, tuple[Callable, str]] = {}
_CLASSES: dict[str, type] = {}


def class_key(cls: type) -> str:
    """The name a producer class is recorded under: ``module:QualName``."""
    return f"{cls.__module__}:{cls.__qualname__}"


def register_producer(cls: type) -> type:
    """Class decorator: let θ files and logs of this session rebuild ``cls`` from its config."""
    if not (isinstance(cls, type) and issubclass(cls, Producer)):
        raise ProducerError(f"register_producer needs a Producer subclass, got {cls!r}")
    _CLASSES[class_key(cls)] = cls
    return cls


def registered_class(key: str) -> type | None:
    return _CLASSES.get(key)


def registered_function(name: str) -> tuple[Callable, str] | None:
    """``(fn, target)`` of the ``@producer`` function registered under ``name``, or None."""
    return _FUNCTIONS.get(name)


def producer(target: str, name: str | None = None) -> Callable[[Callable], FunctionProducer]:
    """Decorator: turn ``f(frame, grid)`` into a producer of ``target``, registered under its name.

    The registration lets a θ file or replay log that names it be rebuilt in this session;
    redefining a function (re-running a notebook cell) replaces the earlier one.
    """
    if target not in TARGETS:
        raise ProducerError(f"producer target must be one of {TARGETS}, got {target!r}")

    def wrap(fn: Callable) -> FunctionProducer:
        p = FunctionProducer(fn, target, name)
        _FUNCTIONS[p.name] = (fn, target)
        return p

    return wrap


def check_field_output(p: Producer, out: Any, grid: Grid, frame: MarketFrame) -> np.ndarray:
    """Broadcast a field producer's output to the grid, or raise naming the producer."""
    a = np.asarray(out, dtype=np.float64)
    if a.ndim == 0:
        a = np.full(grid.size, float(a))
    if a.shape != (grid.size,):
        raise ProducerError(f"producer {p.name!r} (target {p.target}) returned shape {a.shape}; expected a scalar or ({grid.size},) at ts_ns={frame.ts_ns}")
    if not np.all(np.isfinite(a)):
        i = int(np.flatnonzero(~np.isfinite(a))[0])
        raise ProducerError(f"producer {p.name!r} (target {p.target}) returned a non-finite value {float(a[i])!r} at cell {i - grid.n} (ts_ns={frame.ts_ns})")
    return a


def check_wall_output(p: Producer, out: Any, frame: MarketFrame) -> dict[str, dict]:
    if out is None:
        return {}
    if not isinstance(out, dict):
        raise ProducerError(f"wall producer {p.name!r} must return a dict of wall updates, got {type(out).__name__}")
    for wid, u in out.items():
        r = u.get("reinforcement", 0.0)
        if not np.isfinite(r):
            raise ProducerError(f"wall producer {p.name!r}: reinforcement of wall {wid!r} is not finite ({float(r)!r}) at ts_ns={frame.ts_ns}")
    return out


# ----------------------------------------------------------------------------- v1 trio

class PushProducer(Producer):
    """Directional pressure scalar -> a uniform current C = gain · scalars[channel] (ticks/s)."""

    target = "C"

    def __init__(self, channel: str = "push", gain: float = 1.0, name: str = "push"):
        self.channel, self.gain, self.name = channel, float(gain), name

    def produce(self, frame, grid):
        return self.gain * float(frame.scalars.get(self.channel, 0.0))


class SoftWallProducer(Producer):
    """One soft Gaussian wall at a fixed offset from the first spot seen (or a given price).

    Its strength is reinforced each frame by ``gain · scalars[channel]`` (or a static
    ``reinforcement`` when no channel is given) and decays by ``decay`` per frame.
    """

    target = "walls"

    def __init__(self, offset_ticks: float = 20.0, width_ticks: float = 6.0, reinforcement: float = 0.05,
                 channel: str | None = None, gain: float = 1.0, decay: float = 0.95, s_max: float = 10.0,
                 center_price: float | None = None, name: str = "soft_wall"):
        self.offset_ticks, self.width_ticks = float(offset_ticks), float(width_ticks)
        self.reinforcement, self.channel, self.gain = float(reinforcement), channel, float(gain)
        self.decay, self.s_max, self.name = float(decay), float(s_max), name
        self._center = center_price
        self._given_center = center_price

    def reset(self) -> None:
        self._center = self._given_center

    def produce(self, frame, grid):
        if self._center is None:
            self._center = frame.spot + self.offset_ticks * frame.tick_size
        r = self.gain * float(frame.scalars.get(self.channel, 0.0)) if self.channel else self.reinforcement
        return {self.name: {"center": self._center, "width": self.width_ticks, "reinforcement": r,
                            "decay": self.decay, "s_max": self.s_max}}


class ConstantViscosity(Producer):
    """A uniform viscosity Γ (1/s)."""

    target = "G"

    def __init__(self, gamma: float = 1.0, name: str = "viscosity"):
        if not np.isfinite(gamma) or gamma < 0:
            raise ProducerError(f"ConstantViscosity: gamma must be >= 0, got {gamma!r}")
        self.gamma, self.name = float(gamma), name

    def produce(self, frame, grid):
        return self.gamma


class ConstantDiffusion(Producer):
    """A uniform diffusion D (ticks²/s) for the ensemble bands."""

    target = "D"

    def __init__(self, d: float = 1.0, name: str = "diffusion"):
        if not np.isfinite(d) or d < 0:
            raise ProducerError(f"ConstantDiffusion: d must be >= 0, got {d!r}")
        self.d, self.name = float(d), name

    def produce(self, frame, grid):
        return self.d


# ----------------------------------------------------------------------------- profile versions

class ProfileProducer(Producer):
    """A per-bucket feature profile -> ΔU or ΔC = gain · profiles[channel]."""

    def __init__(self, channel: str, target: str = "U", gain: float = 1.0, name: str | None = None):
        if target not in ("U", "C", "G", "O", "D"):
            raise ProducerError(f"ProfileProducer target must be a field {FIELD_TARGETS}, got {target!r}")
        self.channel, self.target, self.gain = channel, target, float(gain)
        self.name = name or f"profile:{channel}->{target}"

    def produce(self, frame, grid):
        prof = frame.profiles.get(self.channel)
        if prof is None:
            return 0.0
        return self.gain * np.asarray(prof, dtype=np.float64)


class StrikeWallProducer(Producer):
    """Walls from a strike profile (e.g. normalised |GEX| per strike).

    Each strike whose value reaches ``threshold`` reinforces a wall at that strike's
    absolute price with ``gain · value``; walls keep identity by strike, so a wall
    thickens while its strike stays heavy and erodes (decays) when it fades.
    """

    target = "walls"

    def __init__(self, channel: str = "gex_abs_norm", gain: float = 0.2, threshold: float = 0.2,
                 width_ticks: float = 8.0, decay: float = 0.9, s_max: float = 10.0, name: str = "strike_walls"):
        self.channel, self.gain, self.threshold = channel, float(gain), float(threshold)
        self.width_ticks, self.decay, self.s_max, self.name = float(width_ticks), float(decay), float(s_max), name

    def produce(self, frame, grid):
        vals = frame.strikes.get(self.channel) if frame.strikes else None
        if vals is None or frame.strike_rel_ticks is None:
            return {}
        out = {}
        for rel, v in zip(np.asarray(frame.strike_rel_ticks, float), np.asarray(vals, float)):
            if v < self.threshold:
                continue
            price = round((frame.spot + rel * frame.tick_size) / frame.tick_size) * frame.tick_size
            out[f"{self.name}@{price:.2f}"] = {"center": price, "width": self.width_ticks,
                                                "reinforcement": self.gain * v, "decay": self.decay, "s_max": self.s_max}
        return out


def v1_producers() -> list[Producer]:
    """The seed's minimal model (section 7): push scalar, one soft wall, constant viscosity."""
    return [PushProducer(), SoftWallProducer(), ConstantViscosity()]
