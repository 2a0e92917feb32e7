"""Per-order MBO book with windowed flow accounting, compiled with numba.

Semantics follow Databento's MBO for CME (checked on the real ESM4 file):
- ``A`` add, ``C`` cancel (size = quantity removed), ``M`` modify (new price/size;
  priority, and so resting age, is lost on a price change or a size increase),
  ``R`` clear (empties the instrument's book).
- ``T`` trade (aggressor side) and ``F`` fill do not change the book: CME follows a
  fill with a ``C``/``M`` on the resting order. A fill marks that order's next
  reduction as *filled*, not *pulled*, so pull flow counts only true cancels.
- ``F_SNAPSHOT`` records rebuild the book, as Databento sends them: a snapshot ends at the
  record with ``F_LAST`` or at the first record without ``F_SNAPSHOT``, whichever comes first
  (day files of 2024 have no ``F_LAST`` and no clear). A snapshot that starts while a book
  exists replaces it, clear or not. Snapshot orders count as long-resting, and are not flow.
  ``F_BAD_TS_RECV`` (on every snapshot record) says nothing about the book and is ignored.
- An ``A`` for an order id already resting replaces that order (counted, ``replaced_adds``).
- Until the book is known whole (a snapshot ended, or a clear), ``book_valid`` is false:
  a stream that starts mid-session has a partial book, unless ``allow_partial`` opts in.
  Events on order ids the book does not hold (``C``, ``M``, ``F``) are counted per window.
- ``F_MAYBE_BAD_BOOK`` marks the book invalid until the next clear. A crossed or
  one-sided book is invalid too.

Windows are ``(end - window_ns, end]`` on ``ts_recv``; each emitted window carries
the book state at its end. Resting depth (``depth_qty_rest``) counts orders whose
add (or last priority reset) is at least ``rest_ns`` old at the window end.
All the work is in one compiled loop over messages; trouble (unknown order ids,
bad sides) becomes counters, never exceptions inside the loop.

Layout: this module is the public entry (``FuturesBook``, ``WindowBatch``) and owns the state
between compiled calls; the kernels are split by concern: ``book_layout`` (scalar slots,
parameters, message columns), ``book_orders`` (the order table), ``book_levels`` (level
operations), ``book_windows`` (the window writer) and ``book_loop`` (the message loop). State
travels to them as named tuples of arrays (``OrderTable``, ``Levels``, ``WindowOut``).

Speed (benchmarks/pipeline.py): outputs are column-major buffers handed out as views
and reused once their batch is dropped (``iter_feed``); a window's scan skips levels
that never held an order and takes a short path on levels quiet for two windows; the
order hash table keeps a slot's key, state and fields in one cache line. Results are
bit-identical to the first implementation (tests/pipeline/test_pipeline_surfaces_equivalence.py).
The kernels run without numba's reference counting (``book_layout.NO_REFCOUNT``).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from marketphys.dbn import MBO_DTYPE

from .book_layout import (BA, BASE, BB, KNOWN, N_BAD_SIDE, N_CLEAR, N_DUP_ADD, N_FS, N_INVALID_WIN, N_LOG_SLOW,
                          N_SNAPS, N_ST, N_UNKNOWN, NDIRTY, NLIVE, NUSED, OUT_BUCK, OUT_VAC, OUT_WALL, OUT_WIN, PBA,
                          PBB, PENDING, RING_HEAD, RING_TAIL, STARTED, THI, TLO, WIN_END, BookParams, messages_of)
from .book_levels import Levels, new_levels, widen
from .book_loop import run_book, scan_adds
from .book_orders import OT_COLS, OT_KEY, aligned_table, order_table, rehash
from .book_windows import (BUCKET_F, BUCKET_I, BUCKET_I32, N_BF, N_SCRATCH, SNAP_F, SNAP_I, VAC_F, VAC_I, WALL_I,
                           WindowOut)

# re-exported: the kernels' compile options and the depth_log table are checked through this module
from .book_layout import NO_REFCOUNT  # noqa: F401,E402
from .book_windows import NP_LOG1P, NP_LOG1P_N  # noqa: F401,E402


def _refcounts(arrays) -> list[int]:
    return [sys.getrefcount(a) for a in arrays]


# references an array held only by a tuple shows through ``_refcounts`` (measured, not assumed, so an
# interpreter that counts differently cannot make a buffer under a live view look free)
_IDLE_REFS = _refcounts((np.empty(1),))[0]


@dataclass
class WindowBatch:
    """Outputs of a run of windows (numpy columns; ``silver_futures`` turns them into tables)."""

    snap: dict     # one row per window (SNAP_I + SNAP_F)
    wall: dict     # one row per (level, side) with depth or flow (WALL_I)
    vacuum: dict   # one row per level with depth or flow (VAC_I + VAC_F)
    bucket: dict   # one row per 2-tick bucket of each valid-book window (BUCKET_I + BUCKET_I32 + BUCKET_F
    #                + depth_log)
    depth_log_slow: bool = False  # a depth outside NP_LOG1P: take np.log1p of depth_qty instead of depth_log

    @property
    def n_windows(self) -> int:
        return len(self.snap["window_end_ts_ns"])


class FuturesBook:
    """One instrument's order book, fed chunks of ``MBO_DTYPE`` records; yields closed windows.

    State lives in plain arrays owned here (grown between chunks, never inside the loop),
    so the compiled loop is a pure function of (messages, state) -> (state, outputs):
    ``st``/``fs`` (scalar slots of ``book_layout``), ``orders`` (``OrderTable``), ``levels``
    (``Levels``, None until the first add) and ``out`` (``WindowOut``).
    """

    POOL = 2  # output buffer sets kept for reuse once their batches are dropped

    def __init__(self, instrument_id: int, tick_int: int, *, window_ns: int = 500_000_000,
                 rest_ns: int = 500_000_000, band_ticks: int = 400, near_ticks: int = 10,
                 max_fill_windows: int = 120, windows_per_batch: int = 2048, slice_records: int = 1 << 12,
                 allow_partial: bool = False):
        if tick_int <= 0:
            raise ValueError(f"tick_int must be > 0 (price units of 1e-9), got {tick_int}")
        if window_ns <= 0:
            raise ValueError(f"window_ns must be > 0, got {window_ns}")
        self.instrument_id = int(instrument_id)
        self.tick_int, self.window_ns, self.rest_ns = int(tick_int), int(window_ns), int(rest_ns)
        self.band, self.near, self.max_fill = int(band_ticks), int(near_ticks), int(max_fill_windows)
        self.params = BookParams(np.uint32(self.instrument_id), self.tick_int, self.window_ns, self.rest_ns,
                                 self.max_fill, self.band, self.near)
        self.st = np.zeros(N_ST, np.int64)
        self.st[BB] = self.st[BA] = self.st[THI] = -1
        self.st[TLO] = 1 << 62
        self.st[BASE] = -1
        self.st[KNOWN] = 1 if allow_partial else 0
        self.fs = np.zeros(N_FS, np.float64)
        self.otab = aligned_table(1 << 12, OT_COLS)
        self.orders = order_table(self.otab, np.zeros(1 << 12, np.uint64), np.zeros(1 << 12, np.int64))
        self.levels: Levels | None = None
        self.nb = self.band // 2
        self.win_cap = int(windows_per_batch)
        self.bscr = np.zeros((N_SCRATCH, 2 * (self.band // 2) + 1), np.float64)
        self._pool: list[tuple] = []
        self.slice_records = max(1, int(slice_records))
        self._alloc_out()

    @property
    def L(self) -> int:
        """Ticks the level arrays cover (0 before the first add)."""
        return 0 if self.levels is None else int(self.levels.depth.shape[1])

    # -- storage management (between compiled calls)
    def _set_orders(self, otab):
        """Use ``otab`` (made by ``aligned_table``) as the order table, keeping the ring."""
        self.otab = otab
        self.orders = order_table(otab, self.orders.ring_id, self.orders.ring_ts)

    def _set_ring(self, ring_id, ring_ts):
        self.orders = self.orders._replace(ring_id=ring_id, ring_ts=ring_ts)

    def _alloc_out(self):
        """Column-major output buffers: a taken batch keeps views of the old ones (no copy).

        A set whose batch nobody refers to any more (only this pool holds it) is written
        again; touching fresh memory for every batch costs more than the surfaces.
        """
        for k, bufs in enumerate(self._pool):
            if max(_refcounts(bufs)) <= _IDLE_REFS:  # no view of any of them is alive
                self._pool.pop(k)
                self.out, self.out_bb = WindowOut(*bufs[:-1], self.bscr), bufs[-1]
                return
        wall_cap = self.win_cap * 64 + 2 * (2 * self.band + 1)
        vac_cap = self.win_cap * 32 + (2 * self.band + 1)
        buck_cap = self.win_cap * (2 * self.nb + 1)
        bucket = np.tile(np.arange(-self.nb, self.nb + 1, dtype=np.int32), self.win_cap)
        self.out_bb = np.stack([bucket, 2 * bucket])  # bucket, rel_ticks: the same for every window, written once
        # per bucket slot, the range of buckets last written non-zero; fresh memory: all of it unknown
        span = np.empty((2, self.win_cap), np.int64)
        span[0], span[1] = 0, 2 * self.nb
        self.out = WindowOut(
            snap_i=np.empty((len(SNAP_I), self.win_cap), np.int64),
            snap_f=np.empty((len(SNAP_F), self.win_cap), np.float64),
            wall=np.empty((len(WALL_I), wall_cap), np.int64),
            vac_i=np.empty((len(VAC_I), vac_cap), np.int64),
            vac_f=np.empty((len(VAC_F), vac_cap), np.float64),
            bucket_i=np.empty((len(BUCKET_I), buck_cap), np.int64),
            bucket_span=span,
            bucket_f=np.empty((N_BF + 1, buck_cap), np.float64),  # BUCKET_F + depth_log
            bucket_scratch=self.bscr)

    def _ensure_orders(self, n_new):
        cap = self.orders.keys.shape[0]
        if (self.st[NUSED] + n_new) * 2 <= cap:
            return
        new_cap = 1 << int(np.ceil(np.log2(max(4 * (self.st[NLIVE] + n_new), 1 << 12))))
        new = aligned_table(new_cap, OT_COLS)
        n = rehash(self.orders.keys, self.orders.state, self.otab, new[:, OT_KEY].view(np.uint64), new)
        self._set_orders(new)
        self.st[NUSED] = self.st[NLIVE] = n

    def _ensure_ring(self, n_new):
        ring_id, ring_ts = self.orders.ring_id, self.orders.ring_ts
        cap = ring_id.shape[0]
        live = int(self.st[RING_TAIL] - self.st[RING_HEAD])
        if live + n_new <= cap:
            return
        new_cap = 1 << int(np.ceil(np.log2(2 * (live + n_new))))
        idx = (np.arange(self.st[RING_HEAD], self.st[RING_TAIL]) % cap)
        rid, rts = np.zeros(new_cap, np.uint64), np.zeros(new_cap, np.int64)
        rid[:live], rts[:live] = ring_id[idx], ring_ts[idx]
        self._set_ring(rid, rts)
        self.st[RING_HEAD], self.st[RING_TAIL] = 0, live

    def _ensure_levels(self, msgs, i0: int, i1: int) -> int:
        """Grow the level arrays to cover the adds/modifies in records [i0, i1); return how many there
        are (the most orders, and ring entries, the loop can add for them)."""
        n_adds, lo, hi = scan_adds(msgs.instrument_id, msgs.action, msgs.price, self.params.instrument_id,
                                   i0, i1, self.tick_int)
        L = self.L
        if not n_adds:
            if L == 0:
                self._alloc_levels(0, 1 << 12)
            return 0
        margin = 2 * self.band + 64
        base = int(self.st[BASE])
        if L and base + margin <= lo and hi < base + L - margin:
            return n_adds
        new_lo = min(lo, base + margin if L else lo) - 4 * margin
        new_hi = max(hi, base + L - margin if L else hi) + 4 * margin
        new_L = 1 << int(np.ceil(np.log2(new_hi - new_lo + 1)))
        if L == 0:
            self._alloc_levels(new_lo, new_L)
            return n_adds
        shift = base - new_lo
        self.levels = widen(self.levels, shift, new_L, int(self.st[NDIRTY]))
        live = self.orders.state == 1
        self.orders.tick[live] += shift
        for k in (BB, BA, THI):
            if self.st[k] >= 0:
                self.st[k] += shift
        if self.st[THI] >= 0:
            self.st[TLO] += shift
        for k in (PBB, PBA):
            self.st[k] += shift
        self.st[BASE] = new_lo
        return n_adds

    def _alloc_levels(self, base, L):
        self.st[BASE] = base
        self.levels = new_levels(L)

    # -- the loop
    def feed(self, recs: np.ndarray, final: bool = False) -> list[WindowBatch]:
        """Apply a chunk of MBO records; return the windows closed by it."""
        return list(self.iter_feed(recs, final))

    def iter_feed(self, recs: np.ndarray, final: bool = False, flush: bool = True) -> Iterator[WindowBatch]:
        """Apply a chunk of MBO records, yielding batches of closed windows as the outputs fill.

        Streaming consumers should prefer this to ``feed``: a batch dropped before the next
        is asked for lets its buffers be reused. The chunk is walked in slices of ``slice_records``
        so the order table is sized by live orders plus one slice's adds (it stays in cache) rather than
        by the chunk length. ``flush=False`` keeps the windows closed since the last full batch
        for a later call (or ``iter_finish``), so batches do not depend on the chunk size: small
        decode chunks then cost no extra tables or lake parts. ``recs`` is not referenced once
        the iterator is exhausted, so it may be a reused decode buffer.
        """
        if recs.dtype != MBO_DTYPE:
            recs = recs.astype(MBO_DTYPE)
        msgs = messages_of(recs)
        n = len(recs)
        lo = 0
        while True:
            hi = min(n, lo + self.slice_records)
            last = final and hi >= n
            # size the order table by the orders this slice can add, not its length: a smaller
            # table stays in cache (one 64-byte row per slot)
            n_adds = self._ensure_levels(msgs, lo, hi)
            self._ensure_orders(n_adds)
            self._ensure_ring(n_adds)
            i = lo
            while True:
                i = run_book(msgs, i, hi, last, self.params, self.st, self.fs, self.orders, self.levels, self.out)
                if i >= hi and (not last or self.st[PENDING] == 0):
                    break
                yield self._take()  # outputs full: hand them over and go on
            lo = hi
            if lo >= n:
                break
        if self.st[OUT_WIN] and (flush or final):
            yield self._take()

    def finish(self) -> list[WindowBatch]:
        """Close the last (partial) window."""
        return self.feed(np.zeros(0, MBO_DTYPE), final=True)

    def iter_finish(self) -> Iterator[WindowBatch]:
        return self.iter_feed(np.zeros(0, MBO_DTYPE), final=True)

    def _take(self) -> WindowBatch:
        nw, nwall, nv, nbk = (int(self.st[k]) for k in (OUT_WIN, OUT_WALL, OUT_VAC, OUT_BUCK))
        out = self.out
        snap = {k: out.snap_i[j, :nw] for j, k in enumerate(SNAP_I)}
        snap.update({k: out.snap_f[j, :nw] for j, k in enumerate(SNAP_F)})
        wall = {k: out.wall[j, :nwall] for j, k in enumerate(WALL_I)}
        vac = {k: out.vac_i[j, :nv] for j, k in enumerate(VAC_I)}
        vac.update({k: out.vac_f[j, :nv] for j, k in enumerate(VAC_F)})
        bucket = {k: out.bucket_i[j, :nbk] for j, k in enumerate(BUCKET_I)}
        bucket.update({k: self.out_bb[j, :nbk] for j, k in enumerate(BUCKET_I32)})
        bucket.update({k: out.bucket_f[j, :nbk] for j, k in enumerate(BUCKET_F)})
        bucket["depth_log"] = out.bucket_f[N_BF, :nbk]
        slow = bool(self.st[N_LOG_SLOW])
        self.st[N_LOG_SLOW] = 0
        self.st[OUT_WIN] = self.st[OUT_WALL] = self.st[OUT_VAC] = self.st[OUT_BUCK] = 0
        # the scratch is shared by every set (zero between windows): the pool keeps the others
        self._pool = (self._pool + [(*out[:-1], self.out_bb)])[-self.POOL:]
        del out
        self.out = None
        self._alloc_out()
        return WindowBatch(snap, wall, vac, bucket, slow)

    @property
    def counters(self) -> dict:
        return {"unknown_order_ids": int(self.st[N_UNKNOWN]), "bad_side_or_price": int(self.st[N_BAD_SIDE]),
                "clears": int(self.st[N_CLEAR]), "invalid_windows": int(self.st[N_INVALID_WIN]),
                "live_orders": int(self.st[NLIVE]), "snapshots": int(self.st[N_SNAPS]),
                "replaced_adds": int(self.st[N_DUP_ADD]), "book_known": int(self.st[KNOWN])}

    @property
    def has_book(self) -> bool:
        """Whether any record of the instrument was fed (the state is worth carrying on)."""
        return bool(self.st[STARTED])

    @property
    def pending(self) -> bool:
        """Records fed since the last window closed (``finish`` would close one more)."""
        return bool(self.st[PENDING])

    @property
    def last_window_end(self) -> int:
        """End (ns) of the window the next record would fall in; -1 before any record."""
        return int(self.st[WIN_END]) if self.st[STARTED] else -1

