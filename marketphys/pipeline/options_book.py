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
from numba import types
from numba.typed import Dict, List

from marketphys.dbn import ADD, ASK, BID, CANCEL, CLEAR, F_SNAPSHOT, FILL, MODIFY

_LONG_AGO = -(1 << 62)   # ts_added of snapshot orders: rested "forever"

STAT_NAMES = ("events", "unknown_order", "no_side", "snapshot")

_level_t = types.DictType(types.int64, types.int64)
_key2 = types.UniTuple(types.int64, 2)
_order_t = types.UniTuple(types.int64, 5)     # (book, price, size, ts_added, pending_fill)
_flow_t = types.UniTuple(types.int64, 4)      # (add, pull, fill, pull_rest)


class OrderBooks:
    """Every instrument's book (two sides) keyed by order id; state lives in typed containers."""

    def __init__(self, rest_ns: int = 500_000_000):
        if rest_ns < 0:
            raise ValueError(f"rest_ns must be >= 0, got {rest_ns}")
        self.rest_ns = int(rest_ns)
        self.orders = Dict.empty(types.int64, _order_t)
        self.book_index = Dict.empty(types.int64, types.int64)   # inst*2 + (1 bid / 0 ask) -> book
        self.book_keys = List.empty_list(types.int64)
        self.levels = List.empty_list(_level_t)
        self.flows = Dict.empty(_key2, _flow_t)
        self.stats = np.zeros(len(STAT_NAMES), dtype=np.int64)
        _warm(self)

    def apply(self, recs: np.ndarray, start: int, end_ts: int) -> int:
        """Apply records from ``start`` while ts_recv < end_ts; return the index reached."""
        return int(_apply(recs["ts_recv"].view(np.int64), recs["instrument_id"].astype(np.int64),
                          recs["action"].view(np.uint8), recs["side"].view(np.uint8), recs["price"],
                          recs["size"].astype(np.int64), recs["order_id"].view(np.int64),
                          recs["flags"], start, end_ts, self.rest_ns, self.orders, self.book_index,
                          self.book_keys, self.levels, self.flows, self.stats))

    def apply_arrays(self, cols: dict, start: int, end_ts: int) -> int:
        """As ``apply`` on pre-converted columns (see ``columns``), avoiding per-window copies."""
        return int(_apply(cols["ts"], cols["inst"], cols["action"], cols["side"], cols["price"], cols["size"],
                          cols["order_id"], cols["flags"], start, end_ts, self.rest_ns, self.orders,
                          self.book_index, self.book_keys, self.levels, self.flows, self.stats))

    def flush(self) -> dict[str, np.ndarray]:
        """The window's flows (and depth at its end), then reset them for the next window."""
        n = len(self.flows)
        out = {k: np.empty(n, dtype=np.int64) for k in
               ("instrument_id", "side", "price_int", "add_qty", "pull_qty", "fill_qty", "pull_rest_qty", "depth_total")}
        _flush(self.flows, self.book_keys, self.levels, out["instrument_id"], out["side"], out["price_int"],
               out["add_qty"], out["pull_qty"], out["fill_qty"], out["pull_rest_qty"], out["depth_total"])
        return out

    def clear_flows(self) -> None:
        _clear_flows(self.flows)     # in compiled code: a typed-dict clear from Python pops item by item

    def top(self, instrument_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Best bid, best ask (price ints, 0 where the side is empty) and total resting quantity."""
        ids = np.ascontiguousarray(instrument_ids, dtype=np.int64)
        bid = np.zeros(ids.size, np.int64)
        ask = np.zeros(ids.size, np.int64)
        depth = np.zeros(ids.size, np.int64)
        _top(ids, self.book_index, self.levels, bid, ask, depth)
        return bid, ask, depth

    def stats_dict(self) -> dict[str, int]:
        return {k: int(v) for k, v in zip(STAT_NAMES, self.stats)}


def columns(recs: np.ndarray) -> dict[str, np.ndarray]:
    """MBO structured records -> the contiguous typed columns the kernel reads."""
    return {"ts": np.ascontiguousarray(recs["ts_recv"]).view(np.int64),
            "inst": recs["instrument_id"].astype(np.int64), "action": np.ascontiguousarray(recs["action"]).view(np.uint8),
            "side": np.ascontiguousarray(recs["side"]).view(np.uint8), "price": np.ascontiguousarray(recs["price"]),
            "size": recs["size"].astype(np.int64), "order_id": np.ascontiguousarray(recs["order_id"]).view(np.int64),
            "flags": np.ascontiguousarray(recs["flags"])}


@numba.njit(cache=True)
def _find_book(book_index, key):
    if key in book_index:
        return book_index[key]
    return np.int64(-1)


@numba.njit(cache=True)
def _book(inst, side_bit, book_index, book_keys, levels):
    key = inst * 2 + side_bit
    b = _find_book(book_index, key)
    if b < 0:
        b = np.int64(len(book_keys))
        book_index[key] = b
        book_keys.append(key)
        levels.append(Dict.empty(types.int64, types.int64))
    return b


@numba.njit(cache=True)
def _level_add(levels, b, price, q):
    lv = levels[b]
    v = q
    if price in lv:
        v += lv[price]
    if v <= 0:
        if price in lv:
            del lv[price]
    else:
        lv[price] = v


@numba.njit(cache=True)
def _flow(flows, b, price, add, pull, fill, pull_rest):
    k = (b, price)
    if k in flows:
        f = flows[k]
        flows[k] = (f[0] + add, f[1] + pull, f[2] + fill, f[3] + pull_rest)
    else:
        flows[k] = (add, pull, fill, pull_rest)


@numba.njit(cache=True)
def _get_order(orders, oid):
    if oid in orders:
        return orders[oid]
    m1 = np.int64(-1)
    z = np.int64(0)
    return (m1, z, z, z, z)


@numba.njit(cache=True)
def _reduce(o, q, ts, rest_ns, levels, flows, snap):
    """Remove q from order o: the pending-fill part is a fill's book update, the rest a pull."""
    b, price, size, ts_added, pending = o
    if q > size:
        q = size
    _level_add(levels, b, price, -q)
    from_fill = q if q < pending else pending
    pull = q - from_fill
    if not snap and pull > 0:
        rest = pull if ts - ts_added >= rest_ns else 0
        _flow(flows, b, price, 0, pull, 0, rest)
    return (b, price, size - q, ts_added, pending - from_fill)


@numba.njit(cache=True)
def _apply(ts_a, inst_a, act_a, side_a, price_a, size_a, oid_a, flags_a, start, end_ts, rest_ns,
           orders, book_index, book_keys, levels, flows, stats):
    i = start
    n = ts_a.size
    while i < n:
        ts = ts_a[i]
        if ts >= end_ts:
            break
        act = act_a[i]
        inst = inst_a[i]
        snap = (flags_a[i] & F_SNAPSHOT) != 0
        stats[0] += 1
        if snap:
            stats[3] += 1
        if act == ADD:
            sd = side_a[i]
            if sd != BID and sd != ASK:
                stats[2] += 1
            else:
                b = _book(inst, 1 if sd == BID else 0, book_index, book_keys, levels)
                oid = oid_a[i]
                old = _get_order(orders, oid)
                if old[0] >= 0:          # a re-used id: drop what was resting first
                    _level_add(levels, old[0], old[1], -old[2])
                q = size_a[i]
                _level_add(levels, b, price_a[i], q)
                orders[oid] = (b, price_a[i], q, _LONG_AGO if snap else ts, 0)
                if not snap:
                    _flow(flows, b, price_a[i], q, 0, 0, 0)
        elif act == CANCEL:
            oid = oid_a[i]
            o = _get_order(orders, oid)
            if o[0] < 0:
                stats[1] += 1
            else:
                o2 = _reduce(o, size_a[i], ts, rest_ns, levels, flows, snap)
                if o2[2] <= 0:
                    del orders[oid]
                else:
                    orders[oid] = o2
        elif act == MODIFY:
            oid = oid_a[i]
            o = _get_order(orders, oid)
            sd = side_a[i]
            if o[0] < 0:
                stats[1] += 1
                if sd == BID or sd == ASK:   # treat as an add (e.g. after a gap)
                    b = _book(inst, 1 if sd == BID else 0, book_index, book_keys, levels)
                    _level_add(levels, b, price_a[i], size_a[i])
                    orders[oid] = (b, price_a[i], size_a[i], _LONG_AGO if snap else ts, 0)
                    if not snap:
                        _flow(flows, b, price_a[i], size_a[i], 0, 0, 0)
            else:
                b = o[0]
                newp = price_a[i]
                newq = size_a[i]
                if newp != o[1]:
                    o2 = _reduce(o, o[2], ts, rest_ns, levels, flows, snap)
                    _level_add(levels, b, newp, newq)
                    if not snap:
                        _flow(flows, b, newp, newq, 0, 0, 0)
                    orders[oid] = (b, newp, newq, _LONG_AGO if snap else ts, 0)
                elif newq > o[2]:
                    _level_add(levels, b, newp, newq - o[2])
                    if not snap:
                        _flow(flows, b, newp, newq - o[2], 0, 0, 0)
                    orders[oid] = (b, newp, newq, _LONG_AGO if snap else ts, o[4])
                elif newq < o[2]:
                    o2 = _reduce(o, o[2] - newq, ts, rest_ns, levels, flows, snap)
                    orders[oid] = o2
                if newq <= 0 and oid in orders:
                    del orders[oid]
        elif act == FILL:
            oid = oid_a[i]
            o = _get_order(orders, oid)
            if o[0] >= 0:
                orders[oid] = (o[0], o[1], o[2], o[3], o[4] + size_a[i])
                if not snap:
                    _flow(flows, o[0], o[1], 0, 0, size_a[i], 0)
            else:
                stats[1] += 1
                sd = side_a[i]
                if (sd == BID or sd == ASK) and not snap:
                    b = _book(inst, 1 if sd == BID else 0, book_index, book_keys, levels)
                    _flow(flows, b, price_a[i], 0, 0, size_a[i], 0)
        elif act == CLEAR:
            nonempty = False
            for sb in range(2):
                bb = _find_book(book_index, inst * 2 + sb)
                if bb >= 0 and len(levels[bb]) > 0:
                    nonempty = True
                    levels[bb].clear()
            if nonempty:
                b0 = _find_book(book_index, inst * 2)
                b1 = _find_book(book_index, inst * 2 + 1)
                dead = List.empty_list(types.int64)
                for oid, o in orders.items():
                    if o[0] == b0 or o[0] == b1:
                        dead.append(oid)
                for oid in dead:
                    del orders[oid]
        i += 1
    return i


@numba.njit(cache=True)
def _flush(flows, book_keys, levels, inst, side, price, add, pull, fill, pull_rest, depth):
    j = 0
    for k, f in flows.items():
        b = k[0]
        key = book_keys[b]
        inst[j] = key // 2
        side[j] = BID if key % 2 == 1 else ASK
        price[j] = k[1]
        add[j] = f[0]
        pull[j] = f[1]
        fill[j] = f[2]
        pull_rest[j] = f[3]
        lv = levels[b]
        depth[j] = lv[k[1]] if k[1] in lv else 0
        j += 1
    flows.clear()


@numba.njit(cache=True)
def _clear_flows(flows):
    flows.clear()


@numba.njit(cache=True)
def _top(ids, book_index, levels, bid, ask, depth):
    for j in range(ids.size):
        bb = _find_book(book_index, ids[j] * 2 + 1)
        tot = 0
        if bb >= 0:
            best = 0
            for p, q in levels[bb].items():
                tot += q
                if q > 0 and (best == 0 or p > best):
                    best = p
            bid[j] = best
        ba = _find_book(book_index, ids[j] * 2)
        if ba >= 0:
            best = 0
            for p, q in levels[ba].items():
                tot += q
                if q > 0 and (best == 0 or p < best):
                    best = p
            ask[j] = best
        depth[j] = tot


def _warm(books: OrderBooks) -> None:
    """Compile once on an empty batch so the first real window is not slowed down."""
    z = np.zeros(0, np.int64)
    _apply(z, z, np.zeros(0, np.uint8), np.zeros(0, np.uint8), z, z, z, np.zeros(0, np.uint8), 0, 0,
           books.rest_ns, books.orders, books.book_index, books.book_keys, books.levels, books.flows, books.stats)
