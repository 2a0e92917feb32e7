"""A synthetic CME ES market written as real DBN, driven by a known medium.

``generate_session(SynthConfig(minutes=10, seed=1), "out/")`` writes futures and options
MBO, definitions, open interest and the ground truth; see :mod:`marketphys.synth.session`.
"""

from marketphys.synth.config import SynthConfig, SynthError
from marketphys.synth.session import SynthResult, file_names, generate_session
from marketphys.synth.truth import GroundTruth

__all__ = ["SynthConfig", "SynthError", "SynthResult", "GroundTruth", "generate_session", "file_names", "make_world",
           "WorldConfig"]


def __getattr__(name: str):
    """The engine-level synthetic world (``engine_world``: frames from a known θ) loads on first use."""
    if name in ("make_world", "WorldConfig"):
        from marketphys.synth import engine_world

        return getattr(engine_world, name)
    raise AttributeError(f"module 'marketphys.synth' has no attribute {name!r}")
