"""Replay a day (a lake date, synthetic frames or a live stream) through the engine and the baselines.

``Session`` steps the engine and the honest baselines frame by frame; ``ablate`` / ``ablate_day``
test a hypothesis by dropping one producer; ``calibrate`` searches learner settings over days;
``export_theta`` / ``load_theta`` hand θ on. Names load on first use (PEP 562).
"""

import importlib

# ``calibrate`` is both a submodule and its function: bind the function now, so that a later
# ``import marketphys.replay.calibrate`` elsewhere cannot leave the module in its place.
from marketphys.replay.calibrate import calibrate

_EXPORTS = {
    "Session": "marketphys.replay.session",
    "ablate": "marketphys.replay.ablation", "ablate_day": "marketphys.replay.ablation",
    "hyper_grid": "marketphys.replay.calibrate", "summarize": "marketphys.replay.calibrate",
    "lake_days": "marketphys.replay.calibrate",
    "export_theta": "marketphys.replay.export", "load_theta": "marketphys.replay.export",
}

__all__ = [*_EXPORTS, "calibrate"]


def __getattr__(name: str):
    mod = _EXPORTS.get(name)
    if mod is None:
        raise AttributeError(f"module 'marketphys.replay' has no attribute {name!r}")
    value = getattr(importlib.import_module(mod), name)
    globals()[name] = value
    return value
