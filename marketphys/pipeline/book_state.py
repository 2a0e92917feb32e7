"""A futures book's whole state as one small Arrow table, so a day can start where the last one ended.

The state is everything the compiled loop reads: live orders, the resting ring, per-level depth
and history (first differences, pull/add ratios, quiet stamps) and the scalar slots (window
counter, end of the open window, best bid/ask, counters). Restoring it and feeding the next
records gives the same windows as one uninterrupted feed (tests/pipeline/test_pipeline_book_carry.py).
The table has one row; each array is a list cell, so a day's state is one Parquet file.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from . import book as B
from .book_layout import BASE, N_ST, NDIRTY, NLIVE, NUSED, OUT_BUCK, OUT_VAC, OUT_WALL, OUT_WIN, RING_HEAD, RING_TAIL
from .book_levels import LEVELS_1D, LEVELS_2D
from .book_orders import OT_COLS, OT_KEY, OT_STATE, OT_TICK, aligned_table, rehash
from .book_orders import ORDER_FIELDS as ORDER_COLS

STATE_VERSION = 1
PARAMS = ("instrument_id", "tick_int", "window_ns", "rest_ns", "band", "near", "max_fill")


class BookStateError(ValueError):
    """A stored book state that cannot be used here; the message names the field."""


def _cell(arr: np.ndarray) -> pa.Array:
    arr = np.ascontiguousarray(arr).reshape(-1)
    return pa.LargeListArray.from_arrays(pa.array([0, len(arr)], pa.int64()), pa.array(arr))


def _get(table: pa.Table, name: str) -> np.ndarray:
    return table.column(name).combine_chunks().flatten().to_numpy(zero_copy_only=False)


def params_of(book: "B.FuturesBook") -> dict:
    return {"instrument_id": book.instrument_id, "tick_int": book.tick_int, "window_ns": book.window_ns,
            "rest_ns": book.rest_ns, "band": book.band, "near": book.near, "max_fill": book.max_fill}


def state_table(book: "B.FuturesBook", **meta) -> pa.Table:
    """The book's state (between feeds: no window outputs held) as a one-row table; ``meta``
    (strings or ints: product, symbol, last record time) rides along."""
    st = book.st
    if st[OUT_WIN] or st[OUT_WALL] or st[OUT_VAC] or st[OUT_BUCK]:
        raise BookStateError("book state taken with windows not yet handed out: take them first")
    orders = book.orders
    live = orders.state == 1
    cap = orders.ring_id.shape[0]
    idx = np.arange(st[RING_HEAD], st[RING_TAIL]) % cap
    cols = {"version": pa.array([STATE_VERSION], pa.int32())}
    cols.update({k: pa.array([int(v)]) for k, v in params_of(book).items()})
    cols.update({k: pa.array([v]) for k, v in meta.items()})
    cols["L"] = pa.array([int(book.L)])
    cols["st"] = _cell(st)
    cols["fs"] = _cell(book.fs)
    cols["order_id"] = _cell(orders.keys[live])
    for name in ORDER_COLS:
        cols["order_" + name] = _cell(getattr(orders, name)[live])
    cols["ring_id"] = _cell(orders.ring_id[idx])
    cols["ring_ts"] = _cell(orders.ring_ts[idx])
    if book.L:
        for name in LEVELS_2D + LEVELS_1D:
            cols[name] = _cell(getattr(book.levels, name))
        cols["dirty_list"] = _cell(book.levels.dirty_list[: int(st[NDIRTY])])
    return pa.table(cols)


def restore(table: pa.Table, **book_kwargs) -> "B.FuturesBook":
    """A FuturesBook in the stored state. ``book_kwargs`` (output sizes) do not change results."""
    if table.num_rows != 1:
        raise BookStateError(f"a book state has one row, got {table.num_rows}")
    version = table.column("version")[0].as_py()
    if version != STATE_VERSION:
        raise BookStateError(f"book state version {version}, this build reads {STATE_VERSION}: rebuild the day before")
    p = {k: table.column(k)[0].as_py() for k in PARAMS}
    book = B.FuturesBook(p["instrument_id"], p["tick_int"], window_ns=p["window_ns"], rest_ns=p["rest_ns"],
                         band_ticks=p["band"], near_ticks=p["near"], max_fill_windows=p["max_fill"], **book_kwargs)
    st = _get(table, "st").astype(np.int64)
    if st.shape[0] != N_ST:
        raise BookStateError(f"book state has {st.shape[0]} scalar slots, this build has {N_ST}")
    book.fs[:] = _get(table, "fs")
    L = int(table.column("L")[0].as_py())
    if L:
        book._alloc_levels(int(st[BASE]), L)
        for name in LEVELS_2D:
            getattr(book.levels, name)[:] = _get(table, name).reshape(2, L)
        for name in LEVELS_1D:
            getattr(book.levels, name)[:] = _get(table, name)
        dl = _get(table, "dirty_list")
        book.levels.dirty_list[: len(dl)] = dl
    ids = _get(table, "order_id").astype(np.uint64)
    n = len(ids)
    cap = 1 << int(np.ceil(np.log2(max(4 * n, 1 << 12))))
    src = aligned_table(max(n, 1), OT_COLS)
    src[:n, OT_KEY] = ids.view(np.int64)
    src[:n, OT_STATE] = 1
    for j, name in enumerate(ORDER_COLS):
        src[:n, OT_TICK + j] = _get(table, "order_" + name)
    new = aligned_table(cap, OT_COLS)
    rehash(src[:, OT_KEY].view(np.uint64), src[:, OT_STATE], src, new[:, OT_KEY].view(np.uint64), new)
    book._set_orders(new)
    rid, rts = _get(table, "ring_id").astype(np.uint64), _get(table, "ring_ts").astype(np.int64)
    rcap = 1 << int(np.ceil(np.log2(max(2 * len(rid), 1 << 12))))
    ring_id, ring_ts = np.zeros(rcap, np.uint64), np.zeros(rcap, np.int64)
    ring_id[: len(rid)], ring_ts[: len(rid)] = rid, rts
    book._set_ring(ring_id, ring_ts)
    st[RING_HEAD], st[RING_TAIL] = 0, len(rid)
    st[NUSED] = st[NLIVE] = n
    book.st[:] = st
    return book


def meta_of(table: pa.Table, name: str, default=None):
    return table.column(name)[0].as_py() if name in table.column_names else default
