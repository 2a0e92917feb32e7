"""The compiled futures book's shared layout: scalar state slots, parameters, the message columns.

The book's state is a few arrays owned by :class:`marketphys.pipeline.book.FuturesBook`; the
compiled kernels (``book_orders``, ``book_levels``, ``book_windows``, ``book_loop``) receive them
as named tuples of arrays. Scalars live in one int64 array (``st``, indexed by the slots below)
and one float64 array (``fs``), so a kernel can update them in place.

The kernels are compiled without numba's reference-counting runtime (``NO_REFCOUNT``): they
allocate nothing, and every array they touch is owned by the caller for the whole call. With it
on, each inlined helper taking arrays paid an atomic incref/decref per array argument, about a
third of the book stage (benchmarks/RESULTS.md, pipeline, fourth pass). A kernel here that
allocated would fail to compile, not misbehave.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


def _no_refcount_option() -> dict:
    """``{"_nrt": False}`` where this numba has the (undocumented) option, else ``{}``: a numba
    without it still compiles the kernels, only slower (tests/pipeline/test_pipeline_book_options.py
    flags that)."""
    try:
        from numba.core.cpu import CPUTargetOptions
    except ImportError:  # pragma: no cover - numba internals moved
        return {}
    return {"_nrt": False} if hasattr(CPUTargetOptions, "_nrt") else {}


NO_REFCOUNT = _no_refcount_option()

# --- scalar state slots (int64 array ``st``)
WIN_END, W, STARTED, IN_SNAP, BAD, BB, BA, LAST_PX, LAST_QTY, VOL, BUYV, SELLV, NTRADES, NMSG, \
    RING_HEAD, RING_TAIL, NLIVE, NUSED, NDIRTY, PREV_VALID, PBB, PBA, PQB, PQA, N_UNKNOWN, \
    OUT_WIN, OUT_WALL, OUT_VAC, BASE, N_CLEAR, N_BAD_SIDE, PENDING, N_INVALID_WIN, OUT_BUCK, TLO, THI, \
    EVT_OPEN, EVT_TS, N_LOG_SLOW, KNOWN, N_SNAPS, N_UNKNOWN_W, N_DUP_ADD = range(43)
N_ST = 43  # TLO..THI: span of the levels holding depth or touched in the last two windows
# EVT_OPEN: the last fed record ended no event (no F_LAST); EVT_TS: its ts_recv
# KNOWN: the book is known whole (after a snapshot or a clear, or a partial book opted in)
# N_UNKNOWN_W: events on unknown order ids in the open window; N_DUP_ADD: adds that replaced a resting order
# N_LOG_SLOW: bucket depths of the current outputs outside the NumPy log1p table (see NP_LOG1P)
# float slots (``fs``)
F_OFI, F_LAST_MID = range(2)
N_FS = 2


class BookParams(NamedTuple):
    """The book's fixed settings (ints): price grid, window clock and the surfaces' band."""

    instrument_id: np.uint32
    tick_int: int       # price units (1e-9) per tick
    window_ns: int
    rest_ns: int        # an order rests once its add (or last priority reset) is this old
    max_fill: int       # at most this many empty windows are emitted across a gap
    band: int           # levels written each side of the spot
    near: int           # levels each side counted by the near-touch scores


class Messages(NamedTuple):
    """The MBO columns the loop reads (views of one chunk of ``MBO_DTYPE`` records)."""

    ts_recv: np.ndarray
    price: np.ndarray
    size: np.ndarray
    order_id: np.ndarray
    flags: np.ndarray
    action: np.ndarray
    side: np.ndarray
    instrument_id: np.ndarray


def messages_of(recs: np.ndarray) -> Messages:
    return Messages(*(recs[name] for name in Messages._fields))
