"""Per-order book state for many instruments, with per-window flow accounting (numba).

Why per order and not per level: ``pull_rest_qty`` needs the age of the order a
cancel came from, and fills must not be mistaken for pulls. Databento MBO rules
(docs "order tracking"): A adds, C cancels (partially or fully), M modifies (a price
change or a size increase loses priority, i.e. restarts the order's age), R clears
an instrument's book, F reports a fill of a resting order *and is followed by the C/M
that removes the filled quantity*, T (aggressor trade) and N do not touch the book.
Records flagged F_SNAPSHOT rebuild the book at the start of a file: they change
depth but are not flow, and their orders count as long rested.

Flows of a window, per (instrument, side, price):
- add_qty   quantity added (A, M size increase, M to a new price)
- pull_qty  quantity removed that was not filled (C, M decrease, M away from a price)
- fill_qty  quantity filled (F)
- pull_rest_qty  the part of pull_qty from orders that had rested >= rest_ns
- depth_end resting quantity at the level when the window closes

Trouble (unknown order ids, side 'N' adds) is counted in ``stats``, never raised.
"""

from __future__ import annotations

import numba
import numpy as np

from marketphys.dbn import ADD, ASK, BID, CANCEL, CLEAR, F_SNAPSHOT, FILL, MODIFY

_LONG_AGO = -(1 << 62)   # ts_added of snapshot orders: rested "forever"

STAT_NAMES = ("events", "unknown_order", "no_side", "snapshot")



class OrderBooks:
    """Every instrument's book (two sides) keyed by order id; state lives in flat NumPy tables.

    Orders sit in an open-addressing hash table (linear probing, deletion by backward shift);
    books get dense indices (``inst * 2 + (1 bid / 0 ask)`` -> book); each book's levels are
    a linked list, in insertion order, of entries of one level pool found by (book, price); the
    window's flows are a dense list found by (book, price). No typed containers: the compiled
    message loop touches plain arrays only (benchmarks/RESULTS.md, options, issue 19). When a
    table runs half full the loop stops before the record, the table doubles, the loop resumes.
    """

    def __init__(self, rest_ns: int = 500_000_000):
        if rest_ns < 0:
            raise ValueError(f"rest_ns must be >= 0, got {rest_ns}")
        self.rest_ns = int(rest_ns)
        self.stats = np.zeros(len(STAT_NAMES), dtype=np.int64)
        self.ctl = np.zeros(_NCTL, np.int64)
        self.ctl[_LFREE] = -1
        self._orders(1 << 10)
        self._books(1 << 6)
        self._levels(1 << 10)
        self._flows(1 << 10)
        _warm(self)

    # ---- tables (made and doubled here, filled in compiled code) ---------------------
    def _orders(self, cap):
        self.o_key, self.o_used, self.o_row = np.zeros(cap, np.int64), np.zeros(cap, np.uint8), np.zeros((cap, 5), np.int64)

    def _books(self, cap):
        self.bk_hash = np.full(2 * cap, -1, np.int64)       # -> book index
        self.bk_row = np.zeros((cap, 3), np.int64)          # (key, first level, last level)

    def _levels(self, cap):
        self.lv_hash = np.full(2 * cap, -1, np.int64)       # -> pool index
        self.lv_row = np.zeros((cap, 5), np.int64)          # (book, price, qty, next, prev)

    def _flows(self, cap):
        self.f_hash = np.full(2 * cap, -1, np.int64)        # -> flow index
        self.f_row = np.zeros((cap, 7), np.int64)           # (book, price, add, pull, fill, pull_rest, hash slot)

    def _grow(self) -> None:
        c = self.ctl
        if c[_GROW] & 1:
            k, u, r = self.o_key, self.o_used, self.o_row
            self._orders(2 * len(k))
            _rehash_orders(k, u, r, self.o_key, self.o_used, self.o_row)
        if c[_GROW] & 2:
            old = self.bk_row
            self._books(2 * len(old))
            self.bk_row[: len(old)] = old
            _rehash_rows(self.bk_hash, self.bk_row, c[_NB], 0)
        if c[_GROW] & 4:
            old = self.lv_row
            self._levels(2 * len(old))
            self.lv_row[: len(old)] = old
            _rehash_levels(self.lv_hash, self.lv_row, c[_LTOP])
        if c[_GROW] & 8:
            old = self.f_row
            self._flows(2 * len(old))
            self.f_row[: len(old)] = old
            _rehash_flows(self.f_hash, self.f_row, c[_NF])
        c[_GROW] = 0

    def _run(self, ts, inst, action, side, price, size, oid, flags, start, end_ts) -> int:
        i = int(start)
        while True:
            i = int(_apply(ts, inst, action, side, price, size, oid, flags, i, end_ts, self.rest_ns,
                           self.o_key, self.o_used, self.o_row, self.bk_hash, self.bk_row, self.lv_hash, self.lv_row,
                           self.f_hash, self.f_row, self.ctl, self.stats))
            if not self.ctl[_GROW]:
                return i
            self._grow()

    def apply(self, recs: np.ndarray, start: int, end_ts: int) -> int:
        """Apply records from ``start`` while ts_recv < end_ts; return the index reached."""
        c = columns(recs)
        return self._run(c["ts"], c["inst"], c["action"], c["side"], c["price"], c["size"], c["order_id"],
                         c["flags"], start, end_ts)

    def apply_arrays(self, cols: dict, start: int, end_ts: int) -> int:
        """As ``apply`` on pre-converted columns (see ``columns``), avoiding per-window copies."""
        return self._run(cols["ts"], cols["inst"], cols["action"], cols["side"], cols["price"], cols["size"],
                         cols["order_id"], cols["flags"], start, end_ts)

    def flush(self) -> dict[str, np.ndarray]:
        """The window's flows (and depth at its end), in the order they first moved, then reset them."""
        n = int(self.ctl[_NF])
        out = {k: np.empty(n, dtype=np.int64) for k in
               ("instrument_id", "side", "price_int", "add_qty", "pull_qty", "fill_qty", "pull_rest_qty", "depth_total")}
        _flush(self.f_hash, self.f_row, self.bk_row, self.lv_hash, self.lv_row, self.ctl, out["instrument_id"],
               out["side"], out["price_int"], out["add_qty"], out["pull_qty"], out["fill_qty"], out["pull_rest_qty"],
               out["depth_total"])
        return out

    def clear_flows(self) -> None:
        _clear_flows(self.f_hash, self.f_row, self.ctl)

    def top(self, instrument_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Best bid, best ask (price ints, 0 where the side is empty) and total resting quantity."""
        ids = np.ascontiguousarray(instrument_ids, dtype=np.int64)
        bid = np.zeros(ids.size, np.int64)
        ask = np.zeros(ids.size, np.int64)
        depth = np.zeros(ids.size, np.int64)
        _top(ids, self.bk_hash, self.bk_row, self.lv_row, bid, ask, depth)
        return bid, ask, depth

    @property
    def orders(self) -> dict[int, tuple[int, int, int, int, int]]:
        """Resting orders, order id -> (book, price, size, ts_added, pending_fill): for inspection."""
        used = np.flatnonzero(self.o_used)
        return {int(k): tuple(int(x) for x in r) for k, r in zip(self.o_key[used], self.o_row[used])}

    def stats_dict(self) -> dict[str, int]:
        return {k: int(v) for k, v in zip(STAT_NAMES, self.stats)}


def columns(recs: np.ndarray) -> dict[str, np.ndarray]:
    """MBO structured records -> the contiguous typed columns the kernel reads."""
    return {"ts": np.ascontiguousarray(recs["ts_recv"]).view(np.int64),
            "inst": recs["instrument_id"].astype(np.int64), "action": np.ascontiguousarray(recs["action"]).view(np.uint8),
            "side": np.ascontiguousarray(recs["side"]).view(np.uint8), "price": np.ascontiguousarray(recs["price"]),
            "size": recs["size"].astype(np.int64), "order_id": np.ascontiguousarray(recs["order_id"]).view(np.int64),
            "flags": np.ascontiguousarray(recs["flags"])}


# ctl slots: order count, book count, live levels, level pool top, free level list, flow count, grow request
_NO, _NB, _NL, _LTOP, _LFREE, _NF, _GROW = range(7)
_NCTL = 7
_MIX = np.uint64(0x9E3779B97F4A7C15)


@numba.njit(inline="always")
def _h1(key, mask):
    x = np.uint64(key) * _MIX
    return np.int64((x ^ (x >> np.uint64(29))) & np.uint64(mask))


@numba.njit(inline="always")
def _h2(b, price, mask):
    x = (np.uint64(price) ^ (np.uint64(b) * np.uint64(0xC2B2AE3D27D4EB4F))) * _MIX
    return np.int64((x ^ (x >> np.uint64(29))) & np.uint64(mask))


# ---- orders: key -> slot, the row lives in the slot ----------------------------------
@numba.njit(inline="always")
def _o_find(o_key, o_used, oid):
    mask = o_key.size - 1
    j = _h1(oid, mask)
    while o_used[j]:
        if o_key[j] == oid:
            return j
        j = (j + 1) & mask
    return np.int64(-1)


@numba.njit(inline="always")
def _o_put(o_key, o_used, o_row, ctl, oid, b, price, size, ts_added, pending):
    mask = o_key.size - 1
    j = _h1(oid, mask)
    while o_used[j] and o_key[j] != oid:
        j = (j + 1) & mask
    if not o_used[j]:
        o_used[j] = 1
        o_key[j] = oid
        ctl[_NO] += 1
    o_row[j, 0] = b
    o_row[j, 1] = price
    o_row[j, 2] = size
    o_row[j, 3] = ts_added
    o_row[j, 4] = pending


@numba.njit(inline="always")
def _o_del(o_key, o_used, o_row, ctl, j):
    """Remove slot j and shift back the entries of its probe run (no tombstones)."""
    mask = o_key.size - 1
    o_used[j] = 0
    ctl[_NO] -= 1
    k = (j + 1) & mask
    while o_used[k]:
        home = _h1(o_key[k], mask)
        if (k - home) & mask >= (k - j) & mask:        # the entry at k may move back into the hole at j
            o_key[j] = o_key[k]
            o_used[j] = 1
            for c in range(5):
                o_row[j, c] = o_row[k, c]
            o_used[k] = 0
            j = k
        k = (k + 1) & mask


# ---- books: key -> dense index --------------------------------------------------------
@numba.njit(inline="always")
def _find_book(bk_hash, bk_row, key):
    mask = bk_hash.size - 1
    j = _h1(key, mask)
    while bk_hash[j] >= 0:
        if bk_row[bk_hash[j], 0] == key:
            return bk_hash[j]
        j = (j + 1) & mask
    return np.int64(-1)


@numba.njit(inline="always")
def _book(inst, side_bit, bk_hash, bk_row, ctl):
    key = inst * 2 + side_bit
    mask = bk_hash.size - 1
    j = _h1(key, mask)
    while bk_hash[j] >= 0:
        if bk_row[bk_hash[j], 0] == key:
            return bk_hash[j]
        j = (j + 1) & mask
    b = ctl[_NB]
    ctl[_NB] += 1
    bk_hash[j] = b
    bk_row[b, 0] = key
    bk_row[b, 1] = -1
    bk_row[b, 2] = -1
    return b


# ---- levels: (book, price) -> pool entry, linked per book in insertion order ----------
@numba.njit(inline="always")
def _lv_slot(lv_hash, lv_row, b, price):
    """The hash slot holding (b, price), or the empty slot where it would go."""
    mask = lv_hash.size - 1
    j = _h2(b, price, mask)
    while lv_hash[j] >= 0:
        e = lv_hash[j]
        if lv_row[e, 0] == b and lv_row[e, 1] == price:
            return j
        j = (j + 1) & mask
    return j


@numba.njit(inline="always")
def _lv_unhash(lv_hash, lv_row, j):
    mask = lv_hash.size - 1
    lv_hash[j] = -1
    k = (j + 1) & mask
    while lv_hash[k] >= 0:
        e = lv_hash[k]
        home = _h2(lv_row[e, 0], lv_row[e, 1], mask)
        if (k - home) & mask >= (k - j) & mask:
            lv_hash[j] = e
            lv_hash[k] = -1
            j = k
        k = (k + 1) & mask


@numba.njit(inline="always")
def _lv_free(bk_row, lv_row, ctl, e):
    """Unlink pool entry e from its book's list and put it on the free list."""
    b, nxt, prv = lv_row[e, 0], lv_row[e, 3], lv_row[e, 4]
    if prv >= 0:
        lv_row[prv, 3] = nxt
    else:
        bk_row[b, 1] = nxt
    if nxt >= 0:
        lv_row[nxt, 4] = prv
    else:
        bk_row[b, 2] = prv
    lv_row[e, 0] = -1
    lv_row[e, 3] = ctl[_LFREE]
    ctl[_LFREE] = e
    ctl[_NL] -= 1


@numba.njit(inline="always")
def _level_add(bk_row, lv_hash, lv_row, ctl, b, price, q):
    j = _lv_slot(lv_hash, lv_row, b, price)
    e = lv_hash[j]
    v = q
    if e >= 0:
        v += lv_row[e, 2]
    if v <= 0:
        if e >= 0:
            _lv_unhash(lv_hash, lv_row, j)
            _lv_free(bk_row, lv_row, ctl, e)
    elif e >= 0:
        lv_row[e, 2] = v
    else:
        e = ctl[_LFREE]
        if e >= 0:
            ctl[_LFREE] = lv_row[e, 3]
        else:
            e = ctl[_LTOP]
            ctl[_LTOP] += 1
        ctl[_NL] += 1
        lv_hash[j] = e
        last = bk_row[b, 2]
        lv_row[e, 0] = b
        lv_row[e, 1] = price
        lv_row[e, 2] = v
        lv_row[e, 3] = -1
        lv_row[e, 4] = last
        if last >= 0:
            lv_row[last, 3] = e
        else:
            bk_row[b, 1] = e
        bk_row[b, 2] = e


@numba.njit(inline="always")
def _level_qty(lv_hash, lv_row, b, price):
    e = lv_hash[_lv_slot(lv_hash, lv_row, b, price)]
    return lv_row[e, 2] if e >= 0 else np.int64(0)


# ---- flows: (book, price) -> dense index, in first-touch order ------------------------
@numba.njit(inline="always")
def _flow(f_hash, f_row, ctl, b, price, add, pull, fill, pull_rest):
    mask = f_hash.size - 1
    j = _h2(b, price, mask)
    while f_hash[j] >= 0:
        e = f_hash[j]
        if f_row[e, 0] == b and f_row[e, 1] == price:
            f_row[e, 2] += add
            f_row[e, 3] += pull
            f_row[e, 4] += fill
            f_row[e, 5] += pull_rest
            return
        j = (j + 1) & mask
    e = ctl[_NF]
    ctl[_NF] += 1
    f_hash[j] = e
    f_row[e, 0] = b
    f_row[e, 1] = price
    f_row[e, 2] = add
    f_row[e, 3] = pull
    f_row[e, 4] = fill
    f_row[e, 5] = pull_rest
    f_row[e, 6] = j


@numba.njit(inline="always")
def _reduce(o_row, j, q, ts, rest_ns, bk_row, lv_hash, lv_row, f_hash, f_row, ctl, snap):
    """Remove q from the order in slot j: the pending-fill part is a fill's book update, the rest a
    pull. Updates the slot's size and pending fill; returns the size left."""
    b, price, size, ts_added, pending = o_row[j, 0], o_row[j, 1], o_row[j, 2], o_row[j, 3], o_row[j, 4]
    if q > size:
        q = size
    _level_add(bk_row, lv_hash, lv_row, ctl, b, price, -q)
    from_fill = q if q < pending else pending
    pull = q - from_fill
    if not snap and pull > 0:
        rest = pull if ts - ts_added >= rest_ns else 0
        _flow(f_hash, f_row, ctl, b, price, 0, pull, 0, rest)
    o_row[j, 2] = size - q
    o_row[j, 4] = pending - from_fill
    return size - q


@numba.njit(cache=True, _nrt=False)   # allocates nothing: no refcounts
def _apply(ts_a, inst_a, act_a, side_a, price_a, size_a, oid_a, flags_a, start, end_ts, rest_ns,
           o_key, o_used, o_row, bk_hash, bk_row, lv_hash, lv_row, f_hash, f_row, ctl, stats):
    i = start
    n = ts_a.size
    o_lim = o_key.size // 2
    b_lim = bk_row.shape[0] - 1
    l_lim = lv_row.shape[0] - 2
    f_lim = f_row.shape[0] - 2
    while i < n:
        ts = ts_a[i]
        if ts >= end_ts:
            break
        grow = 0                                  # room for what one record can add, else stop here
        if ctl[_NO] + 1 > o_lim:
            grow |= 1
        if ctl[_NB] + 1 > b_lim:
            grow |= 2
        if ctl[_LTOP] + 2 > l_lim:
            grow |= 4
        if ctl[_NF] + 2 > f_lim:
            grow |= 8
        if grow:
            ctl[_GROW] = grow
            return i
        act = act_a[i]
        inst = inst_a[i]
        snap = (flags_a[i] & F_SNAPSHOT) != 0
        stats[0] += 1
        if snap:
            stats[3] += 1
        t_new = _LONG_AGO if snap else ts
        if act == ADD:
            sd = side_a[i]
            if sd != BID and sd != ASK:
                stats[2] += 1
            else:
                b = _book(inst, 1 if sd == BID else 0, bk_hash, bk_row, ctl)
                oid = oid_a[i]
                j = _o_find(o_key, o_used, oid)
                if j >= 0:                        # a re-used id: drop what was resting first
                    _level_add(bk_row, lv_hash, lv_row, ctl, o_row[j, 0], o_row[j, 1], -o_row[j, 2])
                q = size_a[i]
                _level_add(bk_row, lv_hash, lv_row, ctl, b, price_a[i], q)
                _o_put(o_key, o_used, o_row, ctl, oid, b, price_a[i], q, t_new, 0)
                if not snap:
                    _flow(f_hash, f_row, ctl, b, price_a[i], q, 0, 0, 0)
        elif act == CANCEL:
            oid = oid_a[i]
            j = _o_find(o_key, o_used, oid)
            if j < 0:
                stats[1] += 1
            else:
                left = _reduce(o_row, j, size_a[i], ts, rest_ns, bk_row, lv_hash, lv_row, f_hash, f_row, ctl, snap)
                if left <= 0:
                    _o_del(o_key, o_used, o_row, ctl, j)
        elif act == MODIFY:
            oid = oid_a[i]
            j = _o_find(o_key, o_used, oid)
            sd = side_a[i]
            if j < 0:
                stats[1] += 1
                if sd == BID or sd == ASK:      # treat as an add (e.g. after a gap)
                    b = _book(inst, 1 if sd == BID else 0, bk_hash, bk_row, ctl)
                    _level_add(bk_row, lv_hash, lv_row, ctl, b, price_a[i], size_a[i])
                    _o_put(o_key, o_used, o_row, ctl, oid, b, price_a[i], size_a[i], t_new, 0)
                    if not snap:
                        _flow(f_hash, f_row, ctl, b, price_a[i], size_a[i], 0, 0, 0)
            else:
                b = o_row[j, 0]
                oldp = o_row[j, 1]
                olds = o_row[j, 2]
                newp = price_a[i]
                newq = size_a[i]
                if newp != oldp:
                    _reduce(o_row, j, olds, ts, rest_ns, bk_row, lv_hash, lv_row, f_hash, f_row, ctl, snap)
                    _level_add(bk_row, lv_hash, lv_row, ctl, b, newp, newq)
                    if not snap:
                        _flow(f_hash, f_row, ctl, b, newp, newq, 0, 0, 0)
                    o_row[j, 1] = newp
                    o_row[j, 2] = newq
                    o_row[j, 3] = t_new
                    o_row[j, 4] = 0
                elif newq > olds:
                    _level_add(bk_row, lv_hash, lv_row, ctl, b, newp, newq - olds)
                    if not snap:
                        _flow(f_hash, f_row, ctl, b, newp, newq - olds, 0, 0, 0)
                    o_row[j, 2] = newq
                    o_row[j, 3] = t_new
                elif newq < olds:
                    _reduce(o_row, j, olds - newq, ts, rest_ns, bk_row, lv_hash, lv_row, f_hash, f_row, ctl, snap)
                if newq <= 0:
                    _o_del(o_key, o_used, o_row, ctl, j)
        elif act == FILL:
            oid = oid_a[i]
            j = _o_find(o_key, o_used, oid)
            if j >= 0:
                o_row[j, 4] += size_a[i]
                if not snap:
                    _flow(f_hash, f_row, ctl, o_row[j, 0], o_row[j, 1], 0, 0, size_a[i], 0)
            else:
                stats[1] += 1
                sd = side_a[i]
                if (sd == BID or sd == ASK) and not snap:
                    b = _book(inst, 1 if sd == BID else 0, bk_hash, bk_row, ctl)
                    _flow(f_hash, f_row, ctl, b, price_a[i], 0, 0, size_a[i], 0)
        elif act == CLEAR:
            nonempty = False
            for sb in range(2):
                bb = _find_book(bk_hash, bk_row, inst * 2 + sb)
                if bb >= 0 and bk_row[bb, 1] >= 0:
                    nonempty = True
                    e = bk_row[bb, 1]
                    while e >= 0:
                        nxt = lv_row[e, 3]
                        _lv_unhash(lv_hash, lv_row, _lv_slot(lv_hash, lv_row, bb, lv_row[e, 1]))
                        _lv_free(bk_row, lv_row, ctl, e)
                        e = nxt
            if nonempty:
                b0 = _find_book(bk_hash, bk_row, inst * 2)
                b1 = _find_book(bk_hash, bk_row, inst * 2 + 1)
                gone = 1
                while gone:                       # a deletion shifts entries back, past the scan when
                    gone = 0                      # a probe run wraps around: scan until nothing is left
                    for j in range(o_key.size):
                        while o_used[j] and (o_row[j, 0] == b0 or o_row[j, 0] == b1):
                            _o_del(o_key, o_used, o_row, ctl, j)
                            gone += 1
        i += 1
    ctl[_GROW] = 0
    return i


@numba.njit(cache=True, _nrt=False)   # allocates nothing: no refcounts
def _flush(f_hash, f_row, bk_row, lv_hash, lv_row, ctl, inst, side, price, add, pull, fill, pull_rest, depth):
    for e in range(ctl[_NF]):
        b = f_row[e, 0]
        key = bk_row[b, 0]
        inst[e] = key // 2
        side[e] = BID if key % 2 == 1 else ASK
        price[e] = f_row[e, 1]
        add[e] = f_row[e, 2]
        pull[e] = f_row[e, 3]
        fill[e] = f_row[e, 4]
        pull_rest[e] = f_row[e, 5]
        depth[e] = _level_qty(lv_hash, lv_row, b, f_row[e, 1])
    _clear_flows(f_hash, f_row, ctl)


@numba.njit(cache=True, _nrt=False)   # allocates nothing: no refcounts
def _clear_flows(f_hash, f_row, ctl):
    for e in range(ctl[_NF]):
        f_hash[f_row[e, 6]] = -1
    ctl[_NF] = 0


@numba.njit(cache=True, _nrt=False)   # allocates nothing: no refcounts
def _top(ids, bk_hash, bk_row, lv_row, bid, ask, depth):
    for j in range(ids.size):
        bb = _find_book(bk_hash, bk_row, ids[j] * 2 + 1)
        tot = 0
        if bb >= 0:
            best = 0
            e = bk_row[bb, 1]
            while e >= 0:
                p, q = lv_row[e, 1], lv_row[e, 2]
                tot += q
                if q > 0 and (best == 0 or p > best):
                    best = p
                e = lv_row[e, 3]
            bid[j] = best
        ba = _find_book(bk_hash, bk_row, ids[j] * 2)
        if ba >= 0:
            best = 0
            e = bk_row[ba, 1]
            while e >= 0:
                p, q = lv_row[e, 1], lv_row[e, 2]
                tot += q
                if q > 0 and (best == 0 or p < best):
                    best = p
                e = lv_row[e, 3]
            ask[j] = best
        depth[j] = tot


@numba.njit(cache=True)
def _rehash_orders(k, u, r, o_key, o_used, o_row):
    mask = o_key.size - 1
    for s in range(k.size):
        if u[s]:
            j = _h1(k[s], mask)
            while o_used[j]:
                j = (j + 1) & mask
            o_used[j] = 1
            o_key[j] = k[s]
            for c in range(5):
                o_row[j, c] = r[s, c]


@numba.njit(cache=True)
def _rehash_rows(bk_hash, bk_row, n, col):
    mask = bk_hash.size - 1
    for e in range(n):
        j = _h1(bk_row[e, col], mask)
        while bk_hash[j] >= 0:
            j = (j + 1) & mask
        bk_hash[j] = e


@numba.njit(cache=True)
def _rehash_levels(lv_hash, lv_row, top):
    """Re-insert the live pool entries (a freed entry's book is -1)."""
    mask = lv_hash.size - 1
    for e in range(top):
        if lv_row[e, 0] >= 0:
            j = _h2(lv_row[e, 0], lv_row[e, 1], mask)
            while lv_hash[j] >= 0:
                j = (j + 1) & mask
            lv_hash[j] = e


@numba.njit(cache=True)
def _rehash_flows(f_hash, f_row, n):
    mask = f_hash.size - 1
    for e in range(n):
        j = _h2(f_row[e, 0], f_row[e, 1], mask)
        while f_hash[j] >= 0:
            j = (j + 1) & mask
        f_hash[j] = e
        f_row[e, 6] = j


def _warm(books: OrderBooks) -> None:
    """Compile once on an empty batch so the first real window is not slowed down."""
    z = np.zeros(0, np.int64)
    books.apply_arrays({"ts": z, "inst": z, "action": np.zeros(0, np.uint8), "side": np.zeros(0, np.uint8),
                        "price": z, "size": z, "order_id": z, "flags": np.zeros(0, np.uint8)}, 0, 0)
