"""The futures book's price levels: depth per (side, tick), flows of the open window, and history.

Levels are indexed by tick relative to the book's ``BASE`` (slot of ``st``); the arrays grow
between compiled calls (``widen``), never inside them. Besides depth, a level keeps what the
window writer needs: the young (not yet resting) part of its depth, the open window's add, pull
and fill quantities, last window's depth and resting depth, the last first difference, the last
two windows' pull/add log ratios, and a stamp of the last window that touched it ("dirty"), so a
window's close visits only the levels that changed.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from .book_layout import (BA, BAD, BB, F_OFI, IN_SNAP, KNOWN, NDIRTY, NLIVE, NO_REFCOUNT, NUSED, PBA, PBB, PQA,
                          PQB, PREV_VALID, RING_HEAD, RING_TAIL, THI, TLO, W)
from .book_orders import lookup

NEVER = -10  # window stamp of a level never touched (older than any "last two windows" test)


class Levels(NamedTuple):
    """Per-level arrays: (2, L) for side 0 bid / 1 ask, else (L,)."""

    depth: np.ndarray        # resting quantity
    young: np.ndarray        # the part of depth added less than rest_ns ago
    addq: np.ndarray         # open window: quantity added
    pullq: np.ndarray        # open window: quantity pulled (cancelled, not filled)
    fillq: np.ndarray        # open window: quantity filled
    prev_depth: np.ndarray   # depth at the last window's end
    prev_rest: np.ndarray    # resting depth at the last window's end
    d1_last: np.ndarray      # the last window's first difference of depth ...
    d1_w: np.ndarray         # ... and that window
    ra: np.ndarray           # pull/add log ratio of the last window that touched the level ...
    ra_w: np.ndarray         # ... and that window
    rb: np.ndarray           # the one before (for the second difference)
    rb_w: np.ndarray
    dirty_stamp: np.ndarray  # last window that touched the level
    dirty_list: np.ndarray   # levels touched in the open window (NDIRTY of them)


LEVELS_2D = Levels._fields[:9]
LEVELS_1D = Levels._fields[9:14]
_STAMPS = ("d1_w", "ra_w", "rb_w", "dirty_stamp")


def new_levels(L: int) -> Levels:
    """Empty levels for L ticks."""
    def one(name):
        shape = (2, L) if name in LEVELS_2D else (L,)
        dtype = np.float64 if name in ("ra", "rb") else np.int64
        return np.full(shape, NEVER, dtype) if name in _STAMPS else np.zeros(shape, dtype)
    return Levels(*(one(name) for name in Levels._fields))


def widen(lv: Levels, shift: int, new_L: int, n_dirty: int) -> Levels:
    """The same levels in arrays of ``new_L`` ticks, the old ones starting at index ``shift``."""
    out = new_levels(new_L)
    L = lv.depth.shape[1]
    for name in LEVELS_2D:
        getattr(out, name)[:, shift: shift + L] = getattr(lv, name)
    for name in LEVELS_1D:
        getattr(out, name)[shift: shift + L] = getattr(lv, name)
    out.dirty_list[:n_dirty] = lv.dirty_list[:n_dirty] + shift
    return out


@njit(cache=True, **NO_REFCOUNT, inline="always")
def mark(t, lv, st):
    """Level ``t`` changed in the open window: widen the span, list it once."""
    if t < st[TLO]:
        st[TLO] = t
    if t > st[THI]:
        st[THI] = t
    if lv.dirty_stamp[t] != st[W]:
        lv.dirty_stamp[t] = st[W]
        lv.dirty_list[st[NDIRTY]] = t
        st[NDIRTY] += 1


@njit(cache=True, **NO_REFCOUNT, inline="always")
def level_add(side, t, q, depth, st):
    depth[side, t] += q
    if depth[side, t] <= 0:
        return
    if side == 0:
        if st[BB] < 0 or t > st[BB]:
            st[BB] = t
    else:
        if st[BA] < 0 or t < st[BA]:
            st[BA] = t


@njit(cache=True, **NO_REFCOUNT, inline="always")
def level_sub(side, t, q, depth, st):
    depth[side, t] -= q
    if depth[side, t] <= 0:
        if side == 0 and t == st[BB]:
            k = t - 1
            while k >= 0 and depth[0, k] <= 0:
                k -= 1
            st[BB] = k  # -1 when empty
        elif side == 1 and t == st[BA]:
            n = depth.shape[1]
            k = t + 1
            while k < n and depth[1, k] <= 0:
                k += 1
            st[BA] = k if k < n else -1


@njit(cache=True, **NO_REFCOUNT, inline="always")
def remove_qty(s, amt, orders, lv, st):
    """Take ``amt`` off order slot ``s``: filled part first (pending fills), the rest is a pull."""
    side = orders.side[s]
    t = orders.tick[s]
    if amt > orders.size[s]:
        amt = orders.size[s]
    f = amt if amt < orders.fill_pending[s] else orders.fill_pending[s]
    orders.fill_pending[s] -= f
    if st[IN_SNAP] == 0:
        lv.fillq[side, t] += f
        lv.pullq[side, t] += amt - f
    if orders.young[s] == 1:
        lv.young[side, t] -= amt
    orders.size[s] -= amt
    level_sub(side, t, amt, lv.depth, st)
    mark(t, lv, st)


@njit(cache=True, **NO_REFCOUNT, inline="always")
def book_valid(st):
    """Known whole, not flagged bad, not in a snapshot, two-sided and not crossed."""
    if st[IN_SNAP] != 0 or st[BAD] != 0 or st[KNOWN] == 0 or st[BB] < 0 or st[BA] < 0:
        return False
    return st[BB] < st[BA]


@njit(cache=True, **NO_REFCOUNT)
def clear(orders, lv, st):
    """Empty the book (a clear, or a snapshot's start); emptied levels count as touched."""
    depth = lv.depth
    young = lv.young
    hstate = orders.state
    L = depth.shape[1]
    for t in range(L):
        if depth[0, t] != 0 or depth[1, t] != 0:
            mark(t, lv, st)
        depth[0, t] = 0
        depth[1, t] = 0
        young[0, t] = 0
        young[1, t] = 0
    for s in range(hstate.shape[0]):
        hstate[s] = 0
    st[NLIVE] = 0
    st[NUSED] = 0
    st[BB] = -1
    st[BA] = -1
    st[BAD] = 0
    st[RING_HEAD] = st[RING_TAIL]
    st[PREV_VALID] = 0


@njit(cache=True, **NO_REFCOUNT, inline="always")
def end_event(st, fs, depth):
    """End of an event: order-flow imbalance (Cont, Kukanov, Stoikov 2014) on the BBO."""
    if book_valid(st):
        pb = st[BB]
        pa = st[BA]
        qb = depth[0, pb]
        qa = depth[1, pa]
        if st[PREV_VALID] == 1:
            e = 0
            if pb >= st[PBB]:
                e += qb
            if pb <= st[PBB]:
                e -= st[PQB]
            if pa <= st[PBA]:
                e -= qa
            if pa >= st[PBA]:
                e += st[PQA]
            fs[F_OFI] += e
        st[PBB] = pb
        st[PBA] = pa
        st[PQB] = qb
        st[PQA] = qa
        st[PREV_VALID] = 1
    else:
        st[PREV_VALID] = 0


@njit(cache=True, **NO_REFCOUNT)
def graduate(T, rest_ns, orders, lv, st):
    """Orders added at least ``rest_ns`` before ``T`` stop being young (their depth now rests)."""
    ring_id = orders.ring_id
    ring_ts = orders.ring_ts
    cap = ring_id.shape[0]
    while st[RING_HEAD] < st[RING_TAIL]:
        j = st[RING_HEAD] % cap
        if ring_ts[j] > T - rest_ns:
            break
        s = lookup(orders, ring_id[j])
        if s >= 0 and orders.young[s] == 1 and orders.ts[s] == ring_ts[j]:
            orders.young[s] = 0
            lv.young[orders.side[s], orders.tick[s]] -= orders.size[s]
            mark(orders.tick[s], lv, st)
        st[RING_HEAD] += 1


@njit(cache=True, **NO_REFCOUNT)
def shrink_span(w, depth, dirty_stamp, st):
    """Narrow TLO..THI past end levels that are empty and will be quiet from window w + 1 on.

    Such a level writes nothing until it is marked again, and ``mark`` widens the span.
    """
    lo = st[TLO]
    hi = st[THI]
    while lo <= hi and depth[0, lo] == 0 and depth[1, lo] == 0 and dirty_stamp[lo] < w - 1:
        lo += 1
    while hi >= lo and depth[0, hi] == 0 and depth[1, hi] == 0 and dirty_stamp[hi] < w - 1:
        hi -= 1
    if lo > hi:
        st[TLO] = 1 << 62
        st[THI] = -1
    else:
        st[TLO] = lo
        st[THI] = hi
