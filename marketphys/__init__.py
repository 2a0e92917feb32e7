"""marketphys: a futures price as a particle moving through a learned medium.

The workflow, one name each (``import marketphys as mp``)::

    mp.build(["dbn/"], "lake/")                     # DBN files or LOBSTER days -> Parquet lake
    s = mp.Session.from_lake("lake/")               # replay a day: engine + honest baselines
    s.run(); s.lab(); s.scorecard()                 # Physics Lab widget, per-horizon scorecard
    mp.export_theta("theta.json", s); mp.load_theta("theta.json")
    @mp.producer("C")                                # a hypothesis as a field producer
    mp.gex(chain, multiplier=100)                   # gamma exposure of an option chain

Everything else lives in the subpackages, each with a small ``__all__`` (``mp.synth``,
``mp.replay``, ``mp.serving``, ``mp.widgets``, ``mp.chain``, ``mp.core``, ``mp.kernels``, ...).
Names load on first use, so ``import marketphys`` imports neither NumPy nor pandas.
"""

import importlib

from marketphys._version import __version__

_EXPORTS = {
    "Session": ("marketphys.replay.session", "Session"),
    "EngineConfig": ("marketphys.core.engine", "EngineConfig"),
    "build": ("marketphys.pipeline.build", "build"),
    "producer": ("marketphys.core.producers", "producer"),
    "export_theta": ("marketphys.replay.export", "export_theta"),
    "load_theta": ("marketphys.replay.export", "load_theta"),
    "PhysicsLab": ("marketphys.widgets.lab", "PhysicsLab"),
    "scorecard": ("marketphys.baselines.scorecard", "score_histories"),
    "gex": ("marketphys.chain.exposure", "chain_gex"),
}

_SUBPACKAGES = {"atomic", "baselines", "chain", "cli", "core", "demo", "frames", "kernels", "pipeline", "render",
                "replay", "serving", "synth", "widgets"}

__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name: str):
    """Load a workflow name or a subpackage on first use (PEP 562): ``import marketphys.cli`` stays light
    (numpy loads inside the command line's own error handling, so Ctrl-C while it imports prints no traceback)."""
    if name in _SUBPACKAGES:
        return importlib.import_module(f"marketphys.{name}")
    where = _EXPORTS.get(name)
    if where is None:
        raise AttributeError(f"module 'marketphys' has no attribute {name!r}")
    value = getattr(importlib.import_module(where[0]), where[1])
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__, *_SUBPACKAGES})
