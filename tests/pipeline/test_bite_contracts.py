"""One rejection test per contract rule, parametrised over the registry.

Every invariant of every registered contract is found by introspection (its kind is the
factory that made it, its parameters the closure's), and each gets a broken copy of a valid
table that only that rule forbids; the error must name the rule's column. A rule of a kind
this file does not know fails ``test_every_rule_kind_has_a_rejection_case``, so a new rule
cannot go untested. Schema rules (a missing column, a wrong type) are checked per contract.
"""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pytest

from marketphys.pipeline.contracts import Contract, ContractError, load_all

from fixtures_serving import _window_table

REGISTRY = load_all()
WINDOW_NS = {500: 500_000_000, 1000: 1_000_000_000}
T0 = 1_710_513_000_000_000_000


def _put(t: pa.Table, col: str, idx, value) -> pa.Table:
    typ = t.schema.field(col).type
    if pa.types.is_string(typ):
        arr = np.array(t.column(col).to_pylist(), dtype=object)
    else:
        arr = t.column(col).to_numpy(zero_copy_only=False).copy()
    arr[idx] = value
    return t.set_column(t.schema.get_field_index(col), col, pa.array(arr).cast(typ))


def valid_table(c: Contract) -> pa.Table:
    """Two windows that pass ``c``: built per served surface, by hand for the others."""
    rng = np.random.default_rng(0)
    if c.surface:
        step = WINDOW_NS[c.window_ms]
        t = pa.concat_tables([_window_table(c.surface, c, T0 + k * step, 5000.0 + k, rng) for k in (1, 2)])
    elif c.name.endswith(("book_flow_1s", "book_wall_1s")):
        n = 4
        cols = {"window_end_ts_ns": [T0 + 1_000_000_000] * 2 + [T0 + 2_000_000_000] * 2, "instrument_id": [11] * n,
                "side": ["A", "B", "A", "B"], "price_int": [5_000_000_000] * n}
        cols |= {f.name: rng.integers(0, 50, n) for f in c.schema if f.name not in cols}
        t = pa.table({f.name: pa.array(cols[f.name]).cast(f.type) for f in c.schema})
    elif c.name == "gold.hud.physics_norm_calibration":
        cols = {"metric": ["flow_abs", "flow_reinforce"], "q05": [0.5, -8.0], "q95": [9.0, 2.0], "signed": [False, True],
                "n": [10, 12], "period_start": ["2024-03-01"] * 2, "period_end": ["2024-03-15"] * 2, "version": [1, 1],
                "source": ["rolling:10d"] * 2, "computed_at_ns": [T0, T0]}
        t = pa.table({f.name: pa.array(cols[f.name]).cast(f.type) for f in c.schema})
    elif c.name.endswith("gex_chain_1s"):
        # one row per window; abs total == call + put, |net| < abs total, zero gamma > 0 exactly where found
        call, put = np.array([3.0e9, 1.0e9]), np.array([1.0e9, 2.5e9])
        cols = {"window_end_ts_ns": [T0 + 1_000_000_000, T0 + 2_000_000_000], "underlying_spot_ref": [5000.0, 5001.0],
                "spot_ref_price_int": [5_000_000_000_000, 5_001_000_000_000], "gex_total": call - put,
                "gex_abs_total": call + put, "gex_call_abs_total": call, "gex_put_abs_total": put,
                "zero_gamma_points": [4990.0, 0.0], "zero_gamma_found": [True, False],
                "band_half_width_points": [120.0, 120.0], "options_priced": [40, 42]}
        t = pa.table({f.name: pa.array(cols[f.name]).cast(f.type) for f in c.schema})
    else:  # bronze: any values of the DBN types
        t = pa.table({f.name: pa.array(["A", "B"] if pa.types.is_string(f.type) else [1, 2]).cast(f.type)
                      for f in c.schema})
    return c.validate(t)


def rule_kind(inv) -> tuple[str, dict]:
    params = dict(zip(inv.__code__.co_freevars, (cell.cell_contents for cell in inv.__closure__ or ())))
    return inv.__qualname__.split(".")[0], params


# kind -> list of (case label, breaker(table, params) -> table, regex the error must match)
def _ts_back(t, p):
    ts = t.column("window_end_ts_ns").to_numpy().copy()
    ts[-1] = ts[0] - 1
    return _put(t, "window_end_ts_ns", slice(None), ts)


def _ts_repeat(t, p):
    return t.take([0, 0] + list(range(1, t.num_rows)))


CASES = {
    "_strictly_increasing": [("repeat", lambda t, p, c: _ts_repeat(t, p), r"not strictly increasing")],
    "_non_decreasing": [("back", lambda t, p, c: _ts_back(t, p), r"goes backwards")],
    "windows_increasing": [("back", lambda t, p, c: _ts_back(t, p), r"must not go back")],
    "_spot_when_valid": [
        ("zero", lambda t, p, c: _put(t, "spot_ref_price_int", 0, 0), r"spot_ref_price_int=0 with book_valid"),
        ("off-tick", lambda t, p, c: _put(t, "spot_ref_price_int", 0, t.column("spot_ref_price_int")[0].as_py() + 1),
         r"spot_ref_price_int=\d+ is not tick-aligned"),
    ],
    "_rel_ticks_consistent": [
        ("band", lambda t, p, c: _put(_put(t, "rel_ticks", 0, 401), "price_int", 0,
                                      t.column("spot_ref_price_int")[0].as_py() + 401 * t.column("tick_int")[0].as_py())
         if "price_int" in t.column_names else _put(t, "rel_ticks", 0, 401), r"rel_ticks outside ±400"),
        ("price", lambda t, p, c: _put(t, "price_int", 0, t.column("price_int")[0].as_py() + 1),
         r"price_int=\d+ != spot_ref_price_int"),
    ],
    "_sides": [("side", lambda t, p, c: _put(t, "side", 0, "C"), r"side must be 'A' or 'B'")],
    "_no_nan": [("nan", lambda t, p, c: _put(t, c, 0, np.nan), r"column '{c}' is not finite"),
                ("inf", lambda t, p, c: _put(t, c, 1, -np.inf), r"column '{c}' is not finite")],
    "no_nan": [("nan", lambda t, p, c: _put(t, c, 0, np.nan), r"{c} must be finite"),
               ("inf", lambda t, p, c: _put(t, c, 1, np.inf), r"{c} must be finite")],
    "_in_range": [("above", lambda t, p, c: _put(t, c, 0, p["hi"] + 0.01), r"column '{c}' outside"),
                  ("below", lambda t, p, c: _put(t, c, 0, p["lo"] - 0.01), r"column '{c}' outside")],
    "in_range": [("above", lambda t, p, c: _put(t, c, 0, p["hi"] + 0.01), r"{c} must lie in"),
                 ("below", lambda t, p, c: _put(t, c, 0, p["lo"] - 0.01), r"{c} must lie in")],
    "non_negative": [("negative", lambda t, p, c: _put(t, c, 0, -1), r"{c} >= 0")],
    "gex_consistent": [
        ("sum", lambda t, p, c: _put(t, "gex_abs", 0, t.column("gex_abs")[0].as_py() * 1.01 + 1), r"gex_abs == call \+ put"),
        ("net", lambda t, p, c: _put(t, "gex", 0, t.column("gex")[0].as_py() + 1e3), r"gex == call - put"),
    ],
    "strike_grid": [
        ("row-count", lambda t, p, c: t.slice(0, t.num_rows - 1), r"windows of exactly 25"),
        ("per-window", lambda t, p, c: _put(t, "window_end_ts_ns", 0, t.column("window_end_ts_ns")[30].as_py()),
         r"exactly 25 rows per window"),
        ("swap", lambda t, p, c: pa.concat_tables([t.slice(25, 25), t.slice(0, 25)]), r"strictly increasing across"),
        ("step", lambda t, p, c: _put(_put(t, "rel_ticks", 3, -179), "strike_price_int", 3,
                                      t.column("strike_price_int")[3].as_py() + 250_000_000), r"rel_ticks % 20 == 0"),
        ("order", lambda t, p, c: _put(_put(t, "rel_ticks", [0, 1], [-220, -240]), "strike_price_int", [0, 1],
                                       [t.column("strike_price_int")[1].as_py(), t.column("strike_price_int")[0].as_py()]),
         r"-240\.\.\+240 step 20 in order"),
        ("spot", lambda t, p, c: _put(_put(t, "spot_ref_price_int", slice(0, 25), 0), "strike_price_int", slice(0, 25),
                                      np.arange(-240, 241, 20) * 250_000_000), r"spot_ref_price_int > 0"),
        ("strike", lambda t, p, c: _put(t, "strike_price_int", 7, t.column("strike_price_int")[7].as_py() + 1),
         r"strike_price_int == spot_ref_price_int \+ rel_ticks"),
    ],
    "one_row_per_window": [
        ("repeat", lambda t, p, c: _ts_repeat(t, p), r"one row per window, window_end_ts_ns strictly increasing"),
        ("back", lambda t, p, c: _ts_back(t, p), r"one row per window, window_end_ts_ns strictly increasing"),
    ],
    "chain_consistent": [
        ("sum", lambda t, p, c: _put(t, "gex_abs_total", 0, t.column("gex_abs_total")[0].as_py() * 1.01),
         r"gex_abs_total == call \+ put"),
        # the net total beyond the absolute total, with call + put still summing (only the bound breaks)
        ("net", lambda t, p, c: _put(t, "gex_total", 1, -t.column("gex_abs_total")[1].as_py() * 1.5),
         r"\|gex_total\| <= gex_abs_total"),
        ("zero-gamma-missing", lambda t, p, c: _put(t, "zero_gamma_points", 1, 4995.0),
         r"zero_gamma_points > 0 exactly where zero_gamma_found"),
        ("zero-gamma-found", lambda t, p, c: _put(t, "zero_gamma_found", 0, False),
         r"zero_gamma_points > 0 exactly where zero_gamma_found"),
    ],
    "book_keys": [("side", lambda t, p, c: _put(t, "side", 1, "X"), r"side in \{'A', 'B'\}.*'X'"),
                  ("duplicate", lambda t, p, c: _put(t, "side", 1, "A"), r"one row per \(window_end_ts_ns")],
}
PER_COLUMN = {"_no_nan", "no_nan", "_in_range", "in_range", "non_negative"}


def _cases():
    out = []
    for name, c in sorted(REGISTRY.items()):
        for i, inv in enumerate(c.invariants):
            kind, params = rule_kind(inv)
            cols = params.get("cols") or ([params["col"]] if "col" in params else [None])
            for col in (cols if kind in PER_COLUMN else [None]):
                for label, _, _ in CASES.get(kind, []):
                    if label == "price" and "price_int" not in c.schema.names:
                        continue  # that branch of the rule needs a price_int column
                    out.append(pytest.param(name, i, col, label, id=f"{name}:{kind}:{col or ''}:{label}"))
    return out


def test_every_rule_kind_has_a_rejection_case():
    kinds = {rule_kind(inv)[0] for c in REGISTRY.values() for inv in c.invariants}
    assert kinds <= set(CASES), f"contract rules without a rejection case: {sorted(kinds - set(CASES))}"
    assert len(_cases()) >= 60


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_valid_tables_pass(name):
    assert valid_table(REGISTRY[name]).num_rows >= 2


@pytest.mark.parametrize("name,i,col,label", _cases())
def test_each_rule_rejects_its_breach(name, i, col, label):
    c = REGISTRY[name]
    inv = c.invariants[i]
    kind, params = rule_kind(inv)
    (_, breaker, pattern), = [x for x in CASES[kind] if x[0] == label]
    good = valid_table(c)
    inv(good)  # the rule alone accepts the valid table
    bad = breaker(good, params, col)
    pattern = pattern.replace("{c}", re.escape(col or ""))
    with pytest.raises(ContractError, match=pattern):
        inv(bad)                     # the rule itself rejects it ...
    with pytest.raises(ContractError, match=re.escape(name)):
        c.validate(bad)              # ... and so does the contract, naming the dataset


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_schema_rules_missing_column_and_wrong_type(name):
    c = REGISTRY[name]
    good = valid_table(c)
    col = c.schema.names[-1]
    with pytest.raises(ContractError, match=rf"missing columns \['{re.escape(col)}'\]"):
        c.validate(good.drop([col]))
    f = c.schema.field(col)
    other = pa.string() if not pa.types.is_string(f.type) else pa.large_string()
    wrong = good.set_column(good.schema.get_field_index(col), col, good.column(col).cast(other))
    with pytest.raises(ContractError, match=rf"column '{re.escape(col)}' has type"):
        c.validate(wrong)
