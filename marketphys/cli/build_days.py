"""``marketphys build-days --input PATH... --lake LAKE [--scheduler ADDR] [--workers N]``.

The same build as ``marketphys build``, one Dask task per day: a LocalCluster of
``--workers`` processes by default, or the cluster at ``--scheduler`` (e.g.
tcp://10.0.0.5:8786; the lake path must then be visible to every worker).
"""

from __future__ import annotations

import time

from marketphys.cli.errors import CliError


def add_arguments(p) -> None:
    p.add_argument("--input", nargs="+", required=True, metavar="PATH", help="DBN files or directories")
    p.add_argument("--lake", required=True, help="lake root directory (created if missing)")
    p.add_argument("--scheduler", default=None, metavar="ADDR", help="Dask scheduler address (default: local cluster)")
    p.add_argument("--workers", type=int, default=2, help="local cluster worker processes (default 2)")
    p.add_argument("--window-ms", type=int, default=500, help="futures surface window (default 500 ms)")
    p.add_argument("--option-rate", type=float, default=0.0,
                   help="Black-76 rate for the options stage (default 0: undiscounted)")
    p.add_argument("--gex-band", default="12", metavar="ROWS|all",
                   help="options priced within ROWS $5 strikes of spot for gex_chain_1s (default 12; 'all': whole chain)")
    p.add_argument("--rest-ms", type=int, default=500,
                   help="options book_wall: pull_rest_qty counts cancels of orders resting at least this long")


def run(args) -> int:
    from marketphys.pipeline.bronze import DbnError
    from marketphys.pipeline.build import Settings
    from marketphys.pipeline.fanout import build_days, plan_days

    if args.workers < 1:
        raise CliError(f"--workers must be >= 1, got {args.workers}")
    if args.window_ms <= 0:
        raise CliError(f"--window-ms must be > 0, got {args.window_ms}")
    if args.rest_ms < 0:
        raise CliError(f"--rest-ms must be >= 0, got {args.rest_ms}")
    if not (-1.0 < args.option_rate < 1.0):
        raise CliError(f"--option-rate is a continuously compounded annual rate in (-1, 1), got {args.option_rate}")
    from marketphys.cli.build import gex_band

    band = gex_band(args.gex_band)
    t0 = time.perf_counter()
    try:
        days, skipped = plan_days(args.input)
    except DbnError as err:
        raise CliError(str(err)) from None
    if not days:
        raise CliError("no usable inputs: " + "; ".join(skipped))
    # days run in parallel: none starts from another's stored book (that would depend on timing)
    settings = Settings(window_ms=args.window_ms, progress=False, option_rate=args.option_rate,
                        option_band_rows=band,
                        option_rest_ms=args.rest_ms, carry_book=False)
    try:
        results = build_days(days, args.lake, args.scheduler, n_workers=args.workers, settings=settings)
    except RuntimeError as err:
        raise CliError(str(err)) from None
    for r in results:
        rows = sum(r["rows"].values())
        print(f"{r['date']}: {', '.join(r['stages'])}; {rows:,} rows")
    for s in skipped:
        print(f"skipped: {s}")
    print(f"{len(results)} day(s) built in {time.perf_counter() - t0:.1f} s")
    return 0
