"""Contracts of the options silver datasets and the gold calibration (docs/architecture.md#data-pipeline).

Each invariant raises ``ContractError`` naming the dataset, the rule and a bad value.
Strike surfaces (``gex``, ``gex_flow``) are served; book_flow / book_wall are not served
by default (they are keyed by option premium price, not underlying ticks).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .contracts import Contract, ContractError, register
from .gex import N_ROWS, REL_TICKS, STRIKE_TICKS

_I64, _F64, _I32 = pa.int64(), pa.float64(), pa.int32()

STRIKE_KEYS = [
    pa.field("window_end_ts_ns", _I64), pa.field("strike_price_int", _I64), pa.field("strike_points", _F64),
    pa.field("underlying_spot_ref", _F64), pa.field("spot_ref_price_int", _I64), pa.field("rel_ticks", _I32),
]
GEX_VALUES = ["gex", "gex_abs", "gex_call_abs", "gex_put_abs", "gex_imbalance_ratio"]
GEX_DERIVS = [f"d{d}_{k}" for k in ("gex_abs", "gex", "gex_imbalance_ratio") for d in (1, 2, 3)]
GEX_SCHEMA = pa.schema(STRIKE_KEYS + [pa.field(c, _F64) for c in GEX_VALUES + GEX_DERIVS])

FLOW_RAW = ["add_qty_sum", "pull_qty_sum", "fill_qty_sum", "flow_reinforce", "flow_abs", "pull_rest_qty_sum",
            "depth_total_sum", "pull_rest_intensity"]
FLOW_NORM = ["flow_abs_norm", "flow_reinforce_norm", "pull_rest_intensity_norm"]
GEX_FLOW_SCHEMA = pa.schema(STRIKE_KEYS + [pa.field(c, _F64) for c in FLOW_RAW + FLOW_NORM])

CHAIN_SCHEMA = pa.schema([
    pa.field("window_end_ts_ns", _I64), pa.field("underlying_spot_ref", _F64), pa.field("spot_ref_price_int", _I64),
    pa.field("gex_total", _F64), pa.field("gex_abs_total", _F64), pa.field("gex_call_abs_total", _F64),
    pa.field("gex_put_abs_total", _F64), pa.field("zero_gamma_points", _F64), pa.field("zero_gamma_found", pa.bool_()),
    pa.field("band_half_width_points", _F64), pa.field("options_priced", _I64),
])
CHAIN_VALUES = ["underlying_spot_ref", "gex_total", "gex_abs_total", "gex_call_abs_total", "gex_put_abs_total",
                "zero_gamma_points", "band_half_width_points"]

BOOK_KEYS = [pa.field("window_end_ts_ns", _I64), pa.field("instrument_id", pa.uint32()), pa.field("side", pa.string()),
             pa.field("price_int", _I64)]
BOOK_FLOW_SCHEMA = pa.schema(BOOK_KEYS + [pa.field(c, _I64) for c in ("add_qty", "pull_qty", "fill_qty")])
BOOK_WALL_SCHEMA = pa.schema(BOOK_KEYS + [pa.field(c, _I64) for c in ("add_qty", "pull_qty", "fill_qty",
                                                                       "depth_total", "pull_rest_qty")])
CALIBRATION_SCHEMA = pa.schema([
    pa.field("metric", pa.string()), pa.field("q05", _F64), pa.field("q95", _F64), pa.field("signed", pa.bool_()),
    pa.field("n", _I64), pa.field("period_start", pa.string()), pa.field("period_end", pa.string()),
    pa.field("version", _I64), pa.field("source", pa.string()), pa.field("computed_at_ns", _I64),
])

# ---- invariants (each takes a table, raises ContractError) -------------------------------


def _np(t, c):
    return t.column(c).to_numpy(zero_copy_only=False)


def _fail(name, rule, value):
    raise ContractError(f"{name}: {rule} (got {value!r})")


def windows_increasing(name):
    def check(t: pa.Table):
        w = _np(t, "window_end_ts_ns")
        if len(w) and (np.diff(w) < 0).any():
            i = int(np.flatnonzero(np.diff(w) < 0)[0])
            _fail(name, f"window_end_ts_ns must not go back (row {i + 1})", int(w[i + 1]))
    return check


def strike_grid(name):
    def check(t: pa.Table):
        w = _np(t, "window_end_ts_ns")
        if len(w) % N_ROWS:
            _fail(name, f"rows must come in windows of exactly {N_ROWS}", len(w))
        uw, counts = np.unique(w, return_counts=True)
        if (counts != N_ROWS).any():
            _fail(name, f"exactly {N_ROWS} rows per window", int(counts[counts != N_ROWS][0]))
        if len(w) and (np.diff(w.reshape(-1, N_ROWS)[:, 0]) <= 0).any():
            _fail(name, "window_end_ts_ns strictly increasing across windows", "a repeated or earlier window")
        rt = _np(t, "rel_ticks")
        if (rt % STRIKE_TICKS != 0).any():
            _fail(name, f"rel_ticks % {STRIKE_TICKS} == 0", int(rt[rt % STRIKE_TICKS != 0][0]))
        if len(rt) and not (rt.reshape(-1, N_ROWS) == REL_TICKS).all():
            _fail(name, "rel_ticks must be -240..+240 step 20 in order within each window", rt[:N_ROWS].tolist())
        ref = _np(t, "spot_ref_price_int")
        if (ref <= 0).any():
            _fail(name, "spot_ref_price_int > 0 (rows exist only where the futures book is valid)", int(ref.min()))
        k = _np(t, "strike_price_int")
        if (k != ref + rt.astype(np.int64) * 250_000_000).any():
            _fail(name, "strike_price_int == spot_ref_price_int + rel_ticks * tick", int(k[0]))
    return check


def no_nan(name, cols):
    def check(t: pa.Table):
        for c in cols:
            v = _np(t, c)
            if not np.isfinite(v).all():
                _fail(name, f"{c} must be finite", float(v[~np.isfinite(v)][0]))
    return check


def in_range(name, col, lo, hi):
    def check(t: pa.Table):
        v = _np(t, col)
        bad = (v < lo - 1e-12) | (v > hi + 1e-12)
        if bad.any():
            _fail(name, f"{col} must lie in [{lo}, {hi}]", float(v[bad][0]))
    return check


def non_negative(name, cols):
    def check(t: pa.Table):
        for c in cols:
            v = _np(t, c)
            if (v < 0).any():
                _fail(name, f"{c} >= 0", float(v[v < 0][0]))
    return check


def gex_consistent(name):
    def check(t: pa.Table):
        call, put, tot, net = (_np(t, c) for c in ("gex_call_abs", "gex_put_abs", "gex_abs", "gex"))
        scale = np.maximum(1.0, np.abs(tot))
        if (np.abs(call + put - tot) > 1e-9 * scale).any() or (np.abs(call - put - net) > 1e-9 * scale).any():
            _fail(name, "gex_abs == call + put and gex == call - put", "mismatch")
    return check


def one_row_per_window(name):
    def check(t: pa.Table):
        w = _np(t, "window_end_ts_ns")
        if len(w) > 1 and (np.diff(w) <= 0).any():
            _fail(name, "one row per window, window_end_ts_ns strictly increasing", int(w[1:][np.diff(w) <= 0][0]))
    return check


def chain_consistent(name):
    def check(t: pa.Table):
        call, put, tot, net = (_np(t, c) for c in ("gex_call_abs_total", "gex_put_abs_total", "gex_abs_total",
                                                    "gex_total"))
        scale = np.maximum(1.0, np.abs(tot))
        if (np.abs(call + put - tot) > 1e-9 * scale).any() or (np.abs(net) > tot + 1e-9 * scale).any():
            _fail(name, "gex_abs_total == call + put and |gex_total| <= gex_abs_total", "mismatch")
        found, zg = _np(t, "zero_gamma_found"), _np(t, "zero_gamma_points")
        if ((zg > 0) != found).any():
            _fail(name, "zero_gamma_points > 0 exactly where zero_gamma_found (0 where none)", float(zg[(zg > 0) != found][0]))
    return check


def book_keys(name):
    def check(t: pa.Table):
        side = t.column("side")
        bad = pc.invert(pc.is_in(side, pa.array(["A", "B"])))
        if pc.any(bad).as_py():
            _fail(name, "side in {'A', 'B'}", pc.filter(side, bad)[0].as_py())
        if t.num_rows < 2:
            return
        w, inst, price = _np(t, "window_end_ts_ns"), _np(t, "instrument_id"), _np(t, "price_int")
        is_b = pc.equal(side, "B").to_numpy(zero_copy_only=False)
        # rows as the stage writes them are sorted by the key: one linear pass; otherwise sort first
        key = (w, inst, is_b, price)
        ahead = [a[1:] > a[:-1] for a in key]
        same = [a[1:] == a[:-1] for a in key]
        ok = ahead[3] | ~same[3]                    # strictly increasing (lexicographic) from the last key up
        for k in (2, 1, 0):
            ok = ahead[k] | (same[k] & ok)
        if ok.all():
            return
        order = np.lexsort((price, is_b, inst, w))  # stable: a repeat's later rows follow its first one
        dup = np.ones(len(order) - 1, bool)
        for a in key:
            dup &= a[order][1:] == a[order][:-1]
        if dup.any():
            first = int(order[1:][dup].min())       # the first row (in table order) that repeats a key
            _fail(name, "one row per (window_end_ts_ns, instrument_id, side, price_int)",
                  [int(w[first]), int(inst[first]), "B" if is_b[first] else "A", int(price[first])])
    return check


def _reg(name, schema, invariants, surface=None, window_ms=1000, rows=None, description=""):
    return register(Contract(name=name, schema=schema, surface=surface, window_ms=window_ms, rows_per_window=rows,
                             description=description, invariants=tuple(invariants)))


GEX = "silver.future_option_mbo.gex_surface_1s"
GEX_FLOW = "silver.future_option_mbo.gex_flow_surface_1s"
BOOK_FLOW = "silver.future_option_mbo.book_flow_1s"
BOOK_WALL = "silver.future_option_mbo.book_wall_1s"
CALIBRATION = "gold.hud.physics_norm_calibration"
CHAIN = "silver.future_option_mbo.gex_chain_1s"

_reg(GEX, GEX_SCHEMA, [windows_increasing(GEX), strike_grid(GEX), no_nan(GEX, GEX_VALUES + GEX_DERIVS),
                       non_negative(GEX, ["gex_abs", "gex_call_abs", "gex_put_abs"]), gex_consistent(GEX),
                       in_range(GEX, "gex_imbalance_ratio", -1, 1)],
     surface="gex", rows=N_ROWS,
     description="Dealer gamma exposure per $5 strike around the futures spot, USD per 1% move; calls +, puts -.")
_reg(GEX_FLOW, GEX_FLOW_SCHEMA, [windows_increasing(GEX_FLOW), strike_grid(GEX_FLOW), no_nan(GEX_FLOW, FLOW_RAW + FLOW_NORM),
                                 non_negative(GEX_FLOW, ["add_qty_sum", "pull_qty_sum", "fill_qty_sum", "flow_abs",
                                                         "pull_rest_qty_sum", "depth_total_sum", "pull_rest_intensity"]),
                                 in_range(GEX_FLOW, "flow_abs_norm", 0, 1), in_range(GEX_FLOW, "flow_reinforce_norm", -1, 1),
                                 in_range(GEX_FLOW, "pull_rest_intensity_norm", 0, 1)],
     surface="gex_flow", rows=N_ROWS,
     description="Options order-book flow (all options at a strike) per $5 strike around the futures spot.")
_reg(CHAIN, CHAIN_SCHEMA, [one_row_per_window(CHAIN), no_nan(CHAIN, CHAIN_VALUES),
                           non_negative(CHAIN, ["gex_abs_total", "gex_call_abs_total", "gex_put_abs_total",
                                                "zero_gamma_points", "band_half_width_points", "options_priced"]),
                           chain_consistent(CHAIN)],
     rows=1,
     description="Per window, over every option the stage priced (its strike band): the net and absolute GEX total "
                 "and the zero-gamma level (where the GEX profile over underlying levels changes sign).")
_reg(BOOK_FLOW, BOOK_FLOW_SCHEMA, [windows_increasing(BOOK_FLOW), book_keys(BOOK_FLOW),
                                   non_negative(BOOK_FLOW, ["add_qty", "pull_qty", "fill_qty"])],
     description="Per option price level: quantities added, pulled (cancelled, not filled) and filled in the window.")
_reg(BOOK_WALL, BOOK_WALL_SCHEMA, [windows_increasing(BOOK_WALL), book_keys(BOOK_WALL),
                                   non_negative(BOOK_WALL, ["add_qty", "pull_qty", "fill_qty", "depth_total", "pull_rest_qty"])],
     description="book_flow_1s plus resting depth at window end and the pulls from orders that had rested.")
_reg(CALIBRATION, CALIBRATION_SCHEMA, [no_nan(CALIBRATION, ["q05", "q95"])], window_ms=None,
     description="q05/q95 per metric that the partition's day is normalised with, from earlier days only "
                 "(the last 20 trading days; a first day: the bundled default); versioned; silver *_norm columns "
                 "use it.")
