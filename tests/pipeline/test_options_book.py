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


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@st.composite
def _event_tape(draw):
    """Random adds, cancels, modifies and fills (each fill followed by its cancel, as CME/Databento send)."""
    rows, live, ts, oid = [], {}, 0, 0
    for _ in range(draw(st.integers(1, 60))):
        ts += draw(st.integers(0, 400)) * MS
        kind = draw(st.sampled_from("AACMF")) if live else "A"
        if kind == "A":
            oid += 1
            side = draw(st.sampled_from("AB"))
            px = draw(st.integers(1, 6)) / 4
            q = draw(st.integers(1, 9))
            live[oid] = [side, px, q]
            rows.append((ts, 1, "A", side, px, q, oid))
        else:
            o = draw(st.sampled_from(sorted(live)))
            side, px, q = live[o]
            if kind == "C":
                c = draw(st.integers(1, q))
                rows.append((ts, 1, "C", side, px, c, o))
                live[o][2] -= c
            elif kind == "M":
                npx = draw(st.integers(1, 6)) / 4
                nq = draw(st.integers(1, 9))
                rows.append((ts, 1, "M", side, npx, nq, o))
                live[o][1:] = [npx, nq]
            else:
                f = draw(st.integers(1, q))
                rows.append((ts, 1, "F", side, px, f, o))
                rows.append((ts, 1, "C", side, px, f, o))
                live[o][2] -= f
            if live[o][2] == 0:
                del live[o]
    return rows, live


@settings(max_examples=60, deadline=None)
@given(_event_tape(), st.integers(1, 5))
def test_flows_are_consistent_window_to_window(tape, window_tenths):
    """Per level: sum of (add - pull - fill) over all windows == resting depth at the end,
    and the depth a window reports equals what an independent order tracker says."""
    rows, live = tape
    recs = mbo(rows)
    win = window_tenths * 100 * MS
    books = OrderBooks(rest_ns=0)
    net, last_depth = {}, {}
    end, i = win, 0
    while i < len(recs) or end <= int(recs["ts_recv"][-1]):
        i = books.apply(recs, i, end)
        for k, (a, pu, f, _pr, d) in _rows(books.flush()).items():
            net[k] = net.get(k, 0) + a - pu - f
            last_depth[k] = d
        end += win
    expect = {}
    for side, px, q in live.values():
        k = (1, side, int(round(px * 100)))
        expect[k] = expect.get(k, 0) + q
    for k, v in net.items():
        assert v == expect.get(k, 0), (k, v, expect.get(k, 0))
        assert last_depth[k] == expect.get(k, 0)          # depth only changes through flows
    assert books.stats_dict()["unknown_order"] == 0
