"""Honest forecast baselines and the scorecard (docs/architecture.md#baselines-and-the-scorecard).

Every forecaster here sees the same frames as the engine, one at a time, and is
scored through the same ledger rules; the scorecard compares them per horizon with
a Diebold-Mariano test whose variance allows for the overlap of h-step forecasts.
"""

from marketphys.baselines.forecasters import (BASELINE_NAMES, ConstantVelocity, Forecaster, OfiRegression, OnlineAR,
                                              RandomWalk, default_baselines)
from marketphys.baselines.dm import diebold_mariano
from marketphys.baselines.scorecard import Scorecard, score_histories
from marketphys.baselines.honesty import LookaheadError, no_lookahead_check

__all__ = ["BASELINE_NAMES", "ConstantVelocity", "Forecaster", "OfiRegression", "OnlineAR", "RandomWalk",
           "default_baselines", "diebold_mariano", "Scorecard", "score_histories", "LookaheadError",
           "no_lookahead_check"]
