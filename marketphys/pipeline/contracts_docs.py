"""``docs/contracts.md``: every lake dataset's columns, units and invariants, generated from the registry.

Why generated: a hand-written page drifts the day a column is added. Names, types,
cadence and row counts come from the contracts; units and meanings from the same
column notes as ``docs/frontend_data.json`` (``frontend_docs.COLUMNS``, plus the raw
DBN fields below); each invariant is described from the rule that checks it, with
its own arguments (columns, bounds). ``tests/docs/test_docs_contracts.py`` fails when the
committed page differs, a column lacks a note or an invariant lacks a description.

Regenerate: ``python -m marketphys.pipeline.contracts_docs --write``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .contracts import SCHEMA_VERSION, Contract, load_all
from .frontend_docs import COLUMNS, _note

DOC_PATH = Path(__file__).resolve().parents[2] / "docs" / "contracts.md"

# raw DBN fields of the bronze MBO records (Databento's MBO schema, kept as it is)
DBN_COLUMNS: dict[str, tuple[str, str]] = {
    "publisher_id": ("id", "Databento publisher (venue/dataset) id."),
    "ts_event": ("ns since UNIX epoch (UTC)", "Matching-engine time of the event."),
    "ts_recv": ("ns since UNIX epoch (UTC)", "Capture-server receive time; the order the book is replayed in."),
    "ts_in_delta": ("ns", "ts_recv minus the exchange's send time."),
    "order_id": ("id", "Exchange order id (unique among live orders of an instrument)."),
    "price": ("1e-9 price units (Databento fixed point)", "Order price."),
    "size": ("contracts", "Order quantity of the event."),
    "flags": ("bit field", "DBN flags (last message of an event, snapshot, bad TS, ...)."),
    "channel_id": ("id", "Exchange channel the message came on."),
    "action": ("char", "A add, C cancel, M modify, T trade, F fill, R clear book."),
    "sequence": ("integer", "Exchange message sequence number."),
}

# invariant rule (the factory that built the check) -> description from the factory's arguments
INVARIANTS = {
    "strictly_increasing": lambda a: "`window_end_ts_ns` strictly increasing (one row per window).",
    "non_decreasing": lambda a: "`window_end_ts_ns` never goes back (rows of one window are contiguous).",
    "windows_increasing": lambda a: "`window_end_ts_ns` never goes back (rows of one window are contiguous).",
    "spot_when_valid": lambda a: "`spot_ref_price_int > 0` and a multiple of `tick_int` whenever `book_valid`.",
    "rel_ticks_consistent": lambda a: ("`rel_ticks` within ±400; where the table has `price_int`, "
                                       "`price_int == spot_ref_price_int + rel_ticks * tick_int`."),
    "no_nan": lambda a: f"finite (no NaN/Inf): {_cols(a['cols'])}.",
    "in_range": lambda a: f"{_cols(a.get('cols', [a.get('col')]))} within [{_num(a['lo'])}, {_num(a['hi'])}].",
    "non_negative": lambda a: f"≥ 0: {_cols(a['cols'])}.",
    "sides": lambda a: "`side` is 'A' (ask) or 'B' (bid).",
    "strike_grid": lambda a: ("exactly 25 rows per window, `rel_ticks` = −240..+240 step 20 in order "
                              "(`rel_ticks % 20 == 0`), windows strictly increasing, `spot_ref_price_int > 0`, "
                              "`strike_price_int == spot_ref_price_int + rel_ticks * 250000000`."),
    "gex_consistent": lambda a: "`gex_abs == gex_call_abs + gex_put_abs` and `gex == gex_call_abs − gex_put_abs`.",
    "one_row_per_window": lambda a: "one row per window: `window_end_ts_ns` strictly increasing.",
    "chain_consistent": lambda a: ("`gex_abs_total == gex_call_abs_total + gex_put_abs_total`, "
                                   "`|gex_total| <= gex_abs_total`; `zero_gamma_points > 0` exactly where "
                                   "`zero_gamma_found` (0 where the profile has no sign change)."),
    "book_keys": lambda a: "`side` in {'A', 'B'}; one row per (window_end_ts_ns, instrument_id, side, price_int).",
    "ts_recv_ordered": lambda a: "`ts_recv` non-decreasing (the order the book replays).",
}


def _cols(cols) -> str:
    return ", ".join(f"`{c}`" for c in cols)


def _num(v) -> str:
    return f"{float(v):g}"


def invariant_text(check) -> str:
    """Describe one invariant check from the factory that made it and that factory's arguments."""
    parts = check.__qualname__.split(".<locals>.")          # e.g. "_in_range.<locals>.check"
    rule = (parts[-2] if len(parts) > 1 else parts[0]).lstrip("_")
    args = {k: c.cell_contents for k, c in zip(check.__code__.co_freevars, check.__closure__ or ())}
    if rule not in INVARIANTS:
        raise KeyError(f"contracts_docs: no description for invariant rule {rule!r}; add it to INVARIANTS")
    return INVARIANTS[rule](args)


def column_note(contract: Contract, column: str) -> tuple[str, str]:
    key = contract.surface or contract.name.split(".")[-1]
    try:
        return _note(key, column)
    except KeyError:
        if contract.name.startswith("bronze.") and column in DBN_COLUMNS:
            return DBN_COLUMNS[column]
        raise KeyError(f"contracts_docs: no unit/meaning for column {column!r} of {contract.name}; "
                       f"add it to frontend_docs.COLUMNS (or DBN_COLUMNS for raw DBN fields)") from None


def _cadence(c: Contract) -> str:
    if c.window_ms is None:
        return "per record" if c.name.startswith("bronze.") else "per calibration"
    rows = "a variable number of rows" if c.rows_per_window is None else \
        f"{c.rows_per_window} row{'s' if c.rows_per_window != 1 else ''}"
    return f"every {c.window_ms} ms, {rows} per window"


def _lake_path(name: str) -> str:
    layer, rest = name.split(".", 1)
    return f"lake/{layer}/<PRODUCT>/{rest}/date=YYYY-MM-DD/part-NNNNN.parquet"


def render() -> str:
    reg = load_all()
    out = [
        "# Data contracts",
        "",
        "<!-- generated by `python -m marketphys.pipeline.contracts_docs --write`; do not edit by hand -->",
        "",
        f"Every dataset in the lake has a contract in code (`marketphys/pipeline/contracts_*.py`, schema version "
        f"{SCHEMA_VERSION}): its Arrow schema and invariants. Every stage writes and every reader reads through it, "
        "so a table that breaks one fails loudly with the dataset, the rule and a bad value "
        "(`ContractError`). This page is generated from that registry; a test fails if it drifts.",
        "",
        "Conventions: prices ending in `_int` are integers in 1e-9 units (Databento fixed point; ES tick 0.25 = "
        "250000000, strikes every $5 = 20 ticks); `*_ts_ns` are ns since the UNIX epoch (UTC); `rel_ticks` counts "
        "ticks from the row's `spot_ref_price_int`; `window_end_ts_ns` is the end of the window the row describes "
        "(state at that time, flows during the window). GEX is in USD per 1% move of the future "
        "(gamma × OI × 50 × F² × 0.01; calls +, puts −). `*_norm` columns use the gold q05/q95 calibration. "
        "What the server streams (surface keys, wire format) is in `docs/DOCS_FRONTEND.md` and "
        "`docs/frontend_data.json`.",
        "",
        "Datasets written without a contract of their own (raw records kept as DBN gives them): "
        "`bronze.definition`, `bronze.statistics`, `bronze.future_option_mbo.mbo`.",
        "",
        "| dataset | served as | cadence |",
        "|---|---|---|",
    ]
    contracts = sorted(reg.values(), key=lambda c: c.name)
    for c in contracts:
        out.append(f"| [`{c.name}`](#{c.name.replace('.', '')}) | {c.surface or '—'} | {_cadence(c)} |")
    for c in contracts:
        out += ["", f"## {c.name}", "", c.description or "", "",
                f"- lake path: `{_lake_path(c.name)}`",
                f"- cadence: {_cadence(c)}",
                f"- served as: {'`' + c.surface + '`' if c.surface else 'not served'}", ""]
        out += ["| column | type | unit | meaning |", "|---|---|---|---|"]
        for f in c.schema:
            unit, meaning = column_note(c, f.name)
            out.append(f"| `{f.name}` | {f.type} | {unit} | {meaning.replace('|', '/')} |")
        out += ["", "Invariants (checked on every write):", ""]
        texts = [invariant_text(inv) for inv in c.invariants]
        out += [f"- {t}" for t in dict.fromkeys(texts)] or ["- schema only (names and types)."]
    return "\n".join(out) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help=f"write {DOC_PATH}")
    ap.add_argument("--check", action="store_true", help="exit 1 if the committed page is stale")
    args = ap.parse_args(argv)
    text = render()
    if args.write:
        DOC_PATH.write_text(text)
        print(f"wrote {DOC_PATH}")
    elif args.check:
        if not DOC_PATH.exists() or DOC_PATH.read_text() != text:
            print(f"{DOC_PATH} is stale: run python -m marketphys.pipeline.contracts_docs --write")
            return 1
    else:
        print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

__all__ = ["render", "invariant_text", "column_note", "COLUMNS", "DBN_COLUMNS", "INVARIANTS"]
