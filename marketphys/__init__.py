"""marketphys: a futures price as a particle moving through a learned medium.

The core (``marketphys.core``) is a NumPy reference engine; faster kernels,
the data pipeline, serving and the notebook instrument build on its types.
"""

import importlib

_EXPORTS = {
    "Grid": "marketphys.core.grid", "MarketFrame": "marketphys.core.frame", "FrameError": "marketphys.core.frame",
    "Fields": "marketphys.core.fields", "WallState": "marketphys.core.walls", "WallSet": "marketphys.core.walls",
    "Theta": "marketphys.core.theta", "ThetaBounds": "marketphys.core.theta",
    "IntegratorConfig": "marketphys.core.integrator", "RolloutResult": "marketphys.core.integrator",
    "GaussNewtonLearner": "marketphys.core.learner", "Ledger": "marketphys.core.ledger",
    "Engine": "marketphys.core.engine", "EngineConfig": "marketphys.core.engine", "Forecast": "marketphys.core.engine",
    "chain_gex": "marketphys.chain", "ChainGex": "marketphys.chain",
}

_SUBPACKAGES = {"core", "pipeline", "replay", "serving", "synth", "kernels", "render", "widgets", "baselines",
                "atomic", "cli", "demo", "chain"}


def __getattr__(name: str):
    """Load the core types on first use: ``import marketphys.cli`` stays light (numpy loads inside the
    command line's own error handling, so Ctrl-C while it imports prints no traceback)."""
    if name in _SUBPACKAGES:
        return importlib.import_module(f"marketphys.{name}")
    mod = _EXPORTS.get(name)
    if mod is None:
        raise AttributeError(f"module 'marketphys' has no attribute {name!r}")
    value = getattr(importlib.import_module(mod), name)
    globals()[name] = value
    return value


__version__ = "0.1.0"


__all__ = [
    "Grid", "MarketFrame", "FrameError", "Fields", "WallState", "WallSet",
    "Theta", "ThetaBounds", "IntegratorConfig", "RolloutResult",
    "GaussNewtonLearner", "Ledger", "Engine", "EngineConfig", "Forecast", "chain_gex", "ChainGex",
    "__version__",
]
