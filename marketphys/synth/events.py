"""The event buffer both order-book generators write into (one column per MBO record).

A plain int64 matrix of shape (N_COLS, n) keeps the compiled generators simple and each
field contiguous, so :mod:`marketphys.synth.dbn` sorts and lays out millions of DBN v3
MBO records with a few gathers. Rows (fields) are named by the constants below.
"""

from __future__ import annotations

import numba as nb

from marketphys.dbn import (ADD, ASK, BID, CANCEL, CLEAR, F_BAD_TS_RECV, F_LAST, F_SNAPSHOT,  # noqa: F401
                            FILL, MODIFY, SIDE_NONE, TRADE, UNDEF_PRICE)

TS_EVENT, TS_RECV, INST, OID, PRICE, SIZE, FLAGS, ACTION, SIDE = range(9)
N_COLS = 9

# the generators' short names for the DBN codes of marketphys.dbn
A_ADD, A_CANCEL, A_MODIFY, A_TRADE, A_FILL, A_CLEAR = ADD, CANCEL, MODIFY, TRADE, FILL, CLEAR
S_ASK, S_BID, S_NONE = ASK, BID, SIDE_NONE


class BufferFull(Exception):
    """The preallocated buffer was too small; the caller retries with more room."""


@nb.njit(cache=True, inline="always")
def emit(ev, n, ts, tr, inst, oid, price, size, flags, action, side):
    """Append one record; returns the new count (the caller checks capacity)."""
    if n < ev.shape[1]:
        ev[0, n] = ts
        ev[1, n] = tr
        ev[2, n] = inst
        ev[3, n] = oid
        ev[4, n] = price
        ev[5, n] = size
        ev[6, n] = flags
        ev[7, n] = action
        ev[8, n] = side
    return n + 1


@nb.njit(cache=True, inline="always")
def close_group(ev, n):
    """Mark the last written record as the end of its event (F_LAST)."""
    if 0 < n <= ev.shape[1]:
        ev[6, n - 1] |= F_LAST
