"""The book tables' key check (one row per window, instrument, side, price) finds exactly what
pandas' ``duplicated`` finds, on sorted tables (the stage's, one linear pass) and unsorted ones
(sorted first), and names the same first repeated row."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from marketphys.pipeline.contracts import ContractError
from marketphys.pipeline.contracts_options import book_keys

KEYS = [("window_end_ts_ns", "ascending"), ("instrument_id", "ascending"), ("side", "ascending"),
        ("price_int", "ascending")]


def _table(rng, n):
    return pa.table({"window_end_ts_ns": pa.array(rng.integers(0, 2, n), pa.int64()),
                     "instrument_id": pa.array(rng.integers(0, 2, n).astype(np.uint32)),
                     "side": pa.array(rng.choice(["A", "B"], n).tolist(), pa.string()),
                     "price_int": pa.array(rng.integers(0, 2, n), pa.int64())})


@pytest.mark.parametrize("sort", [False, True])
def test_key_check_matches_pandas_duplicated(sort):
    rng = np.random.default_rng(3)
    check = book_keys("book")
    seen = {True: 0, False: 0}
    for _ in range(600):
        t = _table(rng, int(rng.integers(0, 9)))
        if sort:
            t = t.sort_by(KEYS)
        keys = t.to_pandas()
        dup = keys.duplicated()
        try:
            check(t)
            got = None
        except ContractError as err:
            got = str(err)
        seen[dup.any()] += 1
        if not dup.any():
            assert got is None
        else:
            first = [v if isinstance(v, str) else int(v) for v in keys[dup].iloc[0].tolist()]
            assert got is not None and got.endswith(f"(got {first!r})"), (got, first)
    assert seen[True] > 50 and seen[False] > 50      # both outcomes exercised
