"""A small lake shaped like the pipeline's, for serving tests.

Surfaces whose contracts the pipeline branches have registered are used as they
are; any served surface still missing is registered here with the columns
docs/architecture.md#data-pipeline names (futures every 500 ms, options every 1 s with 25 strike
rows). Values are generated per column from the contract's schema, so the same
builder keeps working when the real contracts land.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest

from marketphys.pipeline import lake as lakemod
from marketphys.pipeline.contracts import Contract, by_surface, load_all, register

TICK = 0.25
TICK_INT = 250_000_000
F64, I64, I32 = pa.float64(), pa.int64(), pa.int32()
TS = ("window_end_ts_ns", I64)


def _schema(*cols) -> pa.Schema:
    return pa.schema([pa.field(n, t) for n, t in cols])


_D = [f"d{k}_{m}" for m in ("gex_abs", "gex", "gex_imbalance_ratio") for k in (1, 2, 3)]
FIXTURE_CONTRACTS = {
    "snap": ("silver.future_mbo.snap", 500, 1, _schema(
        TS, ("mid_price", F64), ("spot_ref_price_int", I64), ("book_valid", pa.bool_()), ("best_bid_price_int", I64),
        ("best_bid_qty", I64), ("best_ask_price_int", I64), ("best_ask_qty", I64), ("last_trade_price_int", I64),
        ("volume", I64))),
    "wall": ("silver.future_mbo.wall", 500, None, _schema(
        TS, ("rel_ticks", I32), ("side", pa.string()), ("depth_qty_rest", F64), ("add_qty", F64),
        ("pull_qty_total", F64), ("d1_depth_qty", F64), ("d2_depth_qty", F64))),
    "vacuum": ("silver.future_mbo.vacuum", 500, None, _schema(
        TS, ("rel_ticks", I32), ("vacuum_score", F64), ("d2_pull_add_log", F64), ("wall_erosion", F64))),
    "physics": ("silver.future_mbo.physics", 500, 1, _schema(
        TS, ("mid_price", F64), ("above_score", F64), ("below_score", F64), ("ofi", F64), ("book_imbalance", F64),
        ("trade_imbalance", F64))),
    "bucket_radar": ("silver.future_mbo.bucket_radar", 500, None, _schema(
        TS, ("rel_ticks", I32), ("depth_pressure", F64), ("vacuum_pressure", F64), ("flow_pressure", F64))),
    "gex": ("silver.future_option_mbo.gex_surface_1s", 1000, 25, _schema(
        TS, ("spot_ref_price_int", I64), ("strike_price_int", I64), ("rel_ticks", I32), ("gex", F64),
        ("gex_abs", F64), ("gex_call_abs", F64), ("gex_put_abs", F64), ("gex_imbalance_ratio", F64),
        *[(c, F64) for c in _D], ("gex_abs_norm", F64))),
    "gex_flow": ("silver.future_option_mbo.gex_flow_surface_1s", 1000, 25, _schema(
        TS, ("spot_ref_price_int", I64), ("strike_price_int", I64), ("rel_ticks", I32), ("add_qty_sum", F64),
        ("pull_qty_sum", F64), ("fill_qty_sum", F64), ("reinforce", F64), ("flow_abs", F64),
        ("pull_rest_intensity", F64), ("flow_abs_norm", F64), ("flow_reinforce_norm", F64),
        ("pull_rest_intensity_norm", F64))),
}
GEX_EXTENDED = ("gex_call_abs", "gex_put_abs", *_D)


def ensure_contracts() -> dict[str, Contract]:
    """Register fixture contracts for served surfaces nobody has registered yet; return surface -> contract."""
    load_all()
    have = by_surface()
    for surface, (name, window_ms, rows, schema) in FIXTURE_CONTRACTS.items():
        if surface not in have:
            register(Contract(name=name, schema=schema, surface=surface, window_ms=window_ms, rows_per_window=rows,
                              description=f"serving test fixture for {surface}"))
    return by_surface()


def contract_rows(surface: str) -> int | None:
    return by_surface()[surface].rows_per_window


def _rel_ticks(surface: str, level_ticks: int) -> np.ndarray | None:
    if surface in ("gex", "gex_flow"):
        return np.arange(-240, 241, 20)
    if surface == "bucket_radar":
        return np.arange(-400, 401, 2) if contract_rows(surface) else np.arange(-40, 41, 2)
    if surface in ("wall", "vacuum"):
        return np.arange(-level_ticks, level_ticks + 1)
    return None


def _window_table(surface: str, contract: Contract, ts: int, mid: float, rng: np.random.Generator,
                  level_ticks: int = 20) -> pa.Table:
    rel = _rel_ticks(surface, level_ticks)
    sides = None
    if surface == "wall":
        rel, sides = np.concatenate([rel, rel]), np.array(["A"] * len(rel) + ["B"] * len(rel))
    n = 1 if rel is None else len(rel)
    spot_int = int(round(mid / TICK)) * TICK_INT
    strike_anchor = int(round(mid / 5.0)) * 20 * TICK_INT
    cols = {}
    for f in contract.schema:
        name, typ = f.name, f.type
        if name == "window_end_ts_ns":
            v = np.full(n, ts, np.int64)
        elif name == "rel_ticks":
            v = rel
        elif name == "side":
            v = sides if sides is not None else np.array(["A"] * n)
        elif name == "mid_price":
            v = np.full(n, mid)
        elif name == "spot_ref_price_int":
            v = np.full(n, strike_anchor if surface in ("gex", "gex_flow") else spot_int, np.int64)
        elif name == "strike_price_int":
            v = strike_anchor + rel.astype(np.int64) * TICK_INT
        elif name == "tick_int":
            v = np.full(n, TICK_INT, np.int64)
        elif name == "price_int":
            v = spot_int + rel.astype(np.int64) * TICK_INT
        elif name == "bucket":
            v = rel // 2
        elif name == "book_valid":
            v = np.ones(n, bool)
        elif name.endswith("_price_int"):
            off = {"best_bid_price_int": -1, "best_ask_price_int": 1}.get(name, 0)
            v = np.full(n, spot_int + off * TICK_INT, np.int64)
        elif pa.types.is_integer(typ):
            v = rng.integers(0, 100, n)
        elif pa.types.is_floating(typ):
            signed = any(k in name for k in ("imbalance", "ratio", "reinforce", "d1_", "d2_", "d3_", "ofi", "gex")) \
                and not name.endswith("_abs") and "abs" not in name
            v = rng.uniform(-1, 1, n) if signed else rng.uniform(0, 1, n)
        elif pa.types.is_boolean(typ):
            v = np.ones(n, bool)
        elif pa.types.is_string(typ):
            v = np.array(["x"] * n)
        else:
            raise TypeError(f"fixture lake cannot fill column {name!r} of type {typ}")
        cols[name] = pa.array(v).cast(typ)
    if {"gex_call_abs", "gex_put_abs", "gex_abs", "gex"} <= cols.keys():  # the gex identities the contract checks
        call, put = rng.uniform(0, 1e9, n), rng.uniform(0, 1e9, n)
        cols["gex_call_abs"], cols["gex_put_abs"] = pa.array(call), pa.array(put)
        cols["gex_abs"], cols["gex"] = pa.array(call + put), pa.array(call - put)
        if "gex_imbalance_ratio" in cols:
            cols["gex_imbalance_ratio"] = pa.array((call - put) / (call + put))
    return contract.validate(pa.table(cols))


def session_times(date: str, seconds: float, start="14:30:00") -> np.ndarray:
    """Futures window ends every 500 ms from ``start`` UTC on ``date`` (ns)."""
    t0 = dt.datetime.fromisoformat(f"{date}T{start}+00:00")
    base = int(t0.timestamp()) * 1_000_000_000
    return base + np.arange(1, int(seconds * 2) + 1, dtype=np.int64) * 500_000_000


def mid_path(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 5000.0 + np.cumsum(rng.integers(-2, 3, n)) * TICK


def build_fixture_lake(lake, date: str = "2024-03-15", seconds: float = 10.0, *, surfaces=None, parts: int = 1,
                       seed: int = 0, start: str = "14:30:00", part_offset: int = 0, level_ticks: int = 20) -> dict:
    """Write ``seconds`` of every served surface for one date; returns {'ts': futures window ends, 'mid': mids}.

    ``level_ticks`` sets the wall/vacuum range (the pipeline's real range is ±400 ticks).
    """
    contracts = ensure_contracts()
    surfaces = list(surfaces or FIXTURE_CONTRACTS)
    ts = session_times(date, seconds, start)
    mid = mid_path(len(ts), seed)
    rng = np.random.default_rng(seed + 1)
    chunks = np.array_split(np.arange(len(ts)), parts)
    for s in surfaces:
        c = contracts[s]
        step = max(1, (c.window_ms or 500) // 500)
        for p, idx in enumerate(chunks):
            sel = [i for i in idx if (i + 1) % step == 0]
            if not sel:
                continue
            tables = [_window_table(s, c, int(ts[i]), float(mid[i]), rng, level_ticks) for i in sel]
            lakemod.write_partition(lake, c.name, "ES", date, pa.concat_tables(tables), part=part_offset + p)
    return {"ts": ts, "mid": mid, "date": date}


FIXTURE_DATE = "2024-03-15"


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    """The small two-part lake most serving tests stream from (import it by name into the test module)."""
    d = tmp_path_factory.mktemp("lake")
    build_fixture_lake(d, FIXTURE_DATE, seconds=6, parts=2)
    return d
