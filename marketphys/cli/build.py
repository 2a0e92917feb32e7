"""``marketphys build --input PATH... --lake LAKE``: DBN files or LOBSTER days -> bronze + silver lake."""

from __future__ import annotations

import time

from marketphys.cli.errors import CliError


def add_arguments(p) -> None:
    p.add_argument("--input", nargs="+", required=True, metavar="PATH",
                   help="DBN files (.dbn, .dbn.zst), LOBSTER days (the zip, or the message + orderbook CSVs), "
                        "or directories holding them")
    p.add_argument("--lake", required=True, help="lake root directory (created if missing)")
    p.add_argument("--window-ms", type=int, default=500, help="futures surface window (default 500 ms)")
    p.add_argument("--strict", action="store_true", help="refuse (instead of skip) inputs of unused schemas")
    p.add_argument("--no-bronze-mbo", action="store_true", help="do not store raw MBO records in bronze")
    p.add_argument("--gex-band", default="12", metavar="ROWS|all",
                   help="options priced within ROWS $5 strikes of spot for gex_chain_1s (default 12 = the 25 "
                        "surface rows; 'all' = the whole chain); gex_surface_1s keeps 25 rows")
    p.add_argument("--allow-short", action="store_true",
                   help="build a plain DBN file whose records stop short of its metadata's end "
                        "(by default it is refused as cut short)")
    p.add_argument("--wait-lock", type=float, default=0.0, metavar="SECONDS",
                   help="if another build is writing the same day into the lake, wait this long for it "
                        "(default 0: fail at once, naming it)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--tick-size", type=float, default=None, metavar="PRICE",
                   help="tick size when no definition file in --input gives it (e.g. 0.25 for ES; "
                        "LOBSTER: default 0.01)")
    p.add_argument("--multiplier", type=float, default=None, metavar="N",
                   help="options contract multiplier (e.g. 50 for ES) where a definition record has none")
    p.add_argument("--allow-partial-book", action="store_true",
                   help="an MBO stream without a snapshot: use its partial book (default: book_valid false until "
                        "a snapshot or clear); events on unknown order ids are counted either way")


def gex_band(text: str) -> int | None:
    """``--gex-band``: a number of $5 strikes (>= 12, the 25-row surface) or 'all' (None)."""
    if text == "all":
        return None
    try:
        band = int(text)
    except ValueError:
        raise CliError(f"--gex-band: expected a number of strikes or 'all', got {text!r}") from None
    if band < 12:
        raise CliError(f"--gex-band must be >= 12 (the 25-row surface) or 'all', got {band}")
    return band


def run(args) -> int:
    from marketphys.pipeline.bronze import DbnError
    from marketphys.pipeline.build import build
    from marketphys.pipeline.spec import ProductSpec

    if args.window_ms <= 0:
        raise CliError(f"--window-ms must be > 0, got {args.window_ms}")
    band = gex_band(args.gex_band)
    if args.tick_size is not None and not args.tick_size > 0:
        raise CliError(f"--tick-size must be a positive price, got {args.tick_size}")
    if args.multiplier is not None and not args.multiplier > 0:
        raise CliError(f"--multiplier must be > 0, got {args.multiplier}")
    try:
        ProductSpec(tick_size=args.tick_size, multiplier=args.multiplier)   # checked before any work
    except ValueError as err:
        raise CliError(f"--tick-size/--multiplier: {err}") from None
    t0 = time.perf_counter()
    try:
        summary = build(args.input, args.lake, window_ms=args.window_ms, strict=args.strict,
                        keep_bronze_mbo=not args.no_bronze_mbo, progress=not args.quiet, option_band_rows=band,
                        tick_size=args.tick_size, multiplier=args.multiplier,
                        allow_partial_book=args.allow_partial_book,
                        lock_timeout_s=max(0.0, args.wait_lock), allow_short=args.allow_short)
    except DbnError as err:
        raise CliError(str(err)) from None
    for line in summary.lines():
        print(line)
    print(f"built in {time.perf_counter() - t0:.1f} s")
    return 0
