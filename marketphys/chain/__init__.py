"""Gamma exposure of any option chain: a tidy chain frame, CBOE's quotedata CSV, or a lake date's DBN.

``chain_gex`` is the entry point (``docs/gex.md``); ``profile`` holds the array math the
options stage of the lake shares with it.
"""

from .exposure import DEALERS, ChainGex, chain_gex
from .cboe import read_cboe_quotedata, write_cboe_quotedata
from .frame import ChainError

_LAZY = {"synthetic_chain": "marketphys.chain.synthetic", "chain_from_dbn": "marketphys.chain.dbn",
         "futures_mid": "marketphys.chain.dbn", "pipeline_chain_gex": "marketphys.chain.dbn",
         "chain_gex_at": "marketphys.chain.dbn"}

__all__ = ["chain_gex", "ChainGex", "ChainError", "DEALERS", "read_cboe_quotedata", "write_cboe_quotedata", *_LAZY]


def __getattr__(name: str):
    """A DBN day's chain (``chain.dbn``, which reads through the data layer) loads on first use."""
    import importlib

    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module 'marketphys.chain' has no attribute {name!r}")
    return getattr(importlib.import_module(mod), name)
