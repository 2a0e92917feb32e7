"""``marketphys calibrate-norms --lake LAKE [--product ES] [--from D] [--to D]``.

Recomputes ``gold.hud.physics_norm_calibration`` (q05/q95 per metric) over the chosen
dates, stores it as the next version and rewrites every silver normalised column of
the product with it (``--no-apply`` stores the calibration only).
"""

from __future__ import annotations

from pathlib import Path

from marketphys.cli import CliError


def add_arguments(p) -> None:
    p.add_argument("--lake", required=True, help="lake root directory")
    p.add_argument("--product", default="ES", help="product (default ES)")
    p.add_argument("--from", dest="start", default=None, metavar="YYYY-MM-DD", help="first date of the period")
    p.add_argument("--to", dest="end", default=None, metavar="YYYY-MM-DD", help="last date of the period")
    p.add_argument("--no-apply", action="store_true", help="store the calibration without rewriting silver")


def run(args) -> int:
    from . import gold
    from .lake import LakeError

    if not Path(args.lake).is_dir():
        raise CliError(f"--lake {args.lake}: no such directory")
    if args.start and args.end and args.start > args.end:
        raise CliError(f"--from {args.start} is after --to {args.end}")
    try:
        calib, parts = gold.calibrate(args.lake, args.product, args.start, args.end, apply=not args.no_apply)
    except LakeError as err:
        raise CliError(str(err)) from None
    print(f"{gold.CALIBRATION_DATASET} {args.product} version {calib.version} "
          f"over {calib.period_start}..{calib.period_end}")
    for name, b in sorted(calib.bands.items()):
        print(f"  {name:<22} q05={b.q05:.6g} q95={b.q95:.6g} signed={b.signed} n={b.n:,}")
    print(f"rewrote {parts} silver part(s)" if not args.no_apply else "silver left as it was (--no-apply)")
    return 0
