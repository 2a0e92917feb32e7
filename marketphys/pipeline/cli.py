"""``marketphys build --input PATH... --lake LAKE``: DBN files or LOBSTER days -> bronze + silver lake."""

from __future__ import annotations

import time

from marketphys.cli import CliError


def add_arguments(p) -> None:
    p.add_argument("--input", nargs="+", required=True, metavar="PATH",
                   help="DBN files (.dbn, .dbn.zst), LOBSTER days (the zip, or the message + orderbook CSVs), "
                        "or directories holding them")
    p.add_argument("--lake", required=True, help="lake root directory (created if missing)")
    p.add_argument("--window-ms", type=int, default=500, help="futures surface window (default 500 ms)")
    p.add_argument("--strict", action="store_true", help="refuse (instead of skip) inputs of unused schemas")
    p.add_argument("--no-bronze-mbo", action="store_true", help="do not store raw MBO records in bronze")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--tick-size", type=float, default=None,
                   help="tick size where the input gives none (LOBSTER: default 0.01; futures without "
                        "definitions: the known table)")


def run(args) -> int:
    from .bronze import DbnError
    from .build import build
    from .spec import ProductSpec

    if args.window_ms <= 0:
        raise CliError(f"--window-ms must be > 0, got {args.window_ms}")
    try:
        spec = ProductSpec(tick_size=args.tick_size)
    except ValueError as err:
        raise CliError(f"--tick-size: {err}") from None
    t0 = time.perf_counter()
    try:
        summary = build(args.input, args.lake, window_ms=args.window_ms, strict=args.strict,
                        keep_bronze_mbo=not args.no_bronze_mbo, progress=not args.quiet, spec=spec)
    except DbnError as err:
        raise CliError(str(err)) from None
    for line in summary.lines():
        print(line)
    print(f"built in {time.perf_counter() - t0:.1f} s")
    return 0
