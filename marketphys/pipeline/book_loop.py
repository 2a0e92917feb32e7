"""The futures book's message loop: applies MBO records to the order table and the levels, and
closes windows as ``ts_recv`` passes their ends.

Semantics per action (see ``marketphys.pipeline.book`` for the whole contract): an add or modify
places quantity (a modify that keeps price and side and does not grow keeps priority and is a
reduction), a cancel takes quantity off, a fill marks the resting order's next reduction as
filled, a trade updates the trade counters, a clear empties the book. The handlers are inlined
into the loop at numba IR level, so the loop compiles as one function with no calls per message.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from marketphys.dbn import ADD, ASK, BID, CANCEL, CLEAR, F_LAST, F_MAYBE_BAD_BOOK, F_SNAPSHOT, FILL, MODIFY, TRADE
from marketphys.dbn import UNDEF_PRICE

from .book_layout import (BAD, BASE, BUYV, EVT_OPEN, EVT_TS, IN_SNAP, KNOWN, LAST_PX, LAST_QTY, N_BAD_SIDE, N_CLEAR,
                          N_DUP_ADD, N_SNAPS, N_UNKNOWN, N_UNKNOWN_W, NMSG, NO_REFCOUNT, NTRADES, OUT_BUCK, OUT_VAC,
                          OUT_WALL, OUT_WIN, PENDING, RING_TAIL, SELLV, STARTED, VOL, WIN_END)
from .book_levels import clear, end_event, level_add, mark, remove_qty
from .book_orders import drop_if_empty, insert, lookup
from .book_windows import emit


@njit(cache=True, **NO_REFCOUNT, inline="always")
def _outputs_full(st, out, band):
    """Whether one more window might not fit the output buffers."""
    return st[OUT_WIN] >= out.snap_i.shape[1] or st[OUT_WALL] + 2 * (2 * band + 1) > out.wall.shape[1] \
        or st[OUT_VAC] + (2 * band + 1) > out.vac_i.shape[1] \
        or st[OUT_BUCK] + (2 * (band // 2) + 1) > out.bucket_i.shape[1]


@njit(cache=True, **NO_REFCOUNT, inline="always")
def _snapshot_state(fl, st, fs, orders, lv):
    """A snapshot record starts one (the book is replaced, with or without a clear of its own); the
    first record without F_SNAPSHOT ends a snapshot that had no F_LAST, ending its event as F_LAST
    would have (OFI starts from its BBO)."""
    if fl & F_SNAPSHOT:
        if st[IN_SNAP] == 0:
            clear(orders, lv, st)
            st[N_SNAPS] += 1
            st[IN_SNAP] = 1
    elif st[IN_SNAP] != 0:
        st[IN_SNAP] = 0
        st[KNOWN] = 1
        end_event(st, fs, lv.depth)
    if fl & F_MAYBE_BAD_BOOK:
        st[BAD] = 1


@njit(cache=True, **NO_REFCOUNT, inline="always")
def _place(t, sidx, q, snap, lv, st):
    """New liquidity q at level t (flow and young unless it comes from a snapshot)."""
    if snap == 0:
        lv.addq[sidx, t] += q
        lv.young[sidx, t] += q
    level_add(sidx, t, q, lv.depth, st)


@njit(cache=True, **NO_REFCOUNT, inline="always")
def _replace_order(s, act, t, sidx, q, snap, orders, lv, st):
    """A known order re-placed: a modify growing it in place adds only the increase; a move (or a
    re-add) pulls the old quantity from its level and places the new one."""
    if act == MODIFY and orders.tick[s] == t and orders.side[s] == sidx:
        inc = q - orders.size[s]
        if orders.young[s] == 1:
            lv.young[sidx, t] -= orders.size[s]
        if snap == 0:
            lv.addq[sidx, t] += inc
            lv.young[sidx, t] += q
        level_add(sidx, t, inc, lv.depth, st)
        orders.size[s] = q
    else:
        orders.fill_pending[s] = 0
        remove_qty(s, orders.size[s], orders, lv, st)
        orders.tick[s] = t
        orders.side[s] = sidx
        orders.size[s] = q
        _place(t, sidx, q, snap, lv, st)
    if act == ADD:
        st[N_DUP_ADD] += 1  # an add for a resting order id replaces that order


@njit(cache=True, **NO_REFCOUNT, inline="always")
def _add_or_modify(act, sidx, oid, px, q, ts, orders, lv, st, tick_int, base):
    """An add, or a modify (new price and/or size); a modify of an unknown order is taken as an add."""
    if sidx < 0 or px == UNDEF_PRICE:
        st[N_BAD_SIDE] += 1
        return
    t = px // tick_int - base
    s = lookup(orders, oid)
    if s >= 0 and act == MODIFY and orders.tick[s] == t and orders.side[s] == sidx and q <= orders.size[s]:
        # size reduction keeps priority: part fill, part pull
        remove_qty(s, orders.size[s] - q, orders, lv, st)
    else:
        snap = st[IN_SNAP]
        if s >= 0:
            _replace_order(s, act, t, sidx, q, snap, orders, lv, st)
        else:
            s = insert(orders, oid, st)
            orders.tick[s] = t
            orders.side[s] = sidx
            orders.size[s] = q
            orders.fill_pending[s] = 0
            _place(t, sidx, q, snap, lv, st)
            if act == MODIFY:
                st[N_UNKNOWN] += 1
                st[N_UNKNOWN_W] += 1
        # priority (re)starts now: young until it has rested rest_ns (snapshot orders rest already)
        orders.ts[s] = ts
        orders.young[s] = 0 if snap != 0 else 1
        if snap == 0:
            j = st[RING_TAIL] % orders.ring_id.shape[0]
            orders.ring_id[j] = oid
            orders.ring_ts[j] = ts
            st[RING_TAIL] += 1
        mark(t, lv, st)
    drop_if_empty(orders, s, st)


@njit(cache=True, **NO_REFCOUNT, inline="always")
def _cancel(oid, q, orders, lv, st):
    s = lookup(orders, oid)
    if s < 0:
        st[N_UNKNOWN] += 1
        st[N_UNKNOWN_W] += 1
    else:
        remove_qty(s, q, orders, lv, st)
        drop_if_empty(orders, s, st)


@njit(cache=True, **NO_REFCOUNT, inline="always")
def _fill(oid, q, orders, st):
    """A fill does not change the book: CME follows it with a C/M, which then counts as filled."""
    s = lookup(orders, oid)
    if s >= 0:
        orders.fill_pending[s] += q
        if orders.fill_pending[s] > orders.size[s]:
            orders.fill_pending[s] = orders.size[s]
    elif oid != 0:
        st[N_UNKNOWN] += 1
        st[N_UNKNOWN_W] += 1


@njit(cache=True, **NO_REFCOUNT, inline="always")
def _trade(px, q, sidx, st):
    """A trade; its side is the aggressor's."""
    if px != UNDEF_PRICE:
        st[LAST_PX] = px
        st[LAST_QTY] = q
    st[VOL] += q
    st[NTRADES] += 1
    if sidx == 0:
        st[BUYV] += q
    elif sidx == 1:
        st[SELLV] += q


@njit(cache=True, **NO_REFCOUNT, inline="always")
def _apply(i, ts, msgs, tick_int, base, st, fs, orders, lv):
    """Message i of the instrument, inside the open window; returns its flags."""
    st[NMSG] += 1
    st[PENDING] = 1
    fl = msgs.flags[i]
    _snapshot_state(fl, st, fs, orders, lv)
    act = msgs.action[i]
    sd = msgs.side[i]
    sidx = 0 if sd == BID else (1 if sd == ASK else -1)
    oid = msgs.order_id[i]
    if act == ADD or act == MODIFY:
        _add_or_modify(act, sidx, oid, msgs.price[i], np.int64(msgs.size[i]), ts, orders, lv, st, tick_int, base)
    elif act == CANCEL:
        _cancel(oid, np.int64(msgs.size[i]), orders, lv, st)
    elif act == FILL:
        _fill(oid, np.int64(msgs.size[i]), orders, st)
    elif act == TRADE:
        _trade(msgs.price[i], np.int64(msgs.size[i]), sidx, st)
    elif act == CLEAR:
        clear(orders, lv, st)
        st[N_CLEAR] += 1
        if st[IN_SNAP] == 0:
            st[KNOWN] = 1  # known empty; inside a snapshot, known at its end
    if fl & F_SNAPSHOT and fl & F_LAST:
        st[IN_SNAP] = 0
        st[KNOWN] = 1
    return fl


@njit(cache=True, **NO_REFCOUNT)
def run_book(msgs, i0, n_end, final, params, st, fs, orders, lv, out):
    """Apply messages [i0, n_end); return the index to resume from (< n_end when the outputs are full).

    An event ends at a message with F_LAST or at a change of ts_recv (the next record's,
    whichever instrument it is for). An event still open at the end of the arrays stays open
    into the next call's first record (``EVT_OPEN``), and ends at the stream's end (``final``),
    so neither slicing a chunk nor the chunk size changes results.

    One function on purpose: this is the hot loop (millions of messages a second); its handlers
    are inlined into it at numba IR level, so no message pays a call.
    """
    ts_recv = msgs.ts_recv
    window_ns = params.window_ns
    base = st[BASE]  # the level arrays move only between calls
    n_all = ts_recv.shape[0]
    i = i0
    if i0 == 0 and n_all > 0 and st[EVT_OPEN] == 1:
        # the previous chunk's last record: its event ends here unless this record shares its ts_recv
        st[EVT_OPEN] = 0
        if np.int64(ts_recv[0]) != st[EVT_TS]:
            end_event(st, fs, lv.depth)
    while i < n_end:
        if msgs.instrument_id[i] != params.instrument_id:
            i += 1
            continue
        ts = np.int64(ts_recv[i])
        if st[STARTED] == 0:
            st[STARTED] = 1
            st[WIN_END] = ((ts + window_ns - 1) // window_ns) * window_ns
        # close every window that ends before this message
        if ts > st[WIN_END]:
            gap = (ts - st[WIN_END] + window_ns - 1) // window_ns  # windows between
            if _outputs_full(st, out, params.band):
                return i
            emit(st[WIN_END], params, st, fs, orders, lv, out)
            if gap > params.max_fill:
                st[WIN_END] = ((ts + window_ns - 1) // window_ns) * window_ns
            else:
                st[WIN_END] += window_ns
            continue  # re-check: maybe more empty windows to emit
        fl = _apply(i, ts, msgs, params.tick_int, base, st, fs, orders, lv)
        if (fl & F_LAST) or (i + 1 < n_all and ts_recv[i + 1] != ts_recv[i]):
            end_event(st, fs, lv.depth)
        elif i + 1 >= n_all:
            st[EVT_OPEN] = 1  # decided by the next chunk's first record (or the stream's end)
            st[EVT_TS] = np.int64(ts_recv[i])
        i += 1
    if final and st[EVT_OPEN] == 1:
        st[EVT_OPEN] = 0
        end_event(st, fs, lv.depth)
    if final and st[PENDING] == 1:
        if _outputs_full(st, out, params.band):
            return i
        emit(st[WIN_END], params, st, fs, orders, lv, out)
        st[WIN_END] += window_ns
    return n_end


@njit(cache=True, **NO_REFCOUNT)
def scan_adds(instr, action, price, instrument_id, i0, i1, tick_int):
    """Adds/modifies of the instrument in [i0, i1) with a price: their count and tick range."""
    n = 0
    lo = np.int64(0)
    hi = np.int64(0)
    for i in range(i0, i1):
        if instr[i] == instrument_id and (action[i] == ADD or action[i] == MODIFY) and price[i] != UNDEF_PRICE:
            px = price[i]
            if n == 0 or px < lo:
                lo = px
            if n == 0 or px > hi:
                hi = px
            n += 1
    return n, lo // tick_int, hi // tick_int  # floor division keeps order: one divide, not one per add
