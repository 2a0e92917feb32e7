"""``marketphys synth --minutes M --seed S --out DIR``: write a synthetic ES session as DBN."""

from __future__ import annotations

import argparse
from pathlib import Path

from marketphys.cli.errors import CliError
from marketphys.synth.config import RTH_MINUTES, SynthConfig, SynthError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--minutes", type=float, default=10.0, help=f"session length (default 10; {RTH_MINUTES} = full RTH)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (same seed -> identical files)")
    parser.add_argument("--out", required=True, help="output directory for the DBN files and the ground truth")
    parser.add_argument("--date", default="2024-05-09", help="session date YYYY-MM-DD (default 2024-05-09)")
    parser.add_argument("--open-price", type=float, default=5212.50, help="ES price at the open (tick-aligned)")
    parser.add_argument("--no-walls", action="store_true", help="switch the gamma walls off (a baseline session)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from marketphys.synth.session import generate_session

    try:
        cfg = SynthConfig(minutes=args.minutes, seed=args.seed, date=args.date, open_price=args.open_price,
                          walls_enabled=not args.no_walls)
    except SynthError as err:
        raise CliError(str(err)) from None
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise CliError(f"--out {args.out!r} exists and is not a directory")
    res = generate_session(cfg, out, progress=not args.quiet)
    print(res.summary())
    return 0
