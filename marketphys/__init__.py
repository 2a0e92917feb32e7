"""marketphys: a futures price as a particle moving through a learned medium.

The core (``marketphys.core``) is a NumPy reference engine; faster kernels,
the data pipeline, serving and the notebook instrument build on its types.
"""

from marketphys.core.grid import Grid
from marketphys.core.frame import MarketFrame, FrameError
from marketphys.core.fields import Fields
from marketphys.core.walls import WallState, WallSet
from marketphys.core.theta import Theta, ThetaBounds
from marketphys.core.integrator import IntegratorConfig, RolloutResult
from marketphys.core.learner import GaussNewtonLearner
from marketphys.core.ledger import Ledger
from marketphys.core.engine import Engine, EngineConfig, Forecast

__version__ = "0.1.0"


def __getattr__(name):
    """``chain_gex`` / ``ChainGex`` load on first use (keeps ``import marketphys`` light)."""
    if name in ("chain_gex", "ChainGex"):
        from marketphys import chain

        return getattr(chain, name)
    raise AttributeError(f"module 'marketphys' has no attribute {name!r}")


__all__ = [
    "Grid", "MarketFrame", "FrameError", "Fields", "WallState", "WallSet",
    "Theta", "ThetaBounds", "IntegratorConfig", "RolloutResult",
    "GaussNewtonLearner", "Ledger", "Engine", "EngineConfig", "Forecast", "chain_gex", "ChainGex",
    "__version__",
]
