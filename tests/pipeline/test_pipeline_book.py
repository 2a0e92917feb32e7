"""The compiled book against the pure-Python oracle (random streams) and on the real ES book."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from marketphys.pipeline import bronze
from marketphys.pipeline.book import FuturesBook
from marketphys.pipeline.bronze import F_BAD_TS_RECV, F_LAST, F_MAYBE_BAD_BOOK, F_SNAPSHOT, MBO_DTYPE

from fixtures_pipeline import oracle_windows

TICK = 250_000_000
BASE_TICK = 20_000  # ES 5000.00
ES_FILE = "glbx/orderbooks_mbo_2024-05-08T00-00-00_2024-05-08T00-00-02.dbn.zst"

op = st.tuples(
    st.integers(0, 400),                      # ms since previous message
    st.sampled_from("AAAACCMMFTRSPQ"),        # S = clear + snapshot + F_LAST, P = snapshot alone (no clear, no
    #                                           F_LAST, as Databento's day files), Q = no clear + F_LAST; R = clear
    st.sampled_from("BA"),
    st.integers(-6, 6),                       # ticks from 5000
    st.integers(0, 6),                        # size
    st.integers(1, 12),                       # order id
    st.sampled_from([F_LAST, F_LAST, 0, F_MAYBE_BAD_BOOK]),
)


def make_stream(ops):
    rows = []
    ts = 1_700_000_000_000_000_000
    for dt_ms, act, side, off, size, oid, fl in ops:
        ts += dt_ms * 1_000_000
        # bids sit below asks most of the time, crossing now and then
        tick = BASE_TICK + off - (3 if side == "B" else -3) * (off % 3 != 0)
        if act in "SPQ":
            if act == "S":
                rows.append((ts, ord("R"), ord("N"), 0, 0, 0, F_SNAPSHOT))
            for k in range(size):
                s = "B" if k % 2 == 0 else "A"
                t = BASE_TICK - 1 - k if s == "B" else BASE_TICK + 1 + k
                rows.append((ts, ord("A"), ord(s), t * TICK, 1 + k, 100 + k, F_SNAPSHOT | F_BAD_TS_RECV))
            rows.append((ts, ord("A"), ord("B"), (BASE_TICK - 2) * TICK, 2, 99,
                         F_SNAPSHOT | (0 if act == "P" else F_LAST)))
            continue
        price = tick * TICK if act != "R" else bronze.UNDEF_PRICE
        rows.append((ts, ord(act), ord(side), price, size, oid, fl))
    arr = np.zeros(len(rows), MBO_DTYPE)
    for i, (t, a, s, p, q, o, f) in enumerate(rows):
        arr[i]["ts_recv"], arr[i]["action"], arr[i]["side"], arr[i]["price"] = t, a, s, p
        arr[i]["size"], arr[i]["order_id"], arr[i]["flags"], arr[i]["instrument_id"] = q, o, f, 7
        arr[i]["length"], arr[i]["rtype"] = 14, 0xA0
    return arr


def run_book(msgs, chunk=None, **kw):
    iid = int(msgs["instrument_id"][0]) if len(msgs) else 7
    book = FuturesBook(iid, TICK, windows_per_batch=3, **kw)  # tiny batches exercise resume paths
    batches = []
    step = chunk or max(len(msgs), 1)
    for i in range(0, len(msgs), step):
        batches += book.feed(msgs[i:i + step])
    batches += book.finish()
    return batches, book


def flatten(batches):
    snaps, walls = [], []
    for b in batches:
        n0 = len(snaps)
        for r in range(b.n_windows):
            snaps.append({k: v[r] for k, v in b.snap.items()})
        for j in range(len(b.wall["win"])):
            walls.append({k: int(v[j]) for k, v in b.wall.items()} | {"win": int(b.wall["win"][j]) + n0})
    return snaps, walls


def compare(msgs, batches, allow_partial=False):
    want = oracle_windows(msgs, TICK, allow_partial=allow_partial)
    snaps, walls = flatten(batches)
    assert [s["window_end_ts_ns"] for s in snaps] == [w["T"] for w in want]
    prev = [{}, {}]
    for w_idx, (s, w) in enumerate(zip(snaps, want)):
        assert bool(s["book_valid"]) == w["valid"], (w_idx, w)
        assert s["volume"] == w["volume"] and s["buy_volume"] == w["buy"] and s["sell_volume"] == w["sell"]
        assert s["unknown_order_events"] == w["unknown"], (w_idx, w)
        if w["valid"]:
            assert s["best_bid_price_int"] == w["bb"] and s["best_ask_price_int"] == w["ba"]
            assert s["best_bid_qty"] == w["qb"] and s["best_ask_qty"] == w["qa"]
            spot = (w["bb"] // TICK + w["ba"] // TICK) // 2 * TICK
            assert s["spot_ref_price_int"] == spot
            exp = {}
            keys = set(w["depth"]) | set(w["flows"]) | set(prev[0]) | set(prev[1])
            for side, px in keys:
                if abs(px - spot) > 400 * TICK:  # the wall surface covers ±400 ticks
                    continue
                d = w["depth"].get((side, px), 0)
                d1 = d - prev[0].get((side, px), 0)
                d1p = prev[0].get((side, px), 0) - prev[1].get((side, px), 0)
                a, p, f = w["flows"].get((side, px), (0, 0, 0))
                row = (w["rest"].get((side, px), 0), d, a, p, f, d1, d1 - d1p)
                if any(row):
                    exp[(side, px)] = row
            got = {("B" if r["side"] == 0 else "A", r["price_int"]):
                   (r["depth_qty_rest"], r["depth_qty"], r["add_qty"], r["pull_qty_total"], r["fill_qty"],
                    r["d1_depth_qty"], r["d2_depth_qty"]) for r in walls if r["win"] == w_idx}
            assert got == exp, w_idx
            for r in walls:
                if r["win"] == w_idx:
                    assert r["price_int"] == spot + r["rel_ticks"] * TICK
        else:
            assert not any(r["win"] == w_idx for r in walls)
        prev = [w["depth"], prev[0]]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(op, min_size=1, max_size=80), st.sampled_from([None, 1, 7]), st.booleans())
def test_book_matches_oracle_on_random_streams(ops, chunk, allow_partial):
    msgs = make_stream(ops)
    batches, _ = run_book(msgs, chunk=chunk, allow_partial=allow_partial)
    compare(msgs, batches, allow_partial)


def test_resting_depth_needs_500ms():
    """An order is resting only once it is at least rest_ns old at the window end."""
    ops = [(0, "A", "B", -3, 5, 1, F_LAST), (0, "A", "A", 3, 4, 2, F_LAST)] + [(250, "T", "B", 0, 0, 9, F_LAST)] * 6
    msgs = make_stream(ops)
    batches, _ = run_book(msgs, allow_partial=True)  # no snapshot: the book is known only by opting in
    snaps, walls = flatten(batches)
    first_rest = min(r["win"] for r in walls if r["depth_qty_rest"] > 0)
    age = snaps[first_rest]["window_end_ts_ns"] - int(msgs[0]["ts_recv"])
    assert 500_000_000 <= age < 1_000_000_000
    compare(msgs, batches, allow_partial=True)


def test_fill_then_cancel_is_fill_not_pull():
    ops = [(0, "A", "A", 3, 5, 1, F_LAST), (0, "A", "B", -3, 5, 2, F_LAST),
           (10, "F", "A", 3, 2, 1, 0), (0, "C", "A", 3, 2, 1, F_LAST), (10, "C", "A", 3, 1, 1, F_LAST)]
    msgs = make_stream(ops)
    batches, _ = run_book(msgs, allow_partial=True)
    _, walls = flatten(batches)
    last = max(r["win"] for r in walls)
    (row,) = [r for r in walls if r["side"] == 1 and r["win"] == last]
    assert (row["fill_qty"], row["pull_qty_total"], row["depth_qty"]) == (2, 1, 2)


def test_real_es_book_top_of_book_after_snapshot(conformance_dir):
    recs = np.concatenate(list(bronze.iter_mbo(conformance_dir / ES_FILE)))
    both = F_SNAPSHOT | F_LAST
    snap_end = int(np.flatnonzero((recs["flags"] & both) == both)[0])
    assert snap_end > 10_000  # the real start-of-day snapshot
    batches, book = run_book(recs)
    snaps, _ = flatten(batches)
    assert len(snaps) == 5 and all(s["book_valid"] for s in snaps)
    for s in snaps:
        assert 0 < s["best_bid_price_int"] < s["best_ask_price_int"]
        assert s["best_bid_qty"] > 0 and s["best_ask_qty"] > 0
        assert 5000 < s["mid_price"] < 5500
    assert book.counters["unknown_order_ids"] == 0 and book.counters["clears"] == 1
    compare(recs, batches)  # the oracle agrees on the real book too
