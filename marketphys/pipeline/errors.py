"""The pipeline's own error for bad input to its commands and builds.

A ``ValueError`` whose message names the field (the option or setting) and the value, so callers
may catch it as bad input; the command line prints it as one line and exits non-zero.
"""

from __future__ import annotations


class PipelineError(ValueError):
    """Bad input to a pipeline command or build; the message names the field and the value."""
