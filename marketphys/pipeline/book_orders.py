"""The futures book's order table: live orders by order id (open addressing), and the resting ring.

One int64 row of ``OT_COLS`` per hash slot holds the slot's key, its state and the order's fields,
so a lookup that finds its order has also fetched the order (one 64-byte cache line, not three).
Slot states: 0 empty, 1 live, 2 deleted (a tombstone that keeps probe chains whole until a rehash).
The ring lists orders in add order with their add time, so a window's close can graduate the
ones that have rested ``rest_ns`` (``book_levels.graduate``).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from .book_layout import NLIVE, NO_REFCOUNT, NUSED

# order table columns (one int64 row per hash slot)
OT_KEY, OT_STATE, OT_TICK = 0, 1, 2
OT_COLS = 8
ORDER_FIELDS = ("tick", "side", "size", "ts", "young", "fill_pending")  # columns OT_TICK.. of a row
EMPTY, LIVE, DELETED = 0, 1, 2

_HASH_MUL = np.uint64(0x9E3779B97F4A7C15)


class OrderTable(NamedTuple):
    """Column views of the order table (one entry per hash slot) and the resting ring."""

    keys: np.ndarray          # uint64 order id
    state: np.ndarray         # EMPTY / LIVE / DELETED
    tick: np.ndarray          # level index (price tick - the book's base)
    side: np.ndarray          # 0 bid, 1 ask
    size: np.ndarray
    ts: np.ndarray            # ts_recv of the add or last priority reset
    young: np.ndarray         # 1 while the order has rested less than rest_ns
    fill_pending: np.ndarray  # filled quantity its next reduction takes first (fills, not pulls)
    ring_id: np.ndarray       # resting ring: order ids in add order ...
    ring_ts: np.ndarray       # ... with their add times


def aligned_table(rows: int, cols: int = OT_COLS) -> np.ndarray:
    """Zeroed int64 (rows, cols) whose rows start on 64-byte boundaries (one cache line per order)."""
    flat = np.zeros(rows * cols + 8, np.int64)
    off = (-flat.ctypes.data % 64) // 8
    return flat[off: off + rows * cols].reshape(rows, cols)


def order_table(otab: np.ndarray, ring_id: np.ndarray, ring_ts: np.ndarray) -> OrderTable:
    """The named column views of a table made by ``aligned_table``."""
    fields = [otab[:, OT_TICK + j] for j in range(len(ORDER_FIELDS))]
    return OrderTable(otab[:, OT_KEY].view(np.uint64), otab[:, OT_STATE], *fields, ring_id, ring_ts)


@njit(cache=True, **NO_REFCOUNT, inline="always")
def slot0(key, mask):
    h = key * _HASH_MUL
    return np.int64((h >> np.uint64(29)) & np.uint64(mask))


@njit(cache=True, **NO_REFCOUNT, inline="always")
def lookup(orders, key):
    """The live slot holding ``key``, or -1."""
    keys = orders.keys
    hstate = orders.state
    mask = keys.shape[0] - 1
    s = slot0(key, mask)
    while True:
        hs = hstate[s]
        if hs == 0:
            return -1
        if hs == 1 and keys[s] == key:
            return s
        s = (s + 1) & mask


@njit(cache=True, **NO_REFCOUNT, inline="always")
def insert(orders, key, st):
    """A new live slot for ``key`` (the caller sized the table: it is never full)."""
    keys = orders.keys
    hstate = orders.state
    mask = keys.shape[0] - 1
    s = slot0(key, mask)
    while hstate[s] == 1:
        s = (s + 1) & mask
    if hstate[s] == 0:
        st[NUSED] += 1
    hstate[s] = 1
    keys[s] = key
    st[NLIVE] += 1
    return s


@njit(cache=True, **NO_REFCOUNT, inline="always")
def drop_if_empty(orders, s, st):
    """Delete slot ``s`` once its order has no quantity left."""
    if orders.size[s] <= 0:
        orders.state[s] = 2
        st[NLIVE] -= 1


@njit(cache=True, **NO_REFCOUNT)
def rehash(keys, hstate, otab, new_keys, new_otab):
    """Move live slots into ``new_otab`` (zeroed); ``new_keys`` is its key column. Returns live count."""
    mask = new_otab.shape[0] - 1
    n = 0
    for s in range(keys.shape[0]):
        if hstate[s] == 1:
            j = slot0(keys[s], mask)
            while new_otab[j, OT_STATE] == 1:
                j = (j + 1) & mask
            for c in range(otab.shape[1]):
                new_otab[j, c] = otab[s, c]
            n += 1
    return n
