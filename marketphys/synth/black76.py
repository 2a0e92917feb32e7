"""Black-76 prices on a quadratic smile, and the ES options price tick.

The compiled scalar versions feed the options generator; the array versions are the
readable reference the tests compare against (and against ``py_vollib``).
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

YEAR_NS = 365.0 * 86400.0 * 1e9
VOL_FLOOR = 0.05
OPT_UNIT = 0.05
"""Option prices are kept in units of 0.05 (the small tick); the large tick is 0.25 = 5 units."""
BIG_TICK_FROM = 5.0


@nb.vectorize(["float64(float64)"], cache=True)
def ndtr(x):
    """Standard normal CDF (array ufunc; keeps scipy out of the runtime dependencies)."""
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def smile_vol(strike, forward, atm, skew, curv):
    """σ(K) = max(atm + skew·k + curv·k², 5%) with k = ln(K/F)."""
    k = np.log(np.asarray(strike, float) / np.asarray(forward, float))
    return np.maximum(atm + skew * k + curv * k * k, VOL_FLOOR)


def black76(forward, strike, t_years, vol, rate, is_call):
    """Discounted Black-76 price (array version)."""
    F, K, T, s = (np.asarray(a, dtype=np.float64) for a in (forward, strike, t_years, vol))
    sq = s * np.sqrt(np.maximum(T, 1e-12))
    d1 = (np.log(F / K) + 0.5 * sq * sq) / sq
    d2 = d1 - sq
    df = np.exp(-rate * np.maximum(T, 0.0))
    call = df * (F * ndtr(d1) - K * ndtr(d2))
    put = df * (K * ndtr(-d2) - F * ndtr(-d1))
    return np.where(np.asarray(is_call, bool), call, put)


def option_tick(price):
    """ES options tick: 0.05 below a premium of 5.00, 0.25 from there."""
    return np.where(np.asarray(price) < BIG_TICK_FROM, 0.05, 0.25)


@nb.njit(cache=True)
def _ncdf(x):
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


@nb.njit(cache=True)
def black76_scalar(F, K, T, vol, rate, is_call):
    sq = vol * math.sqrt(max(T, 1e-12))
    d1 = (math.log(F / K) + 0.5 * sq * sq) / sq
    d2 = d1 - sq
    df = math.exp(-rate * max(T, 0.0))
    if is_call:
        return df * (F * _ncdf(d1) - K * _ncdf(d2))
    return df * (K * _ncdf(-d2) - F * _ncdf(-d1))


@nb.njit(cache=True)
def smile_scalar(K, F, atm, skew, curv):
    k = math.log(K / F)
    return max(atm + skew * k + curv * k * k, VOL_FLOOR)
