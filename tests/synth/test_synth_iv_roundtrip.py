"""The synthetic market and the pipeline agree: one Black-76 and one year.

The option market maker's fair values, computed through the generator's own compiled path
(``synth.options.mm_theo``: its year fraction and its pricing), are inverted with the pipeline's
implied vol at the pipeline's year fraction (``black76.years_to_expiry``, what the options stage
uses). They must give back the smile vol the generator priced with, to 1e-6. A year of 365 days
on either side against 365.25 on the other scales the recovered vol by sqrt(365.25/365), about
5e-5 at these vols, and fails it; the same year changed on both sides fails the calendar pin.
"""

from __future__ import annotations

import numpy as np

from marketphys.pipeline import black76
from marketphys.synth import options
from marketphys.synth.config import SynthConfig
from marketphys.synth.instruments import SMILES
from marketphys.synth.smile import smile_vol

HOUR_NS = 3_600 * 10**9
DAY_NS = 24 * HOUR_NS
F0 = 5212.5


def _grid(now):
    """Both series' smiles over strikes within ±6 % of F, 0DTE hours out and quarterly weeks out."""
    K = np.round(F0 * np.exp(np.linspace(-0.06, 0.06, 49)) / 5.0) * 5.0
    cases = [(s, now + dt) for s, dts in (("0dte", (HOUR_NS // 2, 3 * HOUR_NS, 6 * HOUR_NS + HOUR_NS // 2)),
                                          ("quarterly", (9 * DAY_NS, 40 * DAY_NS, 95 * DAY_NS))) for dt in dts]
    rows = [(s, e, k, c) for s, e in cases for k in K for c in (True, False)]
    series, exp, strike, call = (np.array(x) for x in zip(*rows))
    smile = np.array([SMILES[s] for s in series])
    return series, exp.astype(np.int64), strike.astype(float), call.astype(bool), smile


def test_synthetic_quotes_invert_to_the_synthetic_smile_through_the_pipeline():
    cfg = SynthConfig()
    now = cfg.start_ns
    series, exp, K, call, smile = _grid(now)
    theo = options.mm_theo(F0, K, exp, now, smile, cfg.rate, call)
    T = black76.years_to_expiry(exp, now)
    iv, status = black76.implied_vol(theo, F0, K, T, call, cfg.rate)
    want = smile_vol(K, F0, smile[:, 0], smile[:, 1], smile[:, 2])
    # the out-of-the-money price must carry time value worth inverting (a 0.05 quote grid ignores less)
    otm = options.mm_theo(F0, K, exp, now, smile, cfg.rate, K >= F0)
    usable = otm > 1e-3
    assert usable.sum() > 300 and set(series[usable]) == {"0dte", "quarterly"}
    assert (status[usable] == black76.IV_OK).all()
    err = np.abs(iv[usable] - want[usable])
    assert err.max() < 1e-6, (err.max(), series[usable][err.argmax()], K[usable][err.argmax()])

    # the one year is the calendar's ACT/365.25: an expiry 365.25 days away is T = 1 on both sides
    year_later = now + 36_525 * DAY_NS // 100
    assert black76.years_to_expiry(year_later, now) == 1.0
    sig = float(smile_vol(F0, F0, *SMILES["quarterly"]))
    at_one = float(black76.price(F0, F0, 1.0, sig, True, cfg.rate))
    assert options.mm_theo(F0, F0, year_later, now, SMILES["quarterly"], cfg.rate, True)[()] == at_one
