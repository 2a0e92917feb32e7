"""``marketphys gex --chain FILE``: GEX of a CBOE quotedata CSV (or a tidy chain CSV);
``marketphys gex --dbn PATH... --at TIME [--lake LAKE]``: a DBN day's chain at one instant,
priced like the lake's options stage.

Prints the chain total, the zero-gamma level and the top strikes; writes the per-strike
table and the profile as CSV (atomically) under ``--out``, and a JSON summary with ``--json``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from marketphys.cli.errors import CliError

CBOE_MULTIPLIER = 100.0     # CBOE-listed index and equity options (SPX, NDX, SPY...)


def add_arguments(p) -> None:
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--chain", metavar="FILE",
                     help="CBOE quotedata CSV, or a tidy CSV with strike, expiry, type, open_interest, iv|bid+ask")
    src.add_argument("--dbn", nargs="+", metavar="PATH",
                     help="a day's DBN files or folder (options MBO, definitions, statistics; futures MBO without --lake)")
    p.add_argument("--at", default=None, help="with --dbn: the instant (UTC unless zoned), e.g. '2024-05-13 13:30:05'")
    p.add_argument("--lake", default=None, help="with --dbn: take the futures mid from this lake's snap (as the stage)")
    p.add_argument("--product", default="ES", help="with --dbn: the options' product (definitions' asset)")
    p.add_argument("--multiplier", type=float, default=None,
                   help=f"contract multiplier (a CBOE file: {CBOE_MULTIPLIER:g} unless given; a tidy CSV: required)")
    p.add_argument("--rate", type=float, default=0.0, help="continuously compounded rate (default 0)")
    p.add_argument("--div", type=float, default=0.0, help="continuous dividend yield (default 0)")
    p.add_argument("--spot", type=float, default=None, help="underlying level (default: the file's 'Last:')")
    p.add_argument("--asof", default=None, help="valuation time (default: the file's 'Date:'), e.g. '2024-06-21 10:15'")
    p.add_argument("--day-count", default="ACT/365", help="ACT/365 (default), ACT/365.25, ACT/360")
    p.add_argument("--expiry-time", default="16:00", help="expiry time of day, America/New_York (default 16:00)")
    p.add_argument("--dealer", default="long_calls_short_puts",
                   help="dealer convention: long_calls_short_puts (default), short_calls_long_puts, short_both, long_both")
    p.add_argument("--sticky", default="strike", choices=["strike", "moneyness"], help="profile IV convention")
    p.add_argument("--top", type=int, default=10, help="strikes to print (default 10)")
    p.add_argument("--out", default=None, help="folder for per_strike.csv and profile.csv (default ./<FILE stem>_gex)")
    p.add_argument("--json", default=None, metavar="OUT", help="write a JSON summary (totals, forwards, counts, tables)")


def _load(path: Path):
    import pandas as pd

    from marketphys.chain.cboe import read_cboe_quotedata

    head = path.read_text().splitlines()[:20]
    if any(ln.strip().strip('"').startswith("Expiration Date") for ln in head):
        return read_cboe_quotedata(path), True
    return pd.read_csv(path), False


def run(args) -> int:
    from marketphys.chain.exposure import chain_gex
    from marketphys.chain.frame import ChainError

    if args.dbn:
        return _run_dbn(args)
    path = Path(args.chain)
    if not path.is_file():
        raise CliError(f"--chain: no such file: {path}")
    try:
        chain, is_cboe = _load(path)
        mult = args.multiplier
        if mult is None and is_cboe:
            mult = CBOE_MULTIPLIER
        if mult is None:
            raise CliError("--multiplier: required for a tidy chain CSV (SPX 100, ES options 50)")
        res = chain_gex(chain, multiplier=mult, spot=args.spot, rate=args.rate, div_yield=args.div, asof=args.asof,
                        day_count=args.day_count, expiry_time=args.expiry_time, dealer=args.dealer,
                        sticky=args.sticky)
    except ChainError as err:
        raise CliError(str(err)) from None
    return _report(args, res, path.name, path.stem, f"multiplier {mult:g}" + (
        " (CBOE standard contract; --multiplier to change)" if args.multiplier is None else ""))


def _run_dbn(args) -> int:
    from marketphys.chain.dbn import chain_gex_at
    from marketphys.chain.frame import ChainError

    if args.at is None:
        raise CliError("--at: required with --dbn (the instant to take the chain at)")
    if args.multiplier is not None:
        raise CliError("--multiplier: with --dbn the definitions' multiplier is used")
    try:
        res = chain_gex_at(args.dbn, args.at, lake=args.lake, product=args.product, rate=args.rate,
                           dealer=args.dealer, sticky=args.sticky)
    except ChainError as err:
        raise CliError(str(err)) from None
    stem = f"{args.product}_{str(args.at).replace(' ', 'T').replace(':', '')}"
    return _report(args, res, f"{args.product} options at {args.at}", stem, "multiplier from the definitions")


def _report(args, res, name: str, stem: str, mult_note: str) -> int:
    from marketphys.atomic import atomic_write_text

    c = res.counts
    print(f"{name}: {c['priced']} of {c['rows']} options priced; set aside "
          + (", ".join(f"{k} {v}" for k, v in c["reasons"].items() if v) or "none"))
    print(f"{mult_note}; spot {res.spot:,.2f} ({res.spot_source}); forwards: "
          + ", ".join(f"{k} {v}" for k, v in c["forwards"].items() if v))
    print(f"total GEX  {res.total / 1e9:+,.3f} bn USD per 1% move (|GEX| {res.total_abs / 1e9:,.3f} bn)")
    zg = "none in the profile range" if res.zero_gamma is None else f"{res.zero_gamma:,.2f}"
    print(f"zero gamma {zg}")
    top = res.top_strikes(args.top)
    print("top strikes by |GEX| (USD mn per 1%):   strike      calls       puts        net")
    for r in top.itertuples():
        print(f"{'':40s}{r.strike:8g} {r.call_gex / 1e6:10.2f} {r.put_gex / 1e6:10.2f} {r.net_gex / 1e6:10.2f}")
    out = Path(args.out) if args.out else Path.cwd() / f"{stem}_gex"
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "per_strike.csv", res.per_strike.to_csv(index=False))
    atomic_write_text(out / "profile.csv", res.profile.to_csv(index=False))
    print(f"wrote {out / 'per_strike.csv'} and {out / 'profile.csv'}")
    if args.json:
        doc = res.summary()
        doc["per_strike"] = res.per_strike.to_dict(orient="records")
        doc["profile"] = res.profile.to_dict(orient="records")
        atomic_write_text(args.json, json.dumps(doc, indent=1, default=_jsonable))
        print(f"wrote {args.json}")
    return 0


def _jsonable(v):
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return float(v)
    return str(v)
