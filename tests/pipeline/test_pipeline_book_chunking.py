"""The book's outputs do not depend on how the stream is cut into chunks (decode chunk size, ``flush``).

Events (records sharing ts_recv up to F_LAST) may straddle a chunk end; the order-flow imbalance
is taken at the event's end, wherever the chunk ends. Compared on every column of all five tables.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from marketphys.pipeline.book import FuturesBook
from marketphys.pipeline.bronze import F_LAST, MBO_DTYPE
from marketphys.pipeline.silver_futures import surfaces_from_batch

TICK = 250_000_000
IID = 7
BASE_TICK = 20_000

msg = st.tuples(
    st.sampled_from([0, 0, 0, 1, 120, 499, 500, 700]),  # ms since the previous record (0: same event time)
    st.sampled_from("AAAACCMMFT"),
    st.sampled_from("BA"),
    st.integers(1, 5),                     # ticks away from 5000 on the order's own side
    st.integers(1, 9),                     # size
    st.integers(1, 10),                    # order id
    st.booleans(),                         # F_LAST
    st.booleans(),                         # a record of another instrument follows
)


def make_stream(msgs) -> np.ndarray:
    rows = []
    ts = 1_700_000_000_000_000_000
    # a two-sided book to start from, so the order-flow imbalance is live
    for k, (side, off) in enumerate([("B", -1), ("A", 1), ("B", -2), ("A", 2)]):
        rows.append((ts, "A", side, BASE_TICK + off, 10, 100 + k, F_LAST, IID))
    for dt_ms, act, side, off, size, oid, last, other in msgs:
        ts += dt_ms * 1_000_000
        tick = BASE_TICK - off if side == "B" else BASE_TICK + off
        rows.append((ts, act, side, tick, size, oid, F_LAST if last else 0, IID))
        if other:
            rows.append((ts, "A", "B", BASE_TICK, 1, 999, F_LAST, IID + 1))
    arr = np.zeros(len(rows), MBO_DTYPE)
    for i, (t, a, s, tick, q, o, f, iid) in enumerate(rows):
        arr[i]["ts_recv"], arr[i]["action"], arr[i]["side"], arr[i]["price"] = t, ord(a), ord(s), tick * TICK
        arr[i]["size"], arr[i]["order_id"], arr[i]["flags"], arr[i]["instrument_id"] = q, o, f, iid
    return arr


def tables(msgs: np.ndarray, cuts, flush: bool) -> dict:
    """All five tables (concatenated over batches) with the stream fed in pieces cut at ``cuts``."""
    book = FuturesBook(IID, TICK, windows_per_batch=3, allow_partial=True)  # the stream starts with no snapshot
    out: dict = {}
    bounds = [0, *sorted(set(cuts)), len(msgs)]
    feeds = [book.iter_feed(msgs[a:b], flush=flush) for a, b in zip(bounds, bounds[1:])] + [book.iter_finish()]
    for feed in feeds:
        for b in feed:
            for contract, t in surfaces_from_batch(b, IID, TICK).items():
                out.setdefault(contract.name, []).append(
                    pa.table({c: np.array(t.column(c).to_numpy(zero_copy_only=False)) for c in t.column_names}))
    return {k: pa.concat_tables(v) for k, v in out.items()}


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(msg, min_size=1, max_size=60), st.lists(st.integers(0, 120), max_size=8), st.integers(1, 8),
       st.booleans())
def test_any_chunking_gives_the_one_call_tables(msgs, cuts, every, flush):
    stream = make_stream(msgs)
    want = tables(stream, [], True)
    cuts = [c for c in cuts if c <= len(stream)] + (list(range(every, len(stream), every)) if every < 8 else [])
    got = tables(stream, cuts, flush)
    assert want.keys() == got.keys()
    for name in want:
        assert got[name].equals(want[name]), name


def test_an_event_split_by_a_chunk_end_counts_its_imbalance_once():
    """Cancel the best bid (10 at 4999.75) and add 5 behind it (4999.50, now 15) in one event: the bid fell,
    so the imbalance is -10 (the old best queue), not -10 + 5 as two events would give."""
    msgs = [(100, "C", "B", 1, 10, 100, False, False), (0, "A", "B", 2, 5, 11, True, False),
            (600, "T", "B", 1, 1, 5, True, False)]
    stream = make_stream(msgs)
    whole = tables(stream, [], True)["silver.future_mbo.physics"].column("ofi").to_pylist()
    assert whole == [0.0, -10.0, 0.0]
    for flush in (True, False):
        split = tables(stream, [5], flush)["silver.future_mbo.physics"].column("ofi").to_pylist()  # cut: C / A
        assert split == whole
