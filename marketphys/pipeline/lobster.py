"""LOBSTER message + orderbook files -> MBO records (the bronze schema), so the futures book builds them
(the files themselves: ``lobster_files.py``).

LOBSTER (lobsterdata.com) gives, per ticker-day, a message file (time, type, order id, size,
price, direction) and an orderbook file (the top N levels after every message). The mapping:

* type 1 submission -> ``A``; type 2 partial cancel and type 3 delete -> ``C`` (size removed);
  type 4 visible execution -> ``T`` (aggressor: the other side) + ``F`` + ``C`` on the resting
  order (the CME order the book knows); type 5 hidden execution -> ``T`` only (no resting order
  in the book); type 7 trading halt / quoting / resume -> no record, counted (``halts``), the book
  is left as is (LOBSTER repeats the previous book on those rows).
* The starting book is the first orderbook row minus the first message's effect, sent as a
  snapshot (a clear, then one add per level, ``F_SNAPSHOT``, the last with ``F_LAST``) at the
  first message's time. Its quantity per level has no order ids: it rests as one *anonymous*
  order per level, and messages on order ids never seen take from it.
* The message file holds only messages within the top N levels, so a level that enters the
  top N from deeper shows up in the orderbook row with no message. After every message the
  converter compares its top N with the row and, where they differ, sends *synthetic* records
  (``channel_id == SYNTHETIC_CHANNEL``; adds go to the level's anonymous order) so the rebuilt
  top N equals the row at every message. They are counted (``synthetic_adds``/``synthetic_cancels``).
  Deeper levels are kept as last seen (LOBSTER does not say what happens to them).
* Every message's records end with ``F_LAST`` (one event each), times are seconds after midnight
  in New York, converted to UTC nanoseconds with that date's offset; prices (dollars x 10000)
  become 1e-9 units. Ticker and date come from the file name.
"""

from __future__ import annotations

import bisect
import zlib
from dataclasses import dataclass, field

import numpy as np

from marketphys.dbn import (ASK, BID, F_LAST, F_MAYBE_BAD_BOOK, F_SNAPSHOT, MBO_DTYPE, MBO_WORDS, PRICE_SCALE,
                            RTYPE_MBO, SIDE_NONE)

from .lobster_files import (EVENT_TYPES, EXCHANGE_TZ, NAME_RE, LobsterDay, LobsterError,  # noqa: F401 (re-exported)
                            LobsterPair, is_lobster, pairs_in_zip, read_day, split_inputs, utc_offset_ns)

PRICE_TO_NANO = 100_000         # LOBSTER price (dollars x 10000) -> 1e-9 units
DEFAULT_TICK = 0.01
DUMMY_ASK = 9_999_999_999       # unoccupied levels (LOBSTER readme)
DUMMY_BID = -9_999_999_999
SYNTHETIC_CHANNEL = 1           # channel_id of records the converter adds (not in the message file)
ANON_BIT = 1 << 62              # order ids of the per-level anonymous orders (start book, synthetic adds)


@dataclass
class Conversion:
    """MBO records of one LOBSTER day and how they map back to its messages."""

    records: np.ndarray                # MBO_DTYPE
    msg_end: np.ndarray                # records[:msg_end[k]] is the stream up to and including message k
    counters: dict = field(default_factory=dict)
    halts: list = field(default_factory=list)  # (ts_ns, 'halt' | 'quoting' | 'resume')


def instrument_id_of(ticker: str) -> int:
    """A stable 31-bit instrument id from the ticker (LOBSTER has none)."""
    return zlib.crc32(ticker.encode()) & 0x7FFFFFFF


class _Converter:
    """Per-order and per-level state of the rebuilt book; emits records into Python lists."""

    def __init__(self, levels: int):
        self.N = levels
        self.orders: dict[int, list] = {}                 # oid -> [side, price, size]
        self.at: list[dict] = [{}, {}]                    # side -> price -> {oid: None} (real orders)
        self.anon: list[dict] = [{}, {}]                  # side -> price -> [anon oid, size]
        self.qty: list[dict] = [{}, {}]                   # side -> price -> total size
        self.prices: list[list] = [[], []]                # side -> sorted prices with size > 0
        self.next_anon = 0
        self.halted = False
        self.rec: list[tuple] = []
        self.ts = 0
        self.seq = 0
        self.c = {"messages": 0, "records": 0, "synthetic_adds": 0, "synthetic_cancels": 0,
                  "synthetic_qty_added": 0, "synthetic_qty_removed": 0, "unseen_order_events": 0,
                  "short_events": 0, "reused_ids": 0, "hidden_executions": 0, "halts": 0}

    # -- records
    def emit(self, action: str, side: int, px: int, size: int, oid: int, flags: int = 0, channel: int = 0):
        self.rec.append((self.ts, oid, px * PRICE_TO_NANO, size, flags, channel, ord(action),
                         BID if side == 0 else (ASK if side == 1 else SIDE_NONE), self.seq))

    # -- levels
    def _level(self, side: int, px: int, delta: int):
        q = self.qty[side].get(px, 0) + delta
        lst = self.prices[side]
        if q > 0:
            if px not in self.qty[side] or self.qty[side][px] <= 0:
                bisect.insort(lst, px)
            self.qty[side][px] = q
        else:
            if self.qty[side].get(px, 0) > 0:
                del lst[bisect.bisect_left(lst, px)]
            self.qty[side].pop(px, None)

    def anon_add(self, side: int, px: int, q: int, flags: int = 0, channel: int = 0):
        a = self.anon[side].get(px)
        if a is None:
            oid = ANON_BIT | self.next_anon
            self.next_anon += 1
            self.anon[side][px] = [oid, q]
            self.emit("A", side, px, q, oid, flags, channel)
        else:
            a[1] += q
            self.emit("M", side, px, a[1], a[0], flags, channel)  # same level, larger: only the increase is new
        self._level(side, px, q)

    def anon_take(self, side: int, px: int, q: int, channel: int = 0, fill: bool = False) -> int:
        a = self.anon[side].get(px)
        if a is None or q <= 0:
            return 0
        take = min(q, a[1])
        if fill:
            self.emit("F", side, px, take, a[0], 0, channel)
        self.emit("C", side, px, take, a[0], 0, channel)
        a[1] -= take
        if a[1] <= 0:
            del self.anon[side][px]
        self._level(side, px, -take)
        return take

    def order_take(self, oid: int, q: int, channel: int = 0, fill: bool = False) -> int:
        side, px, size = self.orders[oid]
        take = min(q, size)
        if take <= 0:
            return 0
        if fill:
            self.emit("F", side, px, take, oid, 0, channel)
        self.emit("C", side, px, take, oid, 0, channel)
        self._level(side, px, -take)
        if size - take <= 0:
            del self.orders[oid]
            lvl = self.at[side][px]
            del lvl[oid]
            if not lvl:
                del self.at[side][px]
        else:
            self.orders[oid][2] = size - take
        return take

    # -- the start book
    def start(self, ts: int, levels: list[tuple[int, int, int]]):
        """Snapshot: clear, then one anonymous add per (side, price, size)."""
        self.ts, self.seq = ts, 0
        self.emit("R", -1, 0, 0, 0, F_SNAPSHOT | (F_LAST if not levels else 0))
        for k, (side, px, q) in enumerate(levels):
            self.anon_add(side, px, q, F_SNAPSHOT | (F_LAST if k == len(levels) - 1 else 0))

    # -- one message
    def message(self, ts, seq, typ, oid, size, px, dirn):
        self.ts, self.seq = ts, seq
        side = 0 if dirn == 1 else 1
        self.c["messages"] += 1
        if typ == 1:
            if oid in self.orders:  # re-used id: the old order goes first
                self.c["reused_ids"] += 1
                self.order_take(oid, self.orders[oid][2])
            self.orders[oid] = [side, px, size]
            self.at[side].setdefault(px, {})[oid] = None
            self.emit("A", side, px, size, oid)
            self._level(side, px, size)
        elif typ in (2, 3, 4):
            fill = typ == 4
            if fill:
                self.emit("T", 1 - side, px, size, 0)
            o = self.orders.get(oid)
            if o is not None and o[0] == side and o[1] == px:
                got = self.order_take(oid, o[2] if typ == 3 else size, fill=fill)  # 3: the whole order goes
            else:  # an order of the start book, or one added while its level was deeper than N
                self.c["unseen_order_events"] += 1
                got = self.anon_take(side, px, size, fill=fill)
            if got != size:  # the level held less than the message says: the row fixes it (reconcile)
                self.c["short_events"] += 1
        elif typ == 5:
            self.c["hidden_executions"] += 1
            self.emit("T", 1 - side, px, size, 0)
        elif typ == 7:
            self.c["halts"] += 1
            if px == -1 and not self.halted:  # halt: the book is not to be trusted until trading resumes
                self.halted = True
                self.emit("F", -1, 0, 0, 0, F_MAYBE_BAD_BOOK, SYNTHETIC_CHANNEL)
            elif px == 1 and self.halted:     # resume: the same orders, re-sent as a snapshot after a clear
                self.halted = False
                self.resend()

    def resend(self):
        """A clear and every resting order (same ids, sizes, prices) as a snapshot: ends a bad-book spell."""
        live = [(oid, o[0], o[1], o[2]) for oid, o in self.orders.items()]
        live += [(a[0], side, px, a[1]) for side in (0, 1) for px, a in self.anon[side].items()]
        self.emit("R", -1, 0, 0, 0, F_SNAPSHOT | (F_LAST if not live else 0), SYNTHETIC_CHANNEL)
        for k, (oid, side, px, q) in enumerate(live):
            self.emit("A", side, px, q, oid, F_SNAPSHOT | (F_LAST if k == len(live) - 1 else 0), SYNTHETIC_CHANNEL)

    # -- reconciliation with the orderbook row
    def reconcile(self, row: np.ndarray):
        for side in (0, 1):
            pcol, qcol = (2, 3) if side == 0 else (0, 1)
            rp = row[pcol::4]
            rq = row[qcol::4]
            ok = (rq > 0) & ((rp > DUMMY_BID) if side == 0 else (rp < DUMMY_ASK))
            rp, rq = rp[ok].tolist(), rq[ok].tolist()
            lst = self.prices[side]
            full = len(rp) == self.N
            if side == 0:  # ours: best first
                ours = lst[bisect.bisect_left(lst, rp[-1]):][::-1] if full else lst[::-1]
            else:
                ours = lst[:bisect.bisect_right(lst, rp[-1])] if full else list(lst)
            qty = self.qty[side]
            if ours == rp and all(qty[p] == q for p, q in zip(rp, rq)):
                continue
            want = dict(zip(rp, rq))
            for p in ours:
                have = qty[p]
                diff = want.get(p, 0) - have
                if diff < 0:
                    self._remove(side, p, -diff)
            for p, q in want.items():
                diff = q - qty.get(p, 0)
                if diff > 0:
                    self.c["synthetic_adds"] += 1
                    self.c["synthetic_qty_added"] += diff
                    self.anon_add(side, p, diff, 0, SYNTHETIC_CHANNEL)

    def _remove(self, side: int, px: int, q: int):
        """Synthetic removal of ``q`` at a level: its anonymous order first, then its newest real orders."""
        self.c["synthetic_cancels"] += 1
        self.c["synthetic_qty_removed"] += q
        q -= self.anon_take(side, px, q, SYNTHETIC_CHANNEL)
        while q > 0:
            oid = next(reversed(self.at[side][px]))
            q -= self.order_take(oid, q, SYNTHETIC_CHANNEL)

    def end_message(self, n_before: int):
        if len(self.rec) > n_before:
            r = self.rec[-1]
            self.rec[-1] = r[:4] + (r[4] | F_LAST,) + r[5:]


def start_levels(day: LobsterDay) -> list[tuple[int, int, int]]:
    """The book before the first message: the first orderbook row minus that message's effect."""
    row = day.book[0]
    levels: list[dict] = [{}, {}]
    for side, (pcol, qcol) in ((0, (2, 3)), (1, (0, 1))):
        for p, q in zip(row[pcol::4], row[qcol::4]):
            if q > 0 and DUMMY_BID < p < DUMMY_ASK:
                levels[side][int(p)] = int(q)
    typ, size, px = int(day.type[0]), int(day.size[0]), int(day.price[0])
    side = 0 if day.direction[0] == 1 else 1
    if typ == 1:
        levels[side][px] = levels[side].get(px, 0) - size
    elif typ in (2, 3, 4):
        levels[side][px] = levels[side].get(px, 0) + size
    out = [(0, p, q) for p, q in sorted(levels[0].items(), reverse=True) if q > 0]
    out += [(1, p, q) for p, q in sorted(levels[1].items()) if q > 0]
    return out


def convert(day: LobsterDay, instrument_id: int | None = None) -> Conversion:
    """One LOBSTER day -> MBO records whose rebuilt top N equals the orderbook row after every message."""
    iid = instrument_id_of(day.pair.ticker) if instrument_id is None else int(instrument_id)
    cv = _Converter(day.pair.levels)
    n = len(day)
    msg_end = np.empty(n, np.int64)
    halts = []
    cv.start(int(day.ts_ns[0]), start_levels(day))
    ts, typ, oid, size, px, dirn = (a.tolist() for a in (day.ts_ns, day.type, day.order_id, day.size, day.price,
                                                          day.direction))
    halt_names = {-1: "halt", 0: "quoting", 1: "resume"}
    for k in range(n):
        n0 = len(cv.rec)
        cv.message(ts[k], k + 1, typ[k], oid[k], size[k], px[k], dirn[k])
        if typ[k] == 7:
            halts.append((ts[k], halt_names.get(px[k], f"price {px[k]}")))
        cv.reconcile(day.book[k])
        cv.end_message(n0)
        msg_end[k] = len(cv.rec)
    recs = np.zeros(len(cv.rec), MBO_DTYPE)
    if len(cv.rec):
        cols = list(zip(*cv.rec))
        recs["ts_recv"] = cols[0]
        recs["ts_event"] = cols[0]
        recs["order_id"] = np.array(cols[1], np.uint64)
        recs["price"] = cols[2]
        recs["size"] = cols[3]
        recs["flags"] = cols[4]
        recs["channel_id"] = cols[5]
        recs["action"] = cols[6]
        recs["side"] = cols[7]
        recs["sequence"] = cols[8]
    recs["length"] = MBO_WORDS
    recs["rtype"] = RTYPE_MBO
    recs["instrument_id"] = iid
    cv.c["records"] = len(recs)
    return Conversion(recs, msg_end, dict(cv.c), halts)


def check_tick(day: LobsterDay, tick_int: int) -> None:
    """Every price that rests in the book on the tick grid (else the book would floor it): a clear error.
    Hidden executions (type 5) may print between ticks (midpoint orders): they are trades only."""
    where = f"{day.pair.zip_path}:{day.pair.message}" if day.pair.zip_path else day.pair.message
    px = day.price[np.isin(day.type, (1, 2, 3, 4))] * PRICE_TO_NANO
    off = px % tick_int != 0
    if off.any():
        bad = int(px[off][0]) // PRICE_TO_NANO
        raise LobsterError(f"{where}: field Price = {bad} (${bad / 1e4:.4f}) is not a multiple of the tick size "
                           f"{tick_int / PRICE_SCALE:g}; pass the right --tick-size")
