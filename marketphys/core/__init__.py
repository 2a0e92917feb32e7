"""The physics core: grid, frames, fields, producers, walls, integrator, learner, ledger, engine.

Pure NumPy and the lowest layer above ``marketphys.atomic``: it imports no other part of the
package. A kernel backend is passed in (``Engine(..., backend=...)``, the ``RolloutBackend``
protocol); ``marketphys.kernels.make_engine`` resolves ``EngineConfig.backend`` into one.
"""

from marketphys.core.backend import RolloutBackend
from marketphys.core.engine import Engine, EngineConfig, Forecast
from marketphys.core.frame import FrameError, MarketFrame
from marketphys.core.grid import Grid
from marketphys.core.integrator import IntegratorConfig
from marketphys.core.producers import Producer, ProducerError, producer
from marketphys.core.theta import Theta, ThetaBounds

__all__ = ["Engine", "EngineConfig", "Forecast", "FrameError", "Grid", "IntegratorConfig", "MarketFrame", "Producer",
           "ProducerError", "RolloutBackend", "Theta", "ThetaBounds", "producer"]
