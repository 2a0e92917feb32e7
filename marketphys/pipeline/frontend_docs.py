"""``docs/frontend_data.json``: generated from the contract registry plus the column notes below.

Why generated: the JSON is what frontend engineers treat as law, so it must say exactly
what the code produces. Names, types, cadence and row counts come from the contracts;
only units and meanings are written here. ``tests/docs/test_options_docs.py`` fails when the
committed JSON differs from what this module generates, or when a column lacks a note.

Regenerate: ``python -m marketphys.pipeline.frontend_docs --write``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .contracts import SCHEMA_VERSION, load_all

STREAM_PATH = "/v1/hud/stream"
DEFAULT_SURFACES = ("snap", "wall", "vacuum", "physics", "gex", "bucket_radar")
OPTIONAL_SURFACES = ("gex_flow",)
JSON_PATH = Path(__file__).resolve().parents[2] / "docs" / "frontend_data.json"

_P = "1e-9 price units (Databento fixed point)"
# column -> (unit, meaning); "surface.column" overrides a plain column name
COLUMNS: dict[str, tuple[str, str]] = {
    "window_end_ts_ns": ("ns since UNIX epoch (UTC)", "End of the window (exclusive); the row describes state at this time."),
    "instrument_id": ("id", "Databento/CME instrument id."),
    "mid_price": ("index points", "Futures mid (best bid + best ask) / 2 at window end."),
    "spot_ref_price_int": (_P, "Futures spot reference: mid snapped to the tick grid; > 0 whenever book_valid."),
    "tick_int": (_P, "Tick size (ES: 250000000 = 0.25)."),
    "book_valid": ("bool", "False while the futures book is rebuilding (snapshot recovery), not yet known whole "
                           "(no snapshot or clear seen, unless a partial book was allowed), crossed or one-sided."),
    "best_bid_price_int": (_P, "Best bid at window end."), "best_bid_qty": ("contracts", "Quantity at the best bid."),
    "best_ask_price_int": (_P, "Best ask at window end."), "best_ask_qty": ("contracts", "Quantity at the best ask."),
    "last_trade_price_int": (_P, "Price of the last trade at or before window end."),
    "last_trade_qty": ("contracts", "Size of the last trade."),
    "volume": ("contracts", "Traded volume in the window."), "trade_count": ("trades", "Trades in the window."),
    "msg_count": ("messages", "MBO messages in the window."),
    "unknown_order_events": ("messages", "Cancels, modifies and fills in the window on order ids the book does not "
                                         "hold: > 0 means a partial book (a stream that started without a snapshot)."),
    "rel_ticks": ("ticks", "Level offset from spot_ref_price_int, in ticks (0.25)."),
    "side": ("'A'/'B'", "Ask (sell) or bid (buy) side."),
    "price_int": (_P, "Absolute price of the level."),
    "depth_qty_rest": ("contracts", "Resting depth of orders older than 500 ms; display intensity = log1p."),
    "depth_qty": ("contracts", "All resting depth at the level."),
    "add_qty": ("contracts", "Quantity added in the window."),
    "pull_qty_total": ("contracts", "Quantity cancelled (not filled) in the window."),
    "fill_qty": ("contracts", "Quantity filled in the window."),
    "d1_depth_qty": ("contracts", "First difference of depth_qty across windows."),
    "d2_depth_qty": ("contracts", "Second difference of depth_qty across windows."),
    "vacuum_score": ("0..1", "Liquidity eroding: tanh(max(0, pull - add) / (previous depth + 1))."),
    "d2_pull_add_log": ("log contracts", "Second difference of pull_add_log across windows."),
    "wall_erosion": ("0..1", "Fraction of resting depth lost since the previous window."),
    "pull_add_log": ("log contracts", "log1p(pull) - log1p(add)."),
    "above_score": ("0..1", "Ease of moving up: opposing near depth share and vacuum within 10 ticks."),
    "below_score": ("0..1", "Ease of moving down."),
    "ofi": ("contracts", "Cont-Kukanov-Stoikov order-flow imbalance over the window."),
    "book_imbalance": ("-1..1", "(bid - ask) / (bid + ask) depth within 10 ticks."),
    "trade_imbalance": ("-1..1", "(buy - sell) aggressor volume / volume."),
    "buy_volume": ("contracts", "Buy-aggressor volume."), "sell_volume": ("contracts", "Sell-aggressor volume."),
    "bucket": ("Δx buckets (2 ticks)", "Bucket index i in -200..200 (levels rel_ticks 2i and 2i+1)."),
    "bucket_radar.depth_qty": ("contracts", "Depth in the bucket."),
    "bucket_radar.depth_qty_rest": ("contracts", "Resting (>= 500 ms) depth in the bucket."),
    "depletion_qty": ("contracts", "Pulled + filled in the bucket in the window."),
    "reinforcement_qty": ("contracts", "Added in the bucket in the window."),
    "imbalance": ("-1..1", "Bid-ask depth imbalance in the bucket."),
    "bucket_radar.vacuum_score": ("0..1", "Max vacuum_score of the bucket's levels."),
    "depth_log": ("log contracts", "log1p(depth_qty)."),
    # options strike surfaces
    "strike_price_int": (_P, "Strike of the row = spot_ref_price_int + rel_ticks * tick."),
    "strike_points": ("index points", "Strike of the row ($5 grid)."),
    "underlying_spot_ref": ("index points", "Futures tick-aligned spot at window end (before snapping to the strike grid)."),
    "gex.spot_ref_price_int": (_P, "Grid centre: the futures spot snapped to the nearest $5 strike; rel_ticks count from here."),
    "gex_flow.spot_ref_price_int": (_P, "Grid centre: the futures spot snapped to the nearest $5 strike; rel_ticks count from here."),
    "gex.rel_ticks": ("ticks", "-240..+240 step 20: 25 strike rows centred on the snapped spot."),
    "gex_flow.rel_ticks": ("ticks", "-240..+240 step 20: 25 strike rows centred on the snapped spot."),
    "gex": ("USD per 1% move of F", "Net dealer gamma exposure at the strike: calls +, puts - (dealers long calls, short puts)."),
    "gex_abs": ("USD per 1% move of F", "gex_call_abs + gex_put_abs."),
    "gex_call_abs": ("USD per 1% move of F", "Sum over calls at the strike of gamma * OI * 50 * F^2 * 0.01."),
    "gex_put_abs": ("USD per 1% move of F", "Same over puts (a magnitude, >= 0)."),
    "gex_imbalance_ratio": ("-1..1", "gex / gex_abs (0 where the strike has no gamma)."),
    **{f"d{d}_{k}": (u, f"{['First', 'Second', 'Third'][d - 1]} difference of {k} per strike across consecutive windows "
                        f"(0 when the strike was not on the previous window's grid).")
       for k, u in (("gex_abs", "USD per 1% move of F"), ("gex", "USD per 1% move of F"), ("gex_imbalance_ratio", "ratio"))
       for d in (1, 2, 3)},
    "add_qty_sum": ("contracts", "Quantity added in the window over all options at the strike (both sides, calls and puts)."),
    "pull_qty_sum": ("contracts", "Quantity cancelled (not filled) in the window over all options at the strike."),
    "fill_qty_sum": ("contracts", "Quantity filled in the window over all options at the strike."),
    "flow_reinforce": ("contracts", "add - pull - fill: > 0 the strike's book thickens, < 0 it erodes."),
    "flow_abs": ("contracts", "add + pull + fill: activity at the strike."),
    "pull_rest_qty_sum": ("contracts", "Cancelled quantity from orders that had rested >= 500 ms."),
    "depth_total_sum": ("contracts", "Resting quantity at window end over all options at the strike."),
    "pull_rest_intensity": ("ratio", "pull_rest_qty_sum / (depth_total_sum + 1)."),
    "flow_abs_norm": ("0..1", "clip((flow_abs - q05) / (q95 - q05)) with gold q05/q95."),
    "flow_reinforce_norm": ("-1..1", "clip(flow_reinforce / max(|q05|, |q95|)): sign kept."),
    "pull_rest_intensity_norm": ("0..1", "clip((pull_rest_intensity - q05) / (q95 - q05))."),
    # options chain scalar (one row per window)
    "gex_chain_1s.underlying_spot_ref": ("index points", "Futures tick-aligned spot at window end."),
    "gex_chain_1s.spot_ref_price_int": (_P, "The futures spot snapped to the nearest $5 strike (the band's centre)."),
    "gex_total": ("USD per 1% move of F", "Net dealer GEX over every option priced (the band): calls +, puts -."),
    "gex_abs_total": ("USD per 1% move of F", "gex_call_abs_total + gex_put_abs_total."),
    "gex_call_abs_total": ("USD per 1% move of F", "Sum over the band's calls of gamma * OI * multiplier * F^2 * 0.01."),
    "gex_put_abs_total": ("USD per 1% move of F", "Same over the band's puts (a magnitude, >= 0)."),
    "zero_gamma_points": ("index points", "Futures level nearest the spot where the net GEX profile (IVs held) changes "
                                          "sign, within +-5 %; 0 where it does not."),
    "zero_gamma_found": ("bool", "True where the profile changes sign within +-5 % of the spot."),
    "band_half_width_points": ("index points", "Half width of the strike band priced around the spot "
                                               "(60 = the 25 surface rows; 0 = the whole chain)."),
    "options_priced": ("options", "Options (unexpired, in the band) priced in the window."),
    # options book datasets
    "book_flow_1s.price_int": (_P, "Option premium price of the level."),
    "book_wall_1s.price_int": (_P, "Option premium price of the level."),
    "pull_qty": ("contracts", "Quantity cancelled (not filled) at the level in the window."),
    "depth_total": ("contracts", "Resting quantity at the level at window end."),
    "pull_rest_qty": ("contracts", "Part of pull_qty from orders that had rested >= the rest time (500 ms)."),
    # gold
    "metric": ("name", "Calibrated metric."), "q05": ("metric units", "5 % quantile over the period."),
    "q95": ("metric units", "95 % quantile over the period."),
    "signed": ("bool", "Signed metrics normalise to -1..1 keeping the sign."), "n": ("values", "Values the quantiles used."),
    "period_start": ("YYYY-MM-DD", "First earlier day the bands came from (empty: the bundled default)."),
    "period_end": ("YYYY-MM-DD", "Last earlier day (always before the partition's date)."),
    "version": ("integer", "0 when the day is built; +1 for each recomputation asked for (calibrate-norms "
                           "--new-version); silver uses the newest."),
    "source": ("name", "rolling:<n>d (the n earlier days of the lake) or default (a first day: data/norms)."),
    "computed_at_ns": ("ns since UNIX epoch", "When it was computed."),
}

NOT_SERVED = ("silver.future_option_mbo.book_flow_1s", "silver.future_option_mbo.book_wall_1s",
              "silver.future_option_mbo.gex_chain_1s",
              "gold.hud.physics_norm_calibration")


def _note(key: str, column: str) -> tuple[str, str]:
    for k in (f"{key}.{column}", column):
        if k in COLUMNS:
            return COLUMNS[k]
    raise KeyError(f"frontend_docs: no unit/meaning for column {column!r} of {key!r}; add it to COLUMNS")


def _columns(contract, key):
    return [{"name": f.name, "type": str(f.type), "unit": _note(key, f.name)[0], "meaning": _note(key, f.name)[1]}
            for f in contract.schema]


def generate() -> dict:
    reg = load_all()
    surfaces = {}
    for c in sorted((c for c in reg.values() if c.surface), key=lambda c: c.name):
        surfaces[c.surface] = {
            "dataset": c.name, "window_ms": c.window_ms, "rows_per_window": c.rows_per_window,
            "served_by_default": c.surface in DEFAULT_SURFACES, "description": c.description,
            "columns": _columns(c, c.surface)}
    datasets = {}
    for name in NOT_SERVED:
        if name in reg:
            c = reg[name]
            datasets[name] = {"window_ms": c.window_ms, "description": c.description,
                              "columns": _columns(c, name.split(".")[-1])}
    return {
        "schema_version": SCHEMA_VERSION,
        "stream": {
            "path": STREAM_PATH,
            "query": {"surfaces": "comma-separated surface keys; absent -> default_surfaces; unknown -> error"},
            "default_surfaces": list(DEFAULT_SURFACES),
            "optional_surfaces": list(OPTIONAL_SURFACES),
            "messages": ["batch_start (JSON: type, window_end_ts_ns, surfaces)",
                         "surface_header (JSON: type, surface, window_end_ts_ns, rows, schema_version)",
                         "one binary Arrow IPC stream per surface_header",
                         "batch_end (JSON: type, window_end_ts_ns)"],
        },
        "conventions": {
            "prices": "integers in 1e-9 units (Databento fixed point); *_points columns are index points",
            "tick": "ES tick 0.25 = 250000000; strikes every $5 = 20 ticks",
            "gex_units": "USD of underlying exposure per 1% move of the futures price: gamma * OI * 50 * F^2 * 0.01",
            "dealer_positioning": "dealers assumed long calls and short puts (customers sell calls, buy puts): "
                                  "call gamma counts +, put gamma -",
            "normalisation": "gold.hud.physics_norm_calibration q05/q95; unsigned clip((v-q05)/(q95-q05), 0, 1); "
                             "signed clip(v/max(|q05|,|q95|), -1, 1)",
        },
        "surfaces": surfaces,
        "datasets": datasets,
    }


def render() -> str:
    return json.dumps(generate(), indent=2, ensure_ascii=False) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="generate docs/frontend_data.json from the contracts")
    ap.add_argument("--write", action="store_true", help="write the file (default: print)")
    a = ap.parse_args(argv)
    if a.write:
        JSON_PATH.parent.mkdir(parents=True, exist_ok=True)
        JSON_PATH.write_text(render())
        print(f"wrote {JSON_PATH}")
    else:
        print(render(), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
