"""bucket_radar depth_log read from the book's table of NumPy's log1p: the same bits as np.log1p on the column,
including depths beyond the table (whose batch falls back to np.log1p)."""

from __future__ import annotations

import numpy as np
import pytest

from marketphys.pipeline import bronze
from marketphys.pipeline.book import NP_LOG1P, NP_LOG1P_N, FuturesBook
from marketphys.pipeline.bronze import F_LAST, MBO_DTYPE
from marketphys.pipeline.silver_futures import surfaces_from_batch

TICK = 250_000_000
ES_FILE = "glbx/orderbooks_mbo_2024-05-08T00-00-00_2024-05-08T00-00-02.dbn.zst"


def bits(a) -> np.ndarray:
    return np.ascontiguousarray(a, np.float64).view(np.int64)


def test_table_is_numpys_log1p_at_any_offset():
    rng = np.random.default_rng(1)
    for n, off in [(1, 0), (31, 1), (32, 3), (33, 7), (4097, 5)]:
        buf = np.zeros(n + off)
        buf[off:] = rng.integers(0, NP_LOG1P_N, n)
        x = buf[off:]
        assert np.array_equal(bits(np.log1p(x)), bits(NP_LOG1P[x.astype(np.int64)]))


def depth_logs(recs, iid, **kw):
    book = FuturesBook(iid, TICK, **kw)
    out = []
    for b in book.feed(recs) + book.finish():
        t = surfaces_from_batch(b, iid, TICK).bucket_radar
        out.append((b.depth_log_slow, t.column("depth_qty").to_numpy(), t.column("depth_log").to_numpy()))
    return out


def test_real_book_depth_log_equals_numpy(conformance_dir):
    recs = np.concatenate(list(bronze.iter_mbo(conformance_dir / ES_FILE)))
    out = depth_logs(recs, int(recs["instrument_id"][0]), windows_per_batch=2)
    assert sum(len(d) for _, d, _ in out) > 0
    for slow, depth, log in out:
        assert not slow
        assert np.array_equal(bits(log), bits(np.log1p(depth)))


@pytest.mark.parametrize("big", [NP_LOG1P_N - 1, NP_LOG1P_N, 10 ** 9])
def test_depth_beyond_the_table_takes_numpys_log1p(big):
    ts = 1_700_000_000_000_000_000
    rows = [(ts, "A", "B", 19_999, 3, 1), (ts, "A", "A", 20_001, 5, 2),
            (ts + 600_000_000, "A", "B", 19_998, big, 3), (ts + 1_200_000_000, "C", "B", 19_998, big, 3),
            (ts + 1_800_000_000, "T", "B", 20_001, 1, 9)]
    recs = np.zeros(len(rows), MBO_DTYPE)
    for i, (t, a, s, tick, q, o) in enumerate(rows):
        recs[i]["ts_recv"], recs[i]["action"], recs[i]["side"], recs[i]["price"] = t, ord(a), ord(s), tick * TICK
        recs[i]["size"], recs[i]["order_id"], recs[i]["flags"], recs[i]["instrument_id"] = q, o, F_LAST, 7
    out = depth_logs(recs, 7, windows_per_batch=1, allow_partial=True)  # no snapshot: a book built from empty
    # the big order rests for one window, in the bucket of 4999.50 and 4999.75 (with the 3 lots at 4999.75)
    assert [d.max() for _, d, _ in out] == [5, 5, big + 3, 5, 5]
    assert [slow for slow, _, _ in out] == [False, False, big + 3 >= NP_LOG1P_N, False, False]
    for _, depth, log in out:
        assert np.array_equal(bits(log), bits(np.log1p(depth)))
