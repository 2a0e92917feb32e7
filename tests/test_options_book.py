"""The per-order options book: flows, fills vs pulls, rest age, clears, snapshots."""

from __future__ import annotations

import numpy as np

from marketphys.pipeline.options_book import OrderBooks
from options_helpers import P, mbo

MS = 1_000_000


def _rows(flush):
    return {(int(i), chr(s), int(p) // (P // 100)): (a, pu, f, pr, d) for i, s, p, a, pu, f, pr, d in zip(
        flush["instrument_id"], flush["side"], flush["price_int"], flush["add_qty"], flush["pull_qty"],
        flush["fill_qty"], flush["pull_rest_qty"], flush["depth_total"])}


def test_add_cancel_fill_modify_flows_and_depth():
    books = OrderBooks(rest_ns=500 * MS)
    recs = mbo([
        (0, 7, "A", "B", 10.0, 5, 1, 0x20),     # snapshot: depth, not flow, long rested
        (100 * MS, 7, "A", "B", 10.0, 3, 2),
        (200 * MS, 7, "A", "A", 11.0, 4, 3),
        (300 * MS, 7, "C", "B", 10.0, 2, 1),    # pull from a rested (snapshot) order
        (400 * MS, 7, "C", "B", 10.0, 1, 2),    # pull from a young order: not rest
        (500 * MS, 7, "F", "A", 11.0, 1, 3),    # fill...
        (500 * MS, 7, "C", "A", 11.0, 1, 3),    # ...and its book update: not a pull
        (600 * MS, 7, "M", "A", 11.5, 3, 3),    # move: pull 3 at 11.0, add 3 at 11.5
        (700 * MS, 7, "T", "B", 11.5, 9, 0),    # trade: no effect
    ])
    n = books.apply(recs, 0, 1000 * MS)
    assert n == len(recs)
    r = _rows(books.flush())
    assert r[(7, "B", 1000)] == (3, 3, 0, 2, 5)        # add 3, pull 2+1, rest 2, depth 3+2
    assert r[(7, "A", 1100)] == (4, 3, 1, 0, 0)
    assert r[(7, "A", 1150)] == (3, 0, 0, 0, 3)
    bid, ask, depth = books.top(np.array([7, 8]))
    assert bid.tolist() == [10 * P, 0] and ask.tolist() == [int(11.5 * P), 0] and depth.tolist() == [8, 0]
    assert len(books.flush()["add_qty"]) == 0           # flushed flows are reset


def test_window_boundary_and_clear():
    books = OrderBooks(rest_ns=0)
    recs = mbo([(10, 1, "A", "B", 5.0, 2, 1), (20, 1, "A", "A", 6.0, 2, 2), (30, 1, "R", "N", 0.0, 0, 0),
                (40, 1, "A", "B", 4.0, 1, 3)])
    assert books.apply(recs, 0, 25) == 2
    books.flush()
    assert books.apply(recs, 2, 100) == 4
    r = _rows(books.flush())
    assert r == {(1, "B", 400): (1, 0, 0, 0, 1)}        # clear removed depth, is not flow
    bid, ask, depth = books.top(np.array([1]))
    assert (bid[0], ask[0], depth[0]) == (4 * P, 0, 1)
    assert len(books.orders) == 1


def test_unknown_order_is_counted_not_raised():
    books = OrderBooks()
    books.apply(mbo([(1, 1, "C", "B", 5.0, 2, 99)]), 0, 10)
    assert books.stats_dict()["unknown_order"] == 1
