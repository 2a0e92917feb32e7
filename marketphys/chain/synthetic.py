"""A synthetic, index-like option chain (for tests, the notebook and CLI demos; never real data).

Prices are Black-76 off a known forward per expiry (``S exp((r - q) T)``) with a skewed
smile, quoted with a half spread, so put-call parity recovers the forward and inverting
the mids recovers the smile. Open interest is heavy at round strikes, puts below the spot
and calls above, like an index chain.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from marketphys.pipeline import black76

from .frame import NS_PER_DAY, year_basis


def synthetic_chain(spot: float = 5000.0, asof="2024-06-21 10:15", days=(7, 28, 91), strike_step: float = 25.0,
                    width: float = 0.15, rate: float = 0.05, div: float = 0.013, atm_vol: float = 0.15,
                    skew: float = -0.6, half_spread: float = 0.05, seed: int = 0,
                    tz: str = "America/New_York", day_count="ACT/365") -> pd.DataFrame:
    """One call and one put per (expiry, strike); attrs hold spot, asof and the true forwards.

    ``day_count`` is the chain readers' (``frame.DAY_COUNTS``; ``chain_gex``'s default ACT/365), so
    inverting the mids with the same day count recovers ``iv``."""
    rng = np.random.default_rng(seed)
    t0 = pd.Timestamp(asof, tz=tz) if pd.Timestamp(asof).tzinfo is None else pd.Timestamp(asof)
    strikes = np.arange(np.floor(spot * (1 - width) / strike_step), np.ceil(spot * (1 + width) / strike_step) + 1) \
        * strike_step
    rows, fwd = [], {}
    for d in days:
        exp = (t0.normalize() + pd.Timedelta(days=int(d))).date()
        exp_ts = pd.Timestamp(exp).tz_localize(tz) + pd.Timedelta(hours=16)
        T = (exp_ts - t0).value / (year_basis(day_count) * NS_PER_DAY)
        F = spot * np.exp((rate - div) * T)
        fwd[exp] = F
        m = np.log(strikes / F) / np.sqrt(T)
        iv = np.clip(atm_vol + skew * 0.1 * m + 0.5 * m ** 2 * 0.1, 0.05, 2.0)
        for call in (True, False):
            px = black76.price(F, strikes, T, iv, call, rate)
            otm = strikes >= F if call else strikes <= F
            base = 2000.0 * np.exp(-0.5 * (np.log(strikes / spot) / 0.05) ** 2)
            round_k = np.where(strikes % 100 == 0, 3.0, 1.0)
            oi = np.round(base * round_k * np.where(otm, 1.0, 0.3) * (1.5 if not call else 1.0)
                          * rng.uniform(0.5, 1.5, len(strikes)))
            rows.append(pd.DataFrame({"strike": strikes, "expiry": exp, "type": "C" if call else "P",
                                      "open_interest": oi, "iv": iv,
                                      "bid": np.maximum(px - half_spread, 0.0), "ask": px + half_spread}))
    out = pd.concat(rows, ignore_index=True)
    out.attrs.update({"spot": float(spot), "asof": t0, "forwards": fwd, "rate": rate, "div": div})
    return out
