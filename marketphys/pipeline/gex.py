"""GEX math over arrays: per-option dealer gamma exposure, the 25-strike grid, derivatives.

Units. Black-76 gamma is d(delta)/dF per point of F. ``gamma * F * 0.01`` is the change
of one option's delta for a 1 % move of F; times ``F * multiplier`` it is dollars of
underlying exposure, so

    GEX = gamma * open_interest * multiplier * F**2 * 0.01     [USD per 1 % move of F]

Dealer-positioning assumption (the usual public convention): customers are net
sellers of calls and net buyers of puts, so dealers are long call gamma (+) and short
put gamma (-). ``gex = call part - put part``; ``gex_abs = call part + put part``.
"""

from __future__ import annotations

import numba
import numpy as np

TICK_INT = 250_000_000              # ES tick 0.25 in 1e-9 units
STRIKE_TICKS = 20                   # $5 strikes
STRIKE_INT = STRIKE_TICKS * TICK_INT
HALF_ROWS = 12
N_ROWS = 2 * HALF_ROWS + 1          # 25 rows: rel_ticks -240..+240 step 20
REL_TICKS = np.arange(-HALF_ROWS, HALF_ROWS + 1, dtype=np.int32) * STRIKE_TICKS


def snap_to_strike_grid(price_int) -> np.ndarray:
    """Nearest $5 strike (1e-9 units) to a price; ties go up."""
    p = np.asarray(price_int, dtype=np.int64)
    return ((p + STRIKE_INT // 2) // STRIKE_INT) * STRIKE_INT


def option_gex(gamma, open_interest, multiplier, F, is_call) -> np.ndarray:
    """Signed GEX per option (calls +, puts -), USD per 1 % move; see the module docstring."""
    g = np.asarray(gamma, float) * np.asarray(open_interest, float) * np.asarray(multiplier, float) \
        * np.asarray(F, float) ** 2 * 0.01
    return np.where(np.asarray(is_call, bool), g, -g)


def grid_row(strike_int, centre_int) -> np.ndarray:
    """Row 0..24 of a strike on the grid centred at ``centre_int``, or -1 if off the grid."""
    d = np.asarray(strike_int, np.int64) - np.asarray(centre_int, np.int64)
    row = d // STRIKE_INT + HALF_ROWS
    ok = (d % STRIKE_INT == 0) & (row >= 0) & (row < N_ROWS)
    return np.where(ok, row, -1)


def aggregate(window_pos, row, values, n_windows) -> np.ndarray:
    """Sum ``values`` into an (n_windows, 25) array; rows with row < 0 are dropped."""
    keep = row >= 0
    idx = np.asarray(window_pos)[keep] * N_ROWS + np.asarray(row)[keep]
    return np.bincount(idx, weights=np.asarray(values, float)[keep], minlength=n_windows * N_ROWS).reshape(
        n_windows, N_ROWS)


def imbalance_ratio(call_abs, put_abs) -> np.ndarray:
    """(call - put) / (call + put) in [-1, 1]; 0 where there is no gamma at all."""
    tot = call_abs + put_abs
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(tot > 0, (call_abs - put_abs) / np.where(tot > 0, tot, 1.0), 0.0)


class StrikeDerivatives:
    """d1/d2/d3 of a per-strike series across consecutive emitted windows.

    Keyed by absolute strike, so a recentred grid keeps each strike's history. A strike
    absent from the previous window (it just entered the grid, or the previous window was
    not emitted) starts again with zero differences. The carried state is the last
    window's (value, d1, d2) per strike: bounded by the grid size.
    """

    def __init__(self):
        self._prev: dict[int, tuple[float, float, float]] = {}
        self._prev_seq = -2

    def step(self, seq: int, strikes: np.ndarray, values: np.ndarray) -> np.ndarray:
        """One window's 25 strikes and values -> (25, 3) array of d1, d2, d3."""
        out = np.zeros((len(strikes), 3))
        contiguous = seq == self._prev_seq + 1
        nxt = {}
        for j, (k, v) in enumerate(zip(strikes.tolist(), values.tolist())):
            if contiguous and k in self._prev:
                pv, pd1, pd2 = self._prev[k]
                d1 = v - pv
                d2 = d1 - pd1
                d3 = d2 - pd2
            else:
                d1 = d2 = d3 = 0.0
            out[j] = (d1, d2, d3)
            nxt[k] = (v, d1, d2)
        self._prev = nxt
        self._prev_seq = seq
        return out

    def steps(self, seqs: np.ndarray, strikes: np.ndarray, values: np.ndarray) -> np.ndarray:
        """``step`` over many windows at once (one compiled pass, the same arithmetic, so the
        same bits): seqs (n,), strikes and values (n, 25) -> (n, 25, 3)."""
        seqs = np.ascontiguousarray(seqs, np.int64)
        strikes = np.ascontiguousarray(strikes, np.int64)
        values = np.ascontiguousarray(values, np.float64)
        if len(seqs) == 0:
            return np.zeros((0, strikes.shape[1] if strikes.ndim == 2 else 0, 3))
        prev_k = np.fromiter(self._prev.keys(), np.int64, len(self._prev))
        prev_s = np.array(list(self._prev.values()), np.float64).reshape(len(self._prev), 3)
        out = _steps(seqs, strikes, values, prev_k, prev_s, np.int64(self._prev_seq))
        last = len(seqs) - 1
        self._prev = {k: (v, d1, d2) for k, v, d1, d2 in zip(strikes[last].tolist(), values[last].tolist(),
                                                               out[last, :, 0].tolist(), out[last, :, 1].tolist())}
        self._prev_seq = int(seqs[last])
        return out


@numba.njit(cache=True)
def _steps(seqs, strikes, values, prev_k, prev_s, prev_seq):
    """The loop of ``StrikeDerivatives.step`` over windows; the previous window's strikes are
    searched last to first, as a dict keeps the last value written under a repeated key."""
    n, m = strikes.shape
    out = np.zeros((n, m, 3))
    pk = prev_k.copy()
    ps = prev_s.copy()
    for w in range(n):
        contiguous = seqs[w] == prev_seq + 1
        for j in range(m):
            k = strikes[w, j]
            v = values[w, j]
            d1 = 0.0
            d2 = 0.0
            d3 = 0.0
            if contiguous:
                for q in range(pk.size - 1, -1, -1):
                    if pk[q] == k:
                        d1 = v - ps[q, 0]
                        d2 = d1 - ps[q, 1]
                        d3 = d2 - ps[q, 2]
                        break
            out[w, j, 0] = d1
            out[w, j, 1] = d2
            out[w, j, 2] = d3
        pk = strikes[w].copy()
        ps = np.empty((m, 3))
        for j in range(m):
            ps[j, 0] = values[w, j]
            ps[j, 1] = out[w, j, 0]
            ps[j, 2] = out[w, j, 1]
        prev_seq = seqs[w]
    return out
