"""The ``marketphys`` command line (DESIGN.md section 10).

Each subcommand lives beside the code it drives, in a module exposing
``add_arguments(parser)`` and ``run(args) -> int``; this file only routes.
Bad input exits non-zero with a one-line message, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS: dict[str, tuple[str, str]] = {
    "synth": ("marketphys.synth.cli", "write the DBN files of a synthetic ES session"),
    "build": ("marketphys.pipeline.cli", "DBN files (ours or Databento's) -> silver/gold lake"),
    "replay": ("marketphys.replay.cli", "replay a lake date through the engine; scorecard, θ export, log"),
    "serve": ("marketphys.serving.cli_serve", "stream lake surfaces over WebSocket"),
    "verify-stream": ("marketphys.serving.cli_verify", "check a running stream's framing and contracts"),
    "backends": ("marketphys.kernels.cli", "which kernel backends work on this machine"),
    "build-days": ("marketphys.pipeline.cli_fanout", "build many days on Dask (local cluster or --scheduler)"),
    "calibrate-norms": ("marketphys.pipeline.cli_calibrate", "recompute gold q05/q95 norms and re-apply them to silver"),
    "gex": ("marketphys.chain.cli", "gamma exposure of an option chain (CBOE quotedata CSV): total, zero gamma, profile"),
    "demo": ("marketphys.demo", "the end-to-end demo behind `make demo`"),
}


class CliError(Exception):
    """Raised by a subcommand for bad input; printed as one line, exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="marketphys", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as err:
            p.set_defaults(_unavailable=f"{name}: not available ({err})")
            continue
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    if getattr(args, "_unavailable", None):
        print(f"error: {args._unavailable}", file=sys.stderr)
        return 2
    try:
        return int(args._run(args) or 0)
    except (CliError, FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    # Run the imported module's main so subcommands' CliError is the class main() catches.
    from marketphys.cli import main as _main

    sys.exit(_main())
