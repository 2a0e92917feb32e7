"""The futures order book the synthetic generator mutates: per-order slots, FIFO levels.

The book lives on absolute tick levels; each level on each side is a FIFO (doubly linked
list of order slots), so fills walk the queue from its head and a size reduction keeps the
order's place. Compiled with numba; the arrays travel together as one ``Book``.
"""

from __future__ import annotations

from typing import NamedTuple

import numba as nb
import numpy as np

from marketphys.synth.events import emit, close_group

FUTURE_ORDER_ID0 = 6_400_000_000_000
A_ADD, A_CANCEL, A_MODIFY, A_TRADE, A_FILL, A_CLEAR = 65, 67, 77, 84, 70, 82
S_ASK, S_BID, S_NONE = 65, 66, 78


class Book(NamedTuple):
    """The order book's arrays, mutated in place by the compiled phases.

    ``orders[slot]`` = (oid, level, side, size, next, prev): each level on each side is a FIFO
    (doubly linked list); ``levels[side, L]`` = (head, tail, depth, n_orders); ``free`` is a stack
    of free slots and ``live``/``pos`` a dense list of live slots (uniform picks for cancels);
    ``counters`` = (free_top, next_oid, n_live, spare)."""

    orders: np.ndarray
    levels: np.ndarray
    free: np.ndarray
    counters: np.ndarray
    live: np.ndarray
    pos: np.ndarray


@nb.njit(cache=True, inline="always")
def side_char(s):
    return S_BID if s == 0 else S_ASK


@nb.njit(cache=True)
def new_book(cap_ord, nl):
    lv = np.zeros((2, nl, 4), np.int64)
    lv[:, :, 0] = -1
    lv[:, :, 1] = -1
    st = np.zeros(4, np.int64)
    st[0] = cap_ord
    st[1] = FUTURE_ORDER_ID0
    return Book(np.zeros((cap_ord, 6), np.int64), lv, np.arange(cap_ord)[::-1].copy(), st,
                np.zeros(cap_ord, np.int64), np.zeros(cap_ord, np.int64))


@nb.njit(cache=True)
def book_add(bk, s, L, size, oid):
    o, lv, free, st, live, pos = bk
    top = st[0]
    if top == 0:
        return -1
    slot = free[top - 1]
    st[0] = top - 1
    t = lv[s, L, 1]
    o[slot, 0] = oid
    o[slot, 1] = L
    o[slot, 2] = s
    o[slot, 3] = size
    o[slot, 4] = -1
    o[slot, 5] = t
    if t >= 0:
        o[t, 4] = slot
    else:
        lv[s, L, 0] = slot
    lv[s, L, 1] = slot
    lv[s, L, 2] += size
    lv[s, L, 3] += 1
    pos[slot] = st[2]
    live[st[2]] = slot
    st[2] += 1
    return slot


@nb.njit(cache=True)
def book_remove(bk, slot):
    o, lv, free, st, live, pos = bk
    s = o[slot, 2]
    L = o[slot, 1]
    p = o[slot, 5]
    nx = o[slot, 4]
    if p >= 0:
        o[p, 4] = nx
    else:
        lv[s, L, 0] = nx
    if nx >= 0:
        o[nx, 5] = p
    else:
        lv[s, L, 1] = p
    lv[s, L, 2] -= o[slot, 3]
    lv[s, L, 3] -= 1
    last = live[st[2] - 1]
    k = pos[slot]
    live[k] = last
    pos[last] = k
    st[2] -= 1
    free[st[0]] = slot
    st[0] += 1


@nb.njit(cache=True)
def best_level(lv, s, hint, nl):
    """Best level of side s scanning from ``hint`` towards worse prices (-1 if none near)."""
    L = hint
    for _ in range(400):
        if L < 0 or L >= nl:
            return -1
        if lv[s, L, 3] > 0:
            return L
        L = L - 1 if s == 0 else L + 1
    return -1


@nb.njit(cache=True)
def clear_level(ev, n, bk, s, L, price, ts, tr, inst, trade):
    """Remove a whole level: as a trade (T, F..., C...) or as pulls (C...)."""
    o, lv, st = bk.orders, bk.levels, bk.counters
    if lv[s, L, 3] == 0:
        return n
    if trade:
        q = lv[s, L, 2]
        n = emit(ev, n, ts, tr, inst, st[1], price, q, 0, A_TRADE, side_char(1 - s))
        st[1] += 1
        slot = lv[s, L, 0]
        while slot >= 0:
            n = emit(ev, n, ts, tr, inst, o[slot, 0], price, o[slot, 3], 0, A_FILL, side_char(s))
            slot = o[slot, 4]
    slot = lv[s, L, 0]
    while slot >= 0:
        nx = o[slot, 4]
        n = emit(ev, n, ts, tr, inst, o[slot, 0], price, o[slot, 3], 0, A_CANCEL, side_char(s))
        book_remove(bk, slot)
        slot = nx
    close_group(ev, n)
    return n


@nb.njit(cache=True)
def trade_partial(ev, n, bk, s, L, q, price, ts, tr, inst):
    """An aggressor of size q < level depth: fills walk the FIFO; full fills C, the partial M."""
    o, lv, st = bk.orders, bk.levels, bk.counters
    n = emit(ev, n, ts, tr, inst, st[1], price, q, 0, A_TRADE, side_char(1 - s))
    st[1] += 1
    rem = q
    slot = lv[s, L, 0]
    while rem > 0 and slot >= 0:
        f = min(rem, o[slot, 3])
        n = emit(ev, n, ts, tr, inst, o[slot, 0], price, f, 0, A_FILL, side_char(s))
        rem -= f
        slot = o[slot, 4]
    rem = q
    slot = lv[s, L, 0]
    while rem > 0 and slot >= 0:
        nx = o[slot, 4]
        f = min(rem, o[slot, 3])
        if f == o[slot, 3]:
            n = emit(ev, n, ts, tr, inst, o[slot, 0], price, f, 0, A_CANCEL, side_char(s))
            book_remove(bk, slot)
        else:
            o[slot, 3] -= f
            lv[s, L, 2] -= f
            n = emit(ev, n, ts, tr, inst, o[slot, 0], price, o[slot, 3], 0, A_MODIFY, side_char(s))
        rem -= f
        slot = nx
    close_group(ev, n)
    return n
