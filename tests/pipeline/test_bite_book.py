"""The compiled futures book where it matters: the best level empties beside a non-empty next level.

The random-stream oracle test of test_pipeline_book crosses the book in most windows and never
touches snapshot orders, so it seldom sees a valid book lose its best level. Here:
- a hand-written case per side and per way of emptying a level (cancel, fill, modify away),
  with the expected best prices and sizes written out;
- a generator of valid books: a snapshot, then adds that never cross, and cancels, modifies and
  fills aimed at live orders (snapshot orders included) and often at the best level; checked
  against the pure-Python reference book (fixtures_pipeline.oracle_windows) window by window.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from marketphys.pipeline.bronze import F_LAST, F_SNAPSHOT, MBO_DTYPE

from fixtures_pipeline import oracle_windows
from test_pipeline_book import TICK, compare, flatten, run_book

T0 = 1_700_000_000_000_000_000   # a multiple of 500 ms: window ends are T0 + k·500 ms
MS = 1_000_000
MID = 20_000                     # ES 5000.00 in ticks


def records(rows):
    """rows: (ts, action, side, tick or None, size, order_id, flags) -> MBO records of instrument 7."""
    arr = np.zeros(len(rows), MBO_DTYPE)
    for i, (ts, act, side, tick, size, oid, fl) in enumerate(rows):
        arr[i]["ts_recv"], arr[i]["action"], arr[i]["side"] = ts, ord(act), ord(side)
        arr[i]["price"] = np.iinfo(np.int64).max if tick is None else tick * TICK
        arr[i]["size"], arr[i]["order_id"], arr[i]["flags"], arr[i]["instrument_id"] = size, oid, fl, 7
        arr[i]["length"], arr[i]["rtype"] = 14, 0xA0
    return arr


SNAPSHOT = [  # three contiguous levels a side; the last record closes the snapshot
    ("R", "N", None, 0, 0), ("A", "B", MID - 1, 5, 1), ("A", "B", MID - 2, 7, 2), ("A", "B", MID - 3, 2, 3),
    ("A", "A", MID + 1, 4, 4), ("A", "A", MID + 2, 6, 5), ("A", "A", MID + 3, 3, 6),
]


def snapshot_rows(ts):
    n = len(SNAPSHOT)
    return [(ts, a, s, t, q, o, F_SNAPSHOT | (F_LAST if i == n - 1 else 0)) for i, (a, s, t, q, o) in enumerate(SNAPSHOT)]


def bbo(snaps):
    return [(s["best_bid_price_int"] // TICK, int(s["best_bid_qty"]), s["best_ask_price_int"] // TICK,
             int(s["best_ask_qty"])) if s["book_valid"] else None for s in snaps]


def test_best_level_empties_beside_a_non_empty_level_on_both_sides():
    rows = snapshot_rows(T0 + 100 * MS)
    # window 2: the best bid is cancelled away; the best ask is filled away (fill, then its cancel)
    rows += [(T0 + 600 * MS, "C", "B", MID - 1, 5, 1, F_LAST),
             (T0 + 610 * MS, "T", "B", MID + 1, 4, 0, 0), (T0 + 610 * MS, "F", "A", MID + 1, 4, 4, 0),
             (T0 + 610 * MS, "C", "A", MID + 1, 4, 4, F_LAST)]
    # window 3: both new best levels are modified away (each order moves one level out)
    rows += [(T0 + 1100 * MS, "M", "B", MID - 4, 7, 2, F_LAST), (T0 + 1100 * MS, "M", "A", MID + 4, 6, 5, F_LAST)]
    # window 4: a partial cancel leaves the level; a full cancel of the last order at the best empties it
    rows += [(T0 + 1600 * MS, "C", "B", MID - 3, 1, 3, F_LAST), (T0 + 1700 * MS, "C", "A", MID + 3, 3, 6, F_LAST),
             (T0 + 1700 * MS, "C", "B", MID - 3, 1, 3, F_LAST)]
    msgs = records(rows)
    batches, _ = run_book(msgs)
    snaps, walls = flatten(batches)
    assert [s["window_end_ts_ns"] - T0 for s in snaps] == [500 * MS, 1000 * MS, 1500 * MS, 2000 * MS]
    assert bbo(snaps) == [
        (MID - 1, 5, MID + 1, 4),        # the snapshot
        (MID - 2, 7, MID + 2, 6),        # cancelled / filled away: the very next level is the best
        (MID - 3, 2, MID + 3, 3),        # modified away: again the next level, not the moved order
        (MID - 4, 7, MID + 4, 6),        # the moved orders are now the best on both sides
    ]
    (fill_row,) = [r for r in walls if r["win"] == 1 and r["side"] == 1 and r["price_int"] == (MID + 1) * TICK]
    assert (fill_row["fill_qty"], fill_row["pull_qty_total"], fill_row["depth_qty"]) == (4, 0, 0)
    assert snaps[1]["volume"] == 4 and snaps[1]["buy_volume"] == 4
    compare(msgs, batches)


def test_emptied_best_with_a_gap_below_searches_down_to_the_next_live_level():
    rows = snapshot_rows(T0 + 100 * MS)
    rows += [(T0 + 600 * MS, "C", "B", MID - 2, 7, 2, F_LAST), (T0 + 600 * MS, "C", "A", MID + 2, 6, 5, F_LAST),
             (T0 + 1100 * MS, "C", "B", MID - 1, 5, 1, F_LAST), (T0 + 1100 * MS, "C", "A", MID + 1, 4, 4, F_LAST)]
    msgs = records(rows)
    batches, _ = run_book(msgs)
    snaps, _ = flatten(batches)
    assert bbo(snaps) == [(MID - 1, 5, MID + 1, 4), (MID - 1, 5, MID + 1, 4), (MID - 3, 2, MID + 3, 3)]
    compare(msgs, batches)


def test_a_side_emptied_completely_makes_the_book_invalid_until_an_order_returns():
    rows = snapshot_rows(T0 + 100 * MS)
    rows += [(T0 + 600 * MS, "C", "B", MID - k, q, o, F_LAST) for k, q, o in ((1, 5, 1), (2, 7, 2), (3, 2, 3))]
    rows += [(T0 + 1100 * MS, "A", "B", MID - 2, 9, 20, F_LAST)]
    msgs = records(rows)
    batches, _ = run_book(msgs)
    snaps, _ = flatten(batches)
    assert bbo(snaps) == [(MID - 1, 5, MID + 1, 4), None, (MID - 2, 9, MID + 1, 4)]
    compare(msgs, batches)


# -- valid random books ---------------------------------------------------------------------------------

KINDS = ("add", "add", "cancel", "cancel_best", "cancel_best", "partial", "modify", "modify_away", "fill", "fill_best")


class ValidBook:
    """Builds a stream that keeps the book valid: both sides non-empty, never crossed."""

    def __init__(self):
        self.live = {o: [s, t, q] for a, s, t, q, o in SNAPSHOT if a == "A"}
        self.snap_ids = set(self.live)
        self.next_id = 100
        self.rows = snapshot_rows(T0 + 100 * MS)
        self.ts = T0 + 100 * MS
        self.stats = {"adjacent_depletions_B": 0, "adjacent_depletions_A": 0, "snapshot_orders_hit": 0}

    def depth(self, side, tick):
        return sum(q for s, t, q in self.live.values() if s == side and t == tick)

    def best(self, side):
        ticks = [t for s, t, _ in self.live.values() if s == side]
        return (max(ticks) if side == "B" else min(ticks)) if ticks else None

    def n_side(self, side):
        return sum(1 for s, _, _ in self.live.values() if s == side)

    def _note_removal(self, oid, amount):
        side, tick, size = self.live[oid]
        if oid in self.snap_ids:
            self.stats["snapshot_orders_hit"] += 1
        nxt = tick - 1 if side == "B" else tick + 1
        if tick == self.best(side) and self.depth(side, tick) == amount and self.depth(side, nxt) > 0:
            self.stats[f"adjacent_depletions_{side}"] += 1

    def step(self, kind, side_i, a, dt_ms):
        self.ts += dt_ms * MS
        ts, side = self.ts, "BA"[side_i]
        if kind == "add" or not self.live:
            opp = self.best("A" if side == "B" else "B")
            tick = (opp - 1 - a % 4) if side == "B" else (opp + 1 + a % 4)
            oid, self.next_id = self.next_id, self.next_id + 1
            self.live[oid] = [side, tick, 1 + a % 9]
            self.rows.append((ts, "A", side, tick, 1 + a % 9, oid, F_LAST))
            return
        if kind in ("cancel_best", "fill_best"):
            b = self.best(side)
            ids = [o for o, (s, t, _) in self.live.items() if s == side and t == b]
        else:
            ids = list(self.live)
        oid = ids[a % len(ids)]
        side, tick, size = self.live[oid]
        keep_side = self.n_side(side) == 1    # never empty a side: the book stays valid
        if kind in ("cancel", "cancel_best", "fill", "fill_best"):
            amount = size if not keep_side else size - 1
            if amount <= 0:
                return
            self._note_removal(oid, amount)
            if kind.startswith("fill"):   # the trade, the fill of the resting order, then its cancel
                self.rows += [(ts, "T", "A" if side == "B" else "B", tick, amount, 0, 0),
                              (ts, "F", side, tick, amount, oid, 0)]
            self.rows.append((ts, "C", side, tick, amount, oid, F_LAST))
        elif kind == "partial":
            if size < 2:
                return
            amount = 1 + a % (size - 1)
            self._note_removal(oid, amount)
            self.rows.append((ts, "C", side, tick, amount, oid, F_LAST))
            self.live[oid][2] -= amount
            return
        elif kind == "modify":     # same price, size up or down
            new = max(1, size + (a % 5) - 2)
            if new < size:
                self._note_removal(oid, size - new)
            self.live[oid][2] = new
            self.rows.append((ts, "M", side, tick, new, oid, F_LAST))
            return
        else:                      # modify_away: one to three levels further from the opposite side
            new_tick = tick - 1 - a % 3 if side == "B" else tick + 1 + a % 3
            self._note_removal(oid, size)
            self.live[oid][1] = new_tick
            self.rows.append((ts, "M", side, new_tick, size, oid, F_LAST))
            return
        self.live[oid][2] -= amount
        if self.live[oid][2] == 0:
            del self.live[oid]

    def records(self):
        return records(self.rows)


op = st.tuples(st.sampled_from(KINDS), st.integers(0, 1), st.integers(0, 1000), st.sampled_from([0, 5, 40, 120, 300, 700]))


def valid_stream(ops):
    book = ValidBook()
    for o in ops:
        book.step(*o)
        assert book.best("B") < book.best("A")      # the generator's own promise
    return book.records(), book.stats


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(op, min_size=1, max_size=120), st.sampled_from([None, 1, 5]))
def test_valid_random_books_match_the_reference_book(ops, chunk):
    msgs, _ = valid_stream(ops)
    want = oracle_windows(msgs, TICK)
    assert sum(w["valid"] for w in want) == len(want)   # every window of these streams is a valid book
    batches, _ = run_book(msgs, chunk=chunk)
    compare(msgs, batches)


def test_the_valid_generator_reaches_depletion_and_snapshot_orders():
    """Over 150 seeded streams: every window valid, and the interesting events happen by the hundred."""
    rng = np.random.default_rng(2024)
    totals = {"adjacent_depletions_B": 0, "adjacent_depletions_A": 0, "snapshot_orders_hit": 0}
    n_windows = n_valid = 0
    for _ in range(150):
        ops = [(KINDS[rng.integers(len(KINDS))], int(rng.integers(2)), int(rng.integers(1000)),
                int(rng.choice([0, 5, 40, 120, 300, 700]))) for _ in range(int(rng.integers(20, 120)))]
        msgs, stats = valid_stream(ops)
        for k in totals:
            totals[k] += stats[k]
        want = oracle_windows(msgs, TICK)
        n_windows += len(want)
        n_valid += sum(w["valid"] for w in want)
        batches, _ = run_book(msgs)
        compare(msgs, batches)
    assert n_valid / n_windows >= 0.95, (n_valid, n_windows)
    assert totals["adjacent_depletions_B"] >= 150 and totals["adjacent_depletions_A"] >= 150, totals
    assert totals["snapshot_orders_hit"] >= 300, totals
