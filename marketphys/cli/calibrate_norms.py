"""``marketphys calibrate-norms --lake LAKE [--product P] [--from D] [--to D] [--new-version] [--no-apply]``.

Gives every day of the product its causal gold calibration (``gold.hud.physics_norm_calibration``:
q05/q95 per metric from the lake's earlier days only, the bundled default for a first day) and
normalises the day's silver with it. A day that already has one keeps it, so a value a user has
seen never changes; ``--new-version`` recomputes every day as the next version of the lake.
"""

from __future__ import annotations

from pathlib import Path

from marketphys.cli.errors import CliError


def add_arguments(p) -> None:
    p.add_argument("--lake", required=True, help="lake root directory")
    p.add_argument("--product", default=None, help="product (default: the one product the lake holds)")
    p.add_argument("--from", dest="start", default=None, metavar="YYYY-MM-DD", help="first day to calibrate")
    p.add_argument("--to", dest="end", default=None, metavar="YYYY-MM-DD", help="last day to calibrate")
    p.add_argument("--days", type=int, default=None, help="earlier trading days per calibration (default 20)")
    p.add_argument("--new-version", action="store_true",
                   help="recompute days that already have a calibration (changes values already served)")
    p.add_argument("--no-apply", action="store_true", help="compute and print only; write nothing")


def run(args) -> int:
    from marketphys.pipeline import gold
    from marketphys.pipeline.lake import LakeError, resolve_product

    if not Path(args.lake).is_dir():
        raise CliError(f"--lake {args.lake}: no such directory")
    if args.start and args.end and args.start > args.end:
        raise CliError(f"--from {args.start} is after --to {args.end}")
    if args.days is not None and args.days < 1:
        raise CliError(f"--days must be >= 1, got {args.days}")
    try:
        product = resolve_product(args.lake, args.product)
    except LakeError as err:
        raise CliError(f"no dates to calibrate: {err}") from None
    try:
        days, parts = gold.calibrate(args.lake, product, args.start, args.end, new_version=args.new_version,
                                     apply=not args.no_apply, days=args.days or gold.ROLLING_DAYS)
    except LakeError as err:
        raise CliError(str(err)) from None
    for d in days:
        c = d.calibration
        came = "bundled default (no earlier day)" if c.source == "default" else \
            f"{c.source} ({c.period_start}..{c.period_end})"
        print(f"{gold.CALIBRATION_DATASET} {product} {d.date}: version {c.version}, {came}, {d.action}")
    kept = sum(d.action == "kept" for d in days)
    if kept:
        print(f"{kept} day(s) kept their calibration (already served); --new-version recomputes them")
    print(f"rewrote {parts} silver part(s)" if not args.no_apply else "nothing written (--no-apply)")
    return 0
