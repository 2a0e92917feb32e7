"""Silver futures surfaces: MBO records -> snap / wall / vacuum / physics / bucket_radar tables.

``surfaces_from_batch`` is a pure function from the book's window outputs to Arrow
tables checked against their contracts; ``build_futures_day`` streams one day's MBO
files (merged in ``ts_recv`` order) through the compiled book and writes each batch as a
lake part. The book can start from a carried state (``marketphys.pipeline.book_state``) and
hands its end state back, so one book runs across files and days.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow as pa

from marketphys.dbn import CLEAR, F_SNAPSHOT, PRICE_SCALE

from . import contracts_futures as cf
from .book import FuturesBook, WindowBatch
from .contracts import ContractError

ROOT_RE = re.compile(r"^([A-Z0-9]{1,6}?)([FGHJKMNQUVXZ])(\d{1,2})$")


def product_of(symbol: str) -> str:
    """Product key from a raw symbol: 'ESM4' -> 'ES', 'ESM4 P5230' -> 'ES', 'ES.FUT' -> 'ES', 'MSFT' -> 'MSFT'."""
    s = symbol.strip().split(" ")[0].split(".")[0]
    m = ROOT_RE.match(s)
    return m.group(1) if m else re.sub(r"[^A-Za-z0-9_]", "_", s)[:16] or "UNKNOWN"


def tick_int_for(product: str, definitions: dict[int, int] | None = None, instrument_id: int | None = None,
                 tick_size: float | None = None) -> int:
    """Tick size in 1e-9 price units: from the instrument's definition, else from ``tick_size``
    (the user's flag). No product table guesses it: a wrong tick silently bins every level wrong."""
    if definitions and instrument_id in definitions and 0 < definitions[instrument_id] < 2**62:
        return int(definitions[instrument_id])
    if tick_size is not None:
        t = float(tick_size)
        if not (np.isfinite(t) and t > 0 and round(t * PRICE_SCALE) >= 1):
            raise ValueError(f"tick_size must be a positive price (at least 1e-9), got {tick_size!r}")
        return int(round(t * PRICE_SCALE))
    raise ValueError(f"no tick size for product {product!r} (instrument {instrument_id}): add its definition "
                     f"file to --input, or give it with --tick-size (e.g. 0.25 for ES)")


@dataclass
class SurfaceTables:
    snap: pa.Table
    wall: pa.Table
    vacuum: pa.Table
    physics: pa.Table
    bucket_radar: pa.Table

    def items(self):
        return [(cf.SNAP, self.snap), (cf.WALL, self.wall), (cf.VACUUM, self.vacuum),
                (cf.PHYSICS, self.physics), (cf.BUCKET_RADAR, self.bucket_radar)]


_CONST: dict = {}


def _const(value, n: int, dtype) -> np.ndarray:
    """A constant column of length ``n``: a read-only view of one cached array, not a fill per batch."""
    key = (value, np.dtype(dtype).str)
    arr = _CONST.get(key)
    if arr is None or len(arr) < n:
        arr = np.full(max(n, 1 << 16), value, dtype)
        arr.setflags(write=False)
        _CONST[key] = arr
    return arr[:n]


def _sides(side: np.ndarray) -> pa.Array:
    """Side codes (0 bid, 1 ask) -> 'B'/'A' strings, built straight from Arrow buffers (one byte per row)."""
    n = len(side)
    chars = (66 - side).astype(np.uint8)  # 0 -> 'B' (66), 1 -> 'A' (65)
    offsets = np.arange(n + 1, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(chars))


def surfaces_from_batch(b: WindowBatch, instrument_id: int, tick_int: int) -> SurfaceTables:
    """Window outputs -> the five silver tables, each validated by its contract.

    The book writes every column contiguously (level rows already carry their window's
    end time and spot), so most columns are wrapped by Arrow without a copy.
    """
    s = b.snap
    nw = b.n_windows
    ts = s["window_end_ts_ns"]
    spot = s["spot_ref_price_int"]
    valid = s["book_valid"].astype(bool)
    snap = pa.table({
        "window_end_ts_ns": ts, "instrument_id": _const(instrument_id, nw, np.uint32), "mid_price": s["mid_price"],
        "spot_ref_price_int": spot, "tick_int": _const(tick_int, nw, np.int64), "book_valid": valid,
        "best_bid_price_int": s["best_bid_price_int"], "best_bid_qty": s["best_bid_qty"],
        "best_ask_price_int": s["best_ask_price_int"], "best_ask_qty": s["best_ask_qty"],
        "last_trade_price_int": s["last_trade_price_int"], "last_trade_qty": s["last_trade_qty"],
        "volume": s["volume"], "trade_count": s["trade_count"], "msg_count": s["msg_count"],
        "unknown_order_events": s["unknown_order_events"]})
    physics = pa.table({
        "window_end_ts_ns": ts, "mid_price": s["mid_price"], "book_valid": valid,
        "above_score": s["above_score"], "below_score": s["below_score"], "ofi": s["ofi"],
        "book_imbalance": s["book_imbalance"], "trade_imbalance": s["trade_imbalance"],
        "buy_volume": s["buy_volume"], "sell_volume": s["sell_volume"]})
    w = b.wall
    wall = pa.table({
        "window_end_ts_ns": w["window_end_ts_ns"], "spot_ref_price_int": w["spot_ref_price_int"],
        "tick_int": _const(tick_int, len(w["win"]), np.int64), "rel_ticks": w["rel_ticks"].astype(np.int32),
        "side": _sides(w["side"]), "price_int": w["price_int"], "depth_qty_rest": w["depth_qty_rest"],
        "depth_qty": w["depth_qty"], "add_qty": w["add_qty"], "pull_qty_total": w["pull_qty_total"],
        "fill_qty": w["fill_qty"], "d1_depth_qty": w["d1_depth_qty"], "d2_depth_qty": w["d2_depth_qty"]})
    v = b.vacuum
    vacuum = pa.table({
        "window_end_ts_ns": v["window_end_ts_ns"], "spot_ref_price_int": v["spot_ref_price_int"],
        "tick_int": _const(tick_int, len(v["win"]), np.int64), "rel_ticks": v["rel_ticks"].astype(np.int32),
        "vacuum_score": v["vacuum_score"], "d2_pull_add_log": v["d2_pull_add_log"],
        "wall_erosion": v["wall_erosion"], "pull_add_log": v["pull_add_log"]})
    k = b.bucket
    bucket_radar = pa.table({
        "window_end_ts_ns": k["window_end_ts_ns"], "spot_ref_price_int": k["spot_ref_price_int"],
        "tick_int": _const(tick_int, len(k["bucket"]), np.int64), "bucket": k["bucket"], "rel_ticks": k["rel_ticks"],
        "depth_qty": k["depth_qty"], "depth_qty_rest": k["depth_qty_rest"], "depletion_qty": k["depletion_qty"],
        "reinforcement_qty": k["reinforcement_qty"], "imbalance": k["imbalance"],
        "vacuum_score": k["vacuum_score"],
        # NumPy's log1p, not libm's (the last bit can differ): the book reads it from a table of NumPy's values
        "depth_log": np.log1p(k["depth_qty"]) if b.depth_log_slow else k["depth_log"]})
    return SurfaceTables(*(c.validate(t) for c, t in [(cf.SNAP, snap), (cf.WALL, wall), (cf.VACUUM, vacuum),
                                                        (cf.PHYSICS, physics), (cf.BUCKET_RADAR, bucket_radar)]))


@dataclass
class FuturesDayResult:
    product: str
    instrument_id: int
    symbol: str
    messages: int = 0
    windows: int = 0
    rows: dict = field(default_factory=dict)
    counters: dict = field(default_factory=dict)
    date: str = ""
    start: str = ""        # how the book started: snapshot, clear, carried book, or nothing (partial)
    state: object = None   # the end state (pa.Table, marketphys.pipeline.book_state), to carry on
    last_ts_recv: int = -1


DAY_NS = 86_400_000_000_000


def book_mbo_dtype():
    from .bronze import MBO_DTYPE
    return MBO_DTYPE


def date_of_ns(ns) -> str:
    """UTC date of a time in ns since the epoch."""
    import datetime as dt
    return dt.datetime.fromtimestamp(int(ns) // 1_000_000_000, tz=dt.timezone.utc).date().isoformat()


def split_by_date(ts: np.ndarray) -> list[tuple[str, int, int]]:
    """(date, i0, i1) runs of a non-decreasing ns column by UTC date; one run in the common case."""
    if not len(ts):
        return []
    d0, d1 = date_of_ns(ts[0]), date_of_ns(ts[-1])
    if d0 == d1:
        return [(d0, 0, len(ts))]
    out, i = [], 0
    while i < len(ts):
        end = (int(ts[i]) // DAY_NS + 1) * DAY_NS
        j = int(np.searchsorted(ts, end, side="left"))
        j = max(j, i + 1)
        out.append((date_of_ns(ts[i]), i, j))
        i = j
    return out


def start_of(first_chunk: np.ndarray, instrument_id: int, carried_from: str | None, allow_partial: bool) -> str:
    """One phrase: how the day's book starts (its first record of the instrument, else the carry)."""
    mine = np.flatnonzero(first_chunk["instrument_id"] == instrument_id)
    rec = first_chunk[mine[0]] if len(mine) else None
    over = f" (replaces the book carried from {carried_from})" if carried_from else ""
    if rec is not None and int(rec["flags"]) & F_SNAPSHOT:
        return "snapshot" + over
    if rec is not None and int(rec["action"]) == CLEAR:
        return "clear" + over
    if carried_from:
        return f"carried book from {carried_from}"
    return ("nothing: partial book (allowed by --allow-partial-book)" if allow_partial else
            "nothing: no snapshot, book_valid false until a snapshot or clear (--allow-partial-book to use it)")


def pick_instrument(first_chunk: np.ndarray, mappings: dict[int, str]) -> int:
    """The most active outright in the first chunk: not a spread ('-'), not an option, and (when the
    file maps any symbols) one it maps; an unmapped id is never reported as the product."""
    from .instruments import is_option_symbol

    ids, counts = np.unique(first_chunk["instrument_id"], return_counts=True)
    order = np.argsort(-counts)
    for k in order:
        sym = mappings.get(int(ids[k]), "")
        if mappings and not sym:
            continue
        if "-" not in sym and not is_option_symbol(sym):
            return int(ids[k])
    return int(ids[order[0]])


def futures_chunks(infos, head_records: int = 1 << 20) -> Iterator[np.ndarray]:
    """MBO chunks of the files in order, for the book: first the leading ``head_records`` records of
    the first file as one fresh array (``pick_instrument`` reads them), then views of one reused
    decode buffer, each valid until the next is asked for.

    Small reused chunks (``DECODE_RECORDS``) stay in cache and touch no fresh pages
    (benchmarks/RESULTS.md, pipeline, third pass).
    """
    from .bronze import DECODE_RECORDS, iter_mbo

    # not decoded ahead in a thread (marketphys.pipeline.prefetch): on the shared 2-core machine it
    # saved no wall time and cost some (benchmarks/RESULTS.md, pipeline)
    if len(infos) == 1:
        yield from iter_mbo(infos[0], chunk_records=min(DECODE_RECORDS, head_records), reuse=True,
                            first_records=head_records)
        return
    from .merge import merge_by_ts_recv

    yield from merge_by_ts_recv(iter_mbo(info, chunk_records=min(DECODE_RECORDS, head_records), reuse=True)
                                for info in infos)


def build_futures_day(info, writer, *, definitions: dict[int, int] | None = None, window_ms: int = 500,
                      keep_bronze: bool = True, chunk_records: int = 1 << 20, progress=None,
                      instrument_id: int | None = None, tick_size: float | None = None,
                      allow_partial: bool = False, carry=None, carried_from: str | None = None,
                      split_days: bool = False, on_chunk=None) -> FuturesDayResult:
    """Stream a product's futures MBO files (merged in ``ts_recv`` order) through the book;
    ``writer(contract_name, product, table)`` stores parts (``split_days``: ``writer(..., date)``,
    windows by the UTC date of their last instant, bronze records by the date of their ``ts_recv``).
    ``on_chunk(records)``: input accounting (records per instrument).

    ``carry``: a stored book state (``book_state.state_table``) to start from, used when its
    instrument trades in these records and its window settings match; ``res.state`` is the end state.
    Records are decoded in small chunks into one reused buffer (``DECODE_RECORDS``: it stays in
    cache) and gathered into bronze parts of ``chunk_records``; silver batches follow the book's
    output size, not the decode chunks (``iter_feed(flush=False)``).
    """
    from .book_state import meta_of, restore, state_table
    from .bronze import RecordParts, mbo_table

    infos = info if isinstance(info, (list, tuple)) else [info]
    info = infos[0]
    book = None
    res = None
    last_ts = -1
    last_recv = -1
    parts = RecordParts(chunk_records) if keep_bronze else None
    window_ns = int(window_ms) * 1_000_000

    def write_bronze(full_parts):
        # a function, so no reference to the last part (maybe the whole first chunk) outlives it
        for part in full_parts:
            if not split_days:
                writer(cf.BRONZE_MBO.name, res.product, cf.BRONZE_MBO.validate(mbo_table(part)))
                continue
            for d, i0, i1 in split_by_date(part["ts_recv"]):
                writer(cf.BRONZE_MBO.name, res.product, cf.BRONZE_MBO.validate(mbo_table(part[i0:i1])), d)

    for chunk in futures_chunks(infos, chunk_records):  # used up before the next chunk is decoded
        if book is None:
            iid = instrument_id if instrument_id is not None else pick_instrument(chunk, info.mappings)
            used = None
            if carry is not None:
                c_iid = int(carry.column("instrument_id")[0].as_py())
                if (c_iid == iid or (instrument_id is None and (chunk["instrument_id"] == c_iid).any())) \
                        and int(carry.column("window_ns")[0].as_py()) == window_ns:
                    iid, used = c_iid, carried_from or "an earlier build"
            symbol = info.mappings.get(iid, info.symbols[0] if info.symbols else str(iid))
            if used:
                symbol = meta_of(carry, "symbol", symbol)
                book = restore(carry)
                tick_int = book.tick_int
            else:
                tick_int = tick_int_for(product_of(symbol), definitions, iid, tick_size)
                book = FuturesBook(iid, tick_int, window_ns=window_ns, allow_partial=allow_partial)
            res = FuturesDayResult(product=product_of(symbol), instrument_id=iid, symbol=symbol,
                                   start=start_of(chunk, iid, used, allow_partial))
            if carry is not None and not used:
                res.start += f"; the carried book (instrument {carry.column('instrument_id')[0].as_py()}) " \
                             f"does not continue here"
        res.messages += len(chunk)
        if len(chunk):
            last_recv = max(last_recv, int(chunk["ts_recv"][-1]))
        if on_chunk is not None:
            on_chunk(chunk)                                 # input accounting (records per instrument)
        if parts is not None:
            write_bronze(parts.add(chunk))
        for batch in book.iter_feed(chunk, flush=False):  # streamed: a written batch's buffers are reused
            last_ts = _write_batch(batch, book, res, writer, last_ts, split_days)
            del batch  # before the next is made: its buffers are then free to reuse (one set fewer)
        if progress is not None:
            progress.update(len(chunk))
    if book is None:
        raise ValueError(f"{info.path}: MBO file holds no records")
    if parts is not None and parts.n:
        write_bronze([parts.rest()])
    # an open window ending at a UTC midnight is the next day's first row: it stays open in the stored
    # state and the next day's build closes it, as one uninterrupted feed would
    keep_open = split_days and book.pending and book.last_window_end % DAY_NS == 0
    for batch in (book.iter_feed(np.zeros(0, book_mbo_dtype()), flush=True) if keep_open else book.iter_finish()):
        last_ts = _write_batch(batch, book, res, writer, last_ts, split_days)
        del batch
    res.counters = book.counters
    res.last_ts_recv = last_recv
    res.state = state_table(book, product=res.product, symbol=res.symbol, last_ts_recv=last_recv)
    return res


def _write_batch(batch, book, res, writer, last_ts, split_days=False):
    if batch.n_windows == 0:
        return last_ts
    first = int(batch.snap["window_end_ts_ns"][0])
    if first <= last_ts:
        raise ContractError(f"silver.future_mbo.snap: window_end_ts_ns not strictly increasing across parts "
                            f"({last_ts} then {first})")
    tables = surfaces_from_batch(batch, book.instrument_id, book.tick_int)
    for contract, table in tables.items():
        if not split_days:
            writer(contract.name, res.product, table)
        else:
            # a window belongs to the day of its end (the row is the state at that time)
            end = table.column("window_end_ts_ns").to_numpy()
            for d, i0, i1 in split_by_date(end):
                writer(contract.name, res.product, table.slice(i0, i1 - i0), d)
        res.rows[contract.name] = res.rows.get(contract.name, 0) + table.num_rows
    res.windows += batch.n_windows
    return int(batch.snap["window_end_ts_ns"][-1])


def read_surface(lake: str | Path, surface: str, product: str, date: str) -> pa.Table:
    """Read one day of one futures surface by its served key (snap, wall, ...)."""
    from .lake import read_partition

    return read_partition(lake, f"silver.future_mbo.{surface}", product, date)
