"""Contracts of the futures datasets: bronze records and the silver HUD surfaces (docs/architecture.md#data-pipeline)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .contracts import Contract, ContractError, register

WINDOW_MS = 500
BAND_TICKS = 400
BUCKET_TICKS = 2


def _strictly_increasing(name):
    def check(t: pa.Table) -> None:
        ts = t.column("window_end_ts_ns").to_numpy()
        if len(ts) > 1:
            bad = np.flatnonzero(np.diff(ts) <= 0)
            if len(bad):
                raise ContractError(f"{name}: window_end_ts_ns not strictly increasing at row {bad[0] + 1} "
                                    f"({ts[bad[0]]} then {ts[bad[0] + 1]})")
    return check


def _non_decreasing(name):
    def check(t: pa.Table) -> None:
        ts = t.column("window_end_ts_ns").to_numpy()
        if len(ts) > 1 and not np.all(ts[1:] >= ts[:-1]):  # one compare, no difference array
            i = int(np.flatnonzero(np.diff(ts) < 0)[0]) + 1
            raise ContractError(f"{name}: window_end_ts_ns goes backwards at row {i} ({ts[i - 1]} then {ts[i]})")
    return check


def _spot_when_valid(name):
    def check(t: pa.Table) -> None:
        valid = t.column("book_valid").to_numpy(zero_copy_only=False)
        spot = t.column("spot_ref_price_int").to_numpy()
        bad = np.flatnonzero(valid & (spot <= 0))
        if len(bad):
            raise ContractError(f"{name}: spot_ref_price_int={spot[bad[0]]} with book_valid at row {bad[0]}")
        tick = t.column("tick_int").to_numpy()
        off = np.flatnonzero(valid & (spot % np.maximum(tick, 1) != 0))
        if len(off):
            raise ContractError(f"{name}: spot_ref_price_int={spot[off[0]]} is not tick-aligned at row {off[0]}")
    return check


def _rel_ticks_consistent(name):
    def check(t: pa.Table) -> None:
        rel = t.column("rel_ticks").to_numpy()
        if len(rel) and (rel.min() < -BAND_TICKS or rel.max() > BAND_TICKS):
            raise ContractError(f"{name}: rel_ticks outside ±{BAND_TICKS}: {rel.min()}..{rel.max()}")
        if "price_int" in t.column_names:
            spot = t.column("spot_ref_price_int").to_numpy()
            tick = t.column("tick_int").to_numpy()
            px = t.column("price_int").to_numpy()
            bad = np.flatnonzero(spot + rel * tick != px)
            if len(bad):
                i = bad[0]
                raise ContractError(f"{name}: row {i} price_int={px[i]} != spot_ref_price_int {spot[i]} "
                                    f"+ rel_ticks {rel[i]} x tick {tick[i]}")
    return check


def _all_finite(arr: np.ndarray) -> bool:
    """Every value finite. A NaN or infinity makes the sum non-finite, so one read-only pass
    settles the common case; only a non-finite sum (which overflow can also cause) looks closer."""
    with np.errstate(over="ignore", invalid="ignore"):
        total = np.add.reduce(arr)
    return bool(np.isfinite(total)) or bool(np.all(np.isfinite(arr)))


def _no_nan(name, cols):
    def check(t: pa.Table) -> None:
        for c in cols:
            arr = t.column(c).to_numpy()
            if not _all_finite(arr):
                i = int(np.flatnonzero(~np.isfinite(arr))[0])
                raise ContractError(f"{name}: column {c!r} is not finite ({arr[i]}) at row {i}")
    return check


def _in_range(name, cols, lo, hi):
    def check(t: pa.Table) -> None:
        for c in cols:
            arr = t.column(c).to_numpy()
            if len(arr) and (arr.min() < lo - 1e-12 or arr.max() > hi + 1e-12):
                raise ContractError(f"{name}: column {c!r} outside [{lo}, {hi}]: {arr.min()}..{arr.max()}")
    return check


def _all_a_or_b(arr: pa.Array) -> bool:
    """Every value of a string array is 'A' or 'B', read from its buffers: no nulls, every string one
    byte long (offsets step by one), every byte 65 or 66. ~10x faster than ``pc.is_in`` on the wall."""
    n = len(arr)
    if arr.null_count:
        return False
    if n == 0:
        return True
    if not pa.types.is_string(arr.type):
        return bool(pc.all(pc.is_in(arr, pa.array(["A", "B"], arr.type))).as_py())
    _, offsets, data = arr.buffers()
    offs = np.frombuffer(offsets, np.int32, n + 1, offset=arr.offset * 4)
    if not np.all(np.diff(offs) == 1):
        return False
    chars = np.frombuffer(data, np.uint8, n, offset=int(offs[0]))
    return bool(np.all(np.subtract(chars, 65, dtype=np.uint8) <= 1))  # 'A' 65, 'B' 66; below 65 wraps


def _sides(name):
    def check(t: pa.Table) -> None:
        if not all(_all_a_or_b(chunk) for chunk in t.column("side").chunks):
            raise ContractError(f"{name}: side must be 'A' or 'B'")
    return check


KEY = [("window_end_ts_ns", pa.int64()), ("spot_ref_price_int", pa.int64()), ("tick_int", pa.int64())]

SNAP = register(Contract(
    name="silver.future_mbo.snap", surface="snap", window_ms=WINDOW_MS, rows_per_window=1,
    description="Book state at each window end: BBO, mid, tick-aligned spot reference, last trade, volume.",
    schema=pa.schema([
        ("window_end_ts_ns", pa.int64()), ("instrument_id", pa.uint32()), ("mid_price", pa.float64()),
        ("spot_ref_price_int", pa.int64()), ("tick_int", pa.int64()), ("book_valid", pa.bool_()),
        ("best_bid_price_int", pa.int64()), ("best_bid_qty", pa.int64()),
        ("best_ask_price_int", pa.int64()), ("best_ask_qty", pa.int64()),
        ("last_trade_price_int", pa.int64()), ("last_trade_qty", pa.int64()), ("volume", pa.int64()),
        ("trade_count", pa.int64()), ("msg_count", pa.int64()), ("unknown_order_events", pa.int64())]),
    invariants=(_strictly_increasing("silver.future_mbo.snap"), _spot_when_valid("silver.future_mbo.snap"),
                _no_nan("silver.future_mbo.snap", ["mid_price"])),
))

WALL = register(Contract(
    name="silver.future_mbo.wall", surface="wall", window_ms=WINDOW_MS,
    description="Per price level within ±400 ticks and side: resting depth (orders >= 500 ms old), flows, "
                "first and second differences of depth across windows. Display intensity = log1p(depth_qty_rest).",
    schema=pa.schema(KEY + [
        ("rel_ticks", pa.int32()), ("side", pa.string()), ("price_int", pa.int64()),
        ("depth_qty_rest", pa.int64()), ("depth_qty", pa.int64()), ("add_qty", pa.int64()),
        ("pull_qty_total", pa.int64()), ("fill_qty", pa.int64()),
        ("d1_depth_qty", pa.int64()), ("d2_depth_qty", pa.int64())]),
    invariants=(_non_decreasing("silver.future_mbo.wall"), _rel_ticks_consistent("silver.future_mbo.wall"),
                _sides("silver.future_mbo.wall")),
))

VACUUM = register(Contract(
    name="silver.future_mbo.vacuum", surface="vacuum", window_ms=WINDOW_MS,
    description="Per level: vacuum_score = tanh(max(0, pull - add) / (depth at previous window + 1)) in 0..1; "
                "pull_add_log = log1p(pull) - log1p(add), d2_pull_add_log its second difference across windows; "
                "wall_erosion = fraction of resting depth lost since the previous window.",
    schema=pa.schema(KEY + [
        ("rel_ticks", pa.int32()), ("vacuum_score", pa.float64()), ("d2_pull_add_log", pa.float64()),
        ("wall_erosion", pa.float64()), ("pull_add_log", pa.float64())]),
    invariants=(_non_decreasing("silver.future_mbo.vacuum"), _rel_ticks_consistent("silver.future_mbo.vacuum"),
                _no_nan("silver.future_mbo.vacuum", ["vacuum_score", "d2_pull_add_log", "wall_erosion"]),
                _in_range("silver.future_mbo.vacuum", ["vacuum_score", "wall_erosion"], 0.0, 1.0)),
))

PHYSICS = register(Contract(
    name="silver.future_mbo.physics", surface="physics", window_ms=WINDOW_MS, rows_per_window=1,
    description="Per window: above/below_score (0..1 ease of moving up/down: opposing near depth share and "
                "vacuum within 10 ticks), Cont-Kukanov-Stoikov order-flow imbalance, book imbalance within "
                "10 ticks, trade imbalance (buy - sell aggressor volume) / volume.",
    schema=pa.schema([
        ("window_end_ts_ns", pa.int64()), ("mid_price", pa.float64()), ("book_valid", pa.bool_()),
        ("above_score", pa.float64()), ("below_score", pa.float64()), ("ofi", pa.float64()),
        ("book_imbalance", pa.float64()), ("trade_imbalance", pa.float64()),
        ("buy_volume", pa.int64()), ("sell_volume", pa.int64())]),
    invariants=(_strictly_increasing("silver.future_mbo.physics"),
                _no_nan("silver.future_mbo.physics", ["above_score", "below_score", "ofi", "book_imbalance",
                                                      "trade_imbalance"]),
                _in_range("silver.future_mbo.physics", ["above_score", "below_score"], 0.0, 1.0),
                _in_range("silver.future_mbo.physics", ["book_imbalance", "trade_imbalance"], -1.0, 1.0)),
))

BUCKET_RADAR = register(Contract(
    name="silver.future_mbo.bucket_radar", surface="bucket_radar", window_ms=WINDOW_MS,
    rows_per_window=2 * (BAND_TICKS // BUCKET_TICKS) + 1,
    description="Per Δx = 2-tick bucket i in -200..200 (levels rel_ticks 2i and 2i+1), for valid-book windows: "
                "depth, resting depth, depletion (pulled + filled), reinforcement (added), bid-ask imbalance, "
                "max vacuum score. The profile the engine's producers read.",
    schema=pa.schema(KEY + [
        ("bucket", pa.int32()), ("rel_ticks", pa.int32()), ("depth_qty", pa.float64()),
        ("depth_qty_rest", pa.float64()), ("depletion_qty", pa.float64()), ("reinforcement_qty", pa.float64()),
        ("imbalance", pa.float64()), ("vacuum_score", pa.float64()), ("depth_log", pa.float64())]),
    invariants=(_non_decreasing("silver.future_mbo.bucket_radar"),
                _rel_ticks_consistent("silver.future_mbo.bucket_radar"),
                _no_nan("silver.future_mbo.bucket_radar", ["depth_qty", "depth_qty_rest", "depletion_qty",
                                                           "reinforcement_qty", "imbalance", "vacuum_score",
                                                           "depth_log"]),
                _in_range("silver.future_mbo.bucket_radar", ["imbalance"], -1.0, 1.0)),
))

# bronze: schemas are fixed by DBN, invariants are only the ordering the book relies on
BRONZE_MBO = register(Contract(
    name="bronze.future_mbo.mbo", description="Raw futures MBO records (DBN fields).",
    schema=pa.schema([("publisher_id", pa.uint16()), ("instrument_id", pa.uint32()), ("ts_event", pa.uint64()),
                      ("order_id", pa.uint64()), ("price", pa.int64()), ("size", pa.uint32()),
                      ("flags", pa.uint8()), ("channel_id", pa.uint8()), ("action", pa.string()),
                      ("side", pa.string()), ("ts_recv", pa.uint64()), ("ts_in_delta", pa.int32()),
                      ("sequence", pa.uint32())]),
))
