"""The synthetic market's implied-vol smile: quadratic in log-moneyness, floored at 5 %.

The option market maker prices Black-76 (``marketphys.pipeline.black76``, the package's one
Black-76 and one year) at this vol; the array version is what tests compare against.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

VOL_FLOOR = 0.05


def smile_vol(strike, forward, atm, skew, curv):
    """σ(K) = max(atm + skew·k + curv·k², 5%) with k = ln(K/F)."""
    k = np.log(np.asarray(strike, float) / np.asarray(forward, float))
    return np.maximum(atm + skew * k + curv * k * k, VOL_FLOOR)


@nb.njit(cache=True)
def smile_scalar(K, F, atm, skew, curv):
    k = math.log(K / F)
    return max(atm + skew * k + curv * k * k, VOL_FLOOR)
