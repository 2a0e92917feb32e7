"""The ``marketphys`` command line: the top layer, above every library package.

Each subcommand is a module of this package exposing ``add_arguments(parser)`` and
``run(args) -> int``; this file only routes. Library code raises its own errors
(``ValueError`` subclasses naming the field and the value, ``OSError``); only this
package turns them, and its own ``CliError``, into one line and a non-zero exit,
never a traceback.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import sys

from marketphys.cli.errors import CliError

__all__ = ["CliError", "COMMANDS", "build_parser", "main"]

COMMANDS: dict[str, tuple[str, str]] = {
    "synth": ("marketphys.cli.synth", "write the DBN files of a synthetic ES session"),
    "build": ("marketphys.cli.build", "DBN files (ours or Databento's) -> silver/gold lake"),
    "replay": ("marketphys.cli.replay", "replay a lake date through the engine; scorecard, θ export, log"),
    "serve": ("marketphys.cli.serve", "stream lake surfaces over WebSocket"),
    "verify-stream": ("marketphys.cli.verify_stream", "check a running stream's framing and contracts"),
    "backends": ("marketphys.cli.backends", "which kernel backends work on this machine"),
    "build-days": ("marketphys.cli.build_days", "build many days on Dask (local cluster or --scheduler)"),
    "calibrate-norms": ("marketphys.cli.calibrate_norms", "recompute gold q05/q95 norms and re-apply them to silver"),
    "gex": ("marketphys.cli.gex", "gamma exposure of an option chain (CBOE quotedata CSV): total, zero gamma, profile"),
    "demo": ("marketphys.demo", "the end-to-end demo behind `make demo`"),
}


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


_OS_HINTS = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is exceeded",
             errno.EACCES: "permission denied", errno.EPERM: "operation not permitted",
             errno.EROFS: "the file system is read-only", errno.ENOTDIR: "not a directory (or a path component is not)",
             errno.EISDIR: "it is a directory", errno.EEXIST: "it already exists"}


def os_error_line(err: OSError) -> str:
    """One line for an OS failure: what happened and to which path (no traceback). For a rename
    (an atomic write) the path named is the target, not the temp file."""
    import os
    from pathlib import Path

    path = err.filename2 or err.filename
    std = os.strerror(err.errno) if err.errno else None
    if err.strerror and err.strerror != std:
        what = err.strerror                       # a message of ours, already specific
    elif err.errno == errno.EEXIST and path and Path(path).exists() and not Path(path).is_dir():
        what = "exists and is not a directory"
    else:
        what = _OS_HINTS.get(err.errno) or err.strerror or str(err)
    return f"{path}: {what}" if path else what


def main(argv: list[str] | None = None) -> int:
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
    except KeyboardInterrupt:                 # Ctrl-C while the subcommands are imported
        print("interrupted", file=sys.stderr)
        return 130
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
    except OSError as err:                    # permission, disk full, not a directory, is a directory, ...
        print(f"error: {os_error_line(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130

