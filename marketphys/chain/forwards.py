"""The forward of each expiry: given, from put-call parity on the quotes, or S exp((r - q) T).

Why per expiry: on a real index chain F/S runs from ~1.0005 to ~1.19 across expiries, and
pricing every option off one forward moves the total GEX by about 2x. Parity
``C - P = D (F - K)`` (European options, ``D = exp(-r T)``) gives ``F = K + (C - P) / D`` at
every strike quoted on both sides; the strikes nearest the money (smallest ``|C - P|``,
where the quotes are tightest relative to their value) are used, their median taken.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

PARITY_STRIKES = 3          # median over this many strikes nearest the money


def parity_forward(K, call_mid, put_mid, T, rate) -> tuple[float, int]:
    """(forward, strikes used) from the strikes of one expiry with both mids; (NaN, 0) if none."""
    ok = np.isfinite(call_mid) & np.isfinite(put_mid)
    if not ok.any():
        return float("nan"), 0
    diff = (call_mid - put_mid)[ok]
    near = np.argsort(np.abs(diff), kind="stable")[:PARITY_STRIKES]
    est = K[ok][near] + diff[near] * np.exp(rate * T)
    return float(np.median(est)), int(len(near))


def forwards_per_expiry(expiry_ns, T, K, is_call, mid, given, spot, rate, div) -> pd.DataFrame:
    """One row per expiry: expiry_ns, T, forward, source ('given' | 'parity' | 'carry'), parity_strikes.

    ``given``: per-row forward (NaN where absent). ``spot`` may be None when every expiry
    gets a given or parity forward. Rows with NaN T are ignored.
    """
    out = []
    keep = np.isfinite(T)
    for e in np.unique(expiry_ns[keep]):
        m = keep & (expiry_ns == e)
        t = float(np.median(T[m]))
        g = given[m]
        if np.isfinite(g).any():
            out.append((e, t, float(np.nanmedian(g)), "given", 0))
            continue
        k = K[m]
        calls = pd.Series(mid[m][is_call[m]], index=k[is_call[m]]).groupby(level=0).first()
        puts = pd.Series(mid[m][~is_call[m]], index=k[~is_call[m]]).groupby(level=0).first()
        both = calls.index.intersection(puts.index)
        f, n = parity_forward(both.to_numpy(float), calls[both].to_numpy(float), puts[both].to_numpy(float), t, rate)
        if np.isfinite(f) and f > 0:
            out.append((e, t, f, "parity", n))
        elif spot is not None:
            out.append((e, t, float(spot) * float(np.exp((rate - div) * t)), "carry", 0))
        else:
            out.append((e, t, float("nan"), "none", 0))
    return pd.DataFrame(out, columns=["expiry_ns", "T", "forward", "source", "parity_strikes"])
