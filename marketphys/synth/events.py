"""The event buffer both order-book generators write into (one row per MBO record).

A plain int64 matrix keeps the compiled generators simple; :mod:`marketphys.synth.dbn`
turns it into DBN v3 MBO records. Columns are named by the constants below.
"""

from __future__ import annotations

import numba as nb
import numpy as np

TS_EVENT, TS_RECV, INST, OID, PRICE, SIZE, FLAGS, ACTION, SIDE = range(9)
N_COLS = 9

F_LAST = 128
F_SNAPSHOT = 32
F_BAD_TS_RECV = 8

A_ADD, A_CANCEL, A_MODIFY, A_TRADE, A_FILL, A_CLEAR = (ord(c) for c in "ACMTFR")
S_ASK, S_BID, S_NONE = (ord(c) for c in "ABN")
UNDEF_PRICE = np.iinfo(np.int64).max


class BufferFull(Exception):
    """The preallocated buffer was too small; the caller retries with more room."""


@nb.njit(cache=True, inline="always")
def emit(ev, n, ts, tr, inst, oid, price, size, flags, action, side):
    """Append one record; returns the new count (the caller checks capacity)."""
    if n < ev.shape[0]:
        ev[n, 0] = ts
        ev[n, 1] = tr
        ev[n, 2] = inst
        ev[n, 3] = oid
        ev[n, 4] = price
        ev[n, 5] = size
        ev[n, 6] = flags
        ev[n, 7] = action
        ev[n, 8] = side
    return n + 1


@nb.njit(cache=True, inline="always")
def close_group(ev, n):
    """Mark the last written record as the end of its event (F_LAST)."""
    if 0 < n <= ev.shape[0]:
        ev[n - 1, 6] |= 128
