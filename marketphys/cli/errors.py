"""The command line's own error: bad flags or input, printed as one line with exit code 2."""

from __future__ import annotations


class CliError(Exception):
    """Raised by a subcommand for bad input; ``marketphys.cli.main`` prints it as one line, exit code 2."""
