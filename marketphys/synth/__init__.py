"""A synthetic CME ES market written as real DBN, driven by a known medium.

``generate_session(SynthConfig(minutes=10, seed=1), "out/")`` writes futures and options
MBO, definitions, open interest and the ground truth; see :mod:`marketphys.synth.session`.
"""

from marketphys.synth.config import SynthConfig, SynthError
from marketphys.synth.session import SynthResult, file_names, generate_session
from marketphys.synth.truth import GroundTruth

__all__ = ["SynthConfig", "SynthError", "SynthResult", "GroundTruth", "generate_session", "file_names"]
