"""Gamma exposure of any option chain: a tidy chain frame, CBOE's quotedata CSV, or a lake date's DBN.

``chain_gex`` is the entry point (``docs/gex.md``); ``profile`` holds the array math the
options stage of the lake shares with it.
"""

from .exposure import DEALERS, ChainGex, chain_gex
from .cboe import read_cboe_quotedata, write_cboe_quotedata
from .frame import ChainError

__all__ = ["chain_gex", "ChainGex", "ChainError", "DEALERS", "read_cboe_quotedata", "write_cboe_quotedata"]
