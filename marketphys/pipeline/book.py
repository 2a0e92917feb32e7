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

Speed (benchmarks/pipeline.py): outputs are column-major buffers handed out as views
and reused once their batch is dropped (``iter_feed``); a window's scan skips levels
that never held an order and takes a short path on levels quiet for two windows; the
order hash table keeps a slot's key, state and fields in one cache line. Results are
bit-identical to the first implementation (tests/test_pipeline_surfaces_equivalence.py).

The kernels are compiled without numba's reference-counting runtime (``_nrt=False``): they
allocate nothing, and every array they touch is owned by the caller for the whole call. With
it on, each inlined helper taking arrays paid an atomic incref/decref per array argument,
about a third of the book stage (benchmarks/RESULTS.md, pipeline, fourth pass). A kernel
here that allocated would fail to compile, not misbehave.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Iterator

import numpy as np
from numba import njit


def _no_refcount_option() -> dict:
    """``{"_nrt": False}`` where this numba has the (undocumented) option, else ``{}``: a numba
    without it still compiles the kernels, only slower (tests/test_pipeline_book_options.py
    flags that)."""
    try:
        from numba.core.cpu import CPUTargetOptions
    except ImportError:  # pragma: no cover - numba internals moved
        return {}
    return {"_nrt": False} if hasattr(CPUTargetOptions, "_nrt") else {}


NO_REFCOUNT = _no_refcount_option()

from .bronze import F_LAST, F_MAYBE_BAD_BOOK, F_SNAPSHOT, MBO_DTYPE, UNDEF_PRICE

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
# order table columns (one int64 row per hash slot); state 0 empty, 1 live, 2 deleted
OT_KEY, OT_STATE, OT_TICK = 0, 1, 2
OT_COLS = 8
# float slots (``fs``)
F_OFI, F_LAST_MID = range(2)

SNAP_I = ("window_end_ts_ns", "book_valid", "best_bid_price_int", "best_bid_qty", "best_ask_price_int",
          "best_ask_qty", "spot_ref_price_int", "last_trade_price_int", "last_trade_qty", "volume",
          "buy_volume", "sell_volume", "trade_count", "msg_count", "window_seq", "unknown_order_events")
SNAP_F = ("mid_price", "ofi", "book_imbalance", "trade_imbalance", "above_score", "below_score")
WALL_I = ("win", "window_end_ts_ns", "spot_ref_price_int", "rel_ticks", "side", "price_int", "depth_qty_rest", "depth_qty", "add_qty", "pull_qty_total",
          "fill_qty", "d1_depth_qty", "d2_depth_qty")
VAC_I = ("win", "window_end_ts_ns", "spot_ref_price_int", "rel_ticks")
BUCKET_I = ("window_end_ts_ns", "spot_ref_price_int")
BUCKET_I32 = ("bucket", "rel_ticks")
VAC_F = ("vacuum_score", "d2_pull_add_log", "wall_erosion", "pull_add_log")
BUCKET_F = ("depth_qty", "depth_qty_rest", "depletion_qty", "reinforcement_qty", "imbalance", "vacuum_score")
N_BF = len(BUCKET_F)  # out_bf holds BUCKET_F, then depth_log
N_SCRATCH = 8  # per bucket while a window is built: BUCKET_F, then bid and ask depth

_HASH_MUL = np.uint64(0x9E3779B97F4A7C15)


@njit(cache=True, **NO_REFCOUNT, inline="always")
def _slot0(key, mask):
    h = key * _HASH_MUL
    return np.int64((h >> np.uint64(29)) & np.uint64(mask))


@njit(cache=True, **NO_REFCOUNT, inline="always")
def _lookup(keys, hstate, key):
    mask = keys.shape[0] - 1
    s = _slot0(key, mask)
    while True:
        hs = hstate[s]
        if hs == 0:
            return -1
        if hs == 1 and keys[s] == key:
            return s
        s = (s + 1) & mask


@njit(cache=True, **NO_REFCOUNT, inline="always")
def _insert(keys, hstate, key, st):
    mask = keys.shape[0] - 1
    s = _slot0(key, mask)
    while hstate[s] == 1:
        s = (s + 1) & mask
    if hstate[s] == 0:
        st[NUSED] += 1
    hstate[s] = 1
    keys[s] = key
    st[NLIVE] += 1
    return s


@njit(cache=True, **NO_REFCOUNT, inline="always")
def _mark(t, dirty_stamp, dirty_list, st):
    if t < st[TLO]:
        st[TLO] = t
    if t > st[THI]:
        st[THI] = t
    if dirty_stamp[t] != st[W]:
        dirty_stamp[t] = st[W]
        dirty_list[st[NDIRTY]] = t
        st[NDIRTY] += 1


@njit(cache=True, **NO_REFCOUNT, inline="always")
def _level_add(side, t, q, depth, st):
    depth[side, t] += q
    if depth[side, t] <= 0:
        return
    if side == 0:
        if st[BB] < 0 or t > st[BB]:
            st[BB] = t
    else:
        if st[BA] < 0 or t < st[BA]:
            st[BA] = t


@njit(cache=True, **NO_REFCOUNT, inline="always")
def _level_sub(side, t, q, depth, st):
    depth[side, t] -= q
    if depth[side, t] <= 0:
        if side == 0 and t == st[BB]:
            k = t - 1
            while k >= 0 and depth[0, k] <= 0:
                k -= 1
            st[BB] = k  # -1 when empty
        elif side == 1 and t == st[BA]:
            n = depth.shape[1]
            k = t + 1
            while k < n and depth[1, k] <= 0:
                k += 1
            st[BA] = k if k < n else -1


@njit(cache=True, **NO_REFCOUNT, inline="always")
def _remove_qty(s, amt, o_tick, o_side, o_size, o_young, o_fpend, depth, young, pullq, fillq,
                dirty_stamp, dirty_list, st):
    """Take ``amt`` off order slot ``s``: filled part first (pending fills), the rest is a pull."""
    side = o_side[s]
    t = o_tick[s]
    if amt > o_size[s]:
        amt = o_size[s]
    f = amt if amt < o_fpend[s] else o_fpend[s]
    o_fpend[s] -= f
    if st[IN_SNAP] == 0:
        fillq[side, t] += f
        pullq[side, t] += amt - f
    if o_young[s] == 1:
        young[side, t] -= amt
    o_size[s] -= amt
    _level_sub(side, t, amt, depth, st)
    _mark(t, dirty_stamp, dirty_list, st)


@njit(cache=True, **NO_REFCOUNT, inline="always")
def _book_valid(st, depth):
    if st[IN_SNAP] != 0 or st[BAD] != 0 or st[KNOWN] == 0 or st[BB] < 0 or st[BA] < 0:
        return False
    return st[BB] < st[BA]


@njit(cache=True, **NO_REFCOUNT)
def _log1p_scalar(x):
    return np.log1p(x)


# log1p of small whole quantities, from the very function the loop would call (libm via numba):
# flows are whole numbers, and a table read is far cheaper than log1p on every active level.
LOG1P_N = 4096
LOG1P_Q = np.array([_log1p_scalar(float(q)) for q in range(LOG1P_N)])


@njit(cache=True, **NO_REFCOUNT, inline="always")
def _log1p0(x):
    """log1p of a quantity: table for whole numbers below LOG1P_N (same bits), else log1p."""
    if 0.0 <= x < LOG1P_N:
        q = int(x)
        if q == x:
            return LOG1P_Q[q]
    return np.log1p(x)


# bucket_radar depth_log is NumPy's log1p (the contract's reference, which can differ from libm's in the
# last bit): depths are whole numbers, so a table of NumPy's own values, read as buckets are written,
# gives the same bits without a pass over every row. Other depths are counted (N_LOG_SLOW) and their
# batch takes NumPy's log1p over the column (``WindowBatch.depth_log_slow``).
NP_LOG1P_N = 1 << 16
NP_LOG1P = np.log1p(np.arange(NP_LOG1P_N, dtype=np.float64))


@njit(cache=True, **NO_REFCOUNT, inline="always")
def _r_at(t, k, ra, ra_w, rb, rb_w):
    if ra_w[t] == k:
        return ra[t]
    if rb_w[t] == k:
        return rb[t]
    return 0.0


@njit(cache=True, **NO_REFCOUNT)
def _graduate(T, rest_ns, keys, hstate, o_tick, o_side, o_size, o_ts, o_young, ring_id, ring_ts, young,
              dirty_stamp, dirty_list, st):
    cap = ring_id.shape[0]
    while st[RING_HEAD] < st[RING_TAIL]:
        j = st[RING_HEAD] % cap
        if ring_ts[j] > T - rest_ns:
            break
        s = _lookup(keys, hstate, ring_id[j])
        if s >= 0 and o_young[s] == 1 and o_ts[s] == ring_ts[j]:
            o_young[s] = 0
            young[o_side[s], o_tick[s]] -= o_size[s]
            _mark(o_tick[s], dirty_stamp, dirty_list, st)
        st[RING_HEAD] += 1


@njit(cache=True, **NO_REFCOUNT)
def _shrink_span(w, depth, dirty_stamp, st):
    """Narrow TLO..THI past end levels that are empty and will be quiet from window w + 1 on.

    Such a level writes nothing until it is marked again, and ``_mark`` widens the span.
    """
    lo = st[TLO]
    hi = st[THI]
    while lo <= hi and depth[0, lo] == 0 and depth[1, lo] == 0 and dirty_stamp[lo] < w - 1:
        lo += 1
    while hi >= lo and depth[0, hi] == 0 and depth[1, hi] == 0 and dirty_stamp[hi] < w - 1:
        hi -= 1
    if lo > hi:
        st[TLO] = 1 << 62
        st[THI] = -1
    else:
        st[TLO] = lo
        st[THI] = hi


@njit(cache=True, **NO_REFCOUNT)
def _emit(T, tick_int, rest_ns, band, near, keys, hstate, o_tick, o_side, o_size, o_ts, o_young,
          ring_id, ring_ts, depth, young, addq, pullq, fillq, prev_depth, prev_rest, d1_last, d1_w,
          ra, ra_w, rb, rb_w, dirty_stamp, dirty_list, st, fs,
          out_si, out_sf, out_wall, out_vi, out_vf, out_bi, out_bz, out_bf, bscr):
    """Close the window ending at T: graduate resting orders, write one snap row + its level rows.

    Outputs are column-major (one contiguous column per field) so the tables wrap them
    without copies; level rows carry their window's end time and spot. A level untouched
    for the last two windows ("quiet") has no flow and no first/second differences, so it
    takes a short path with the same results; an empty quiet level writes nothing.
    """
    _graduate(T, rest_ns, keys, hstate, o_tick, o_side, o_size, o_ts, o_young, ring_id, ring_ts, young,
              dirty_stamp, dirty_list, st)
    r = st[OUT_WIN]
    w = st[W]
    base = st[BASE]
    L = depth.shape[1]
    valid = _book_valid(st, depth)
    bb = st[BB]
    ba = st[BA]
    out_si[0, r] = T
    out_si[1, r] = 1 if valid else 0
    out_si[2, r] = (base + bb) * tick_int if bb >= 0 else 0
    out_si[3, r] = depth[0, bb] if bb >= 0 else 0
    out_si[4, r] = (base + ba) * tick_int if ba >= 0 else 0
    out_si[5, r] = depth[1, ba] if ba >= 0 else 0
    out_si[7, r] = st[LAST_PX]
    out_si[8, r] = st[LAST_QTY]
    out_si[9, r] = st[VOL]
    out_si[10, r] = st[BUYV]
    out_si[11, r] = st[SELLV]
    out_si[12, r] = st[NTRADES]
    out_si[13, r] = st[NMSG]
    out_si[14, r] = w
    out_si[15, r] = st[N_UNKNOWN_W]
    tv = st[BUYV] + st[SELLV]
    out_sf[1, r] = fs[F_OFI]
    out_sf[3, r] = (st[BUYV] - st[SELLV]) / tv if tv > 0 else 0.0
    if valid:
        spot = (bb + ba) // 2
        mid = 0.5 * (bb + ba + 2 * base) * tick_int * 1e-9
        fs[F_LAST_MID] = mid
        spot_px = (base + spot) * tick_int
        out_si[6, r] = spot_px
        nb = band // 2
        nbk = 2 * nb + 1
        # buckets are summed in a small scratch (stays in cache, all zero between windows), then
        # written out once, in order; blo..bhi is the range of buckets a level reached
        blo = nbk
        bhi = -1
        bid_near = 0.0
        ask_near = 0.0
        vac_above = 0.0
        vac_below = 0.0
        quiet_before = w - 2
        # levels outside TLO..THI are empty and quiet: they would write nothing
        for rel in range(max(-band, st[TLO] - spot), min(band, st[THI] - spot) + 1):
            t = spot + rel
            if t < 0 or t >= L:
                continue
            lvl_pull = 0.0
            lvl_add = 0.0
            lvl_depth = 0.0
            lvl_rest = 0.0
            vac = 0.0
            if dirty_stamp[t] < quiet_before:
                # quiet: no flow, depth == previous depth, no d1/d2, no erosion, r1 = r2 = 0
                if depth[0, t] == 0 and depth[1, t] == 0:
                    continue
                for side in range(2):
                    dq = depth[side, t]
                    rest = dq - young[side, t]
                    if dq != 0:
                        j = st[OUT_WALL]
                        out_wall[0, j] = r
                        out_wall[1, j] = T
                        out_wall[2, j] = spot_px
                        out_wall[3, j] = rel
                        out_wall[4, j] = side
                        out_wall[5, j] = (base + t) * tick_int
                        out_wall[6, j] = rest
                        out_wall[7, j] = dq
                        out_wall[8, j] = 0
                        out_wall[9, j] = 0
                        out_wall[10, j] = 0
                        out_wall[11, j] = 0
                        out_wall[12, j] = 0
                        st[OUT_WALL] += 1
                    lvl_depth += dq
                    lvl_rest += rest
                if lvl_depth != 0:
                    j = st[OUT_VAC]
                    out_vi[0, j] = r
                    out_vi[1, j] = T
                    out_vi[2, j] = spot_px
                    out_vi[3, j] = rel
                    out_vf[0, j] = 0.0
                    out_vf[1, j] = 0.0
                    out_vf[2, j] = 0.0
                    out_vf[3, j] = 0.0
                    st[OUT_VAC] += 1
            else:
                lvl_prev = 0.0
                lvl_prev_rest = 0.0
                for side in range(2):
                    dq = depth[side, t]
                    rest = dq - young[side, t]
                    d1 = dq - prev_depth[side, t]
                    d1p = d1_last[side, t] if d1_w[side, t] == w - 1 else 0
                    d2 = d1 - d1p
                    a = addq[side, t]
                    p = pullq[side, t]
                    f = fillq[side, t]
                    if dq != 0 or a != 0 or p != 0 or f != 0 or d1 != 0 or d2 != 0:
                        j = st[OUT_WALL]
                        out_wall[0, j] = r
                        out_wall[1, j] = T
                        out_wall[2, j] = spot_px
                        out_wall[3, j] = rel
                        out_wall[4, j] = side
                        out_wall[5, j] = (base + t) * tick_int
                        out_wall[6, j] = rest
                        out_wall[7, j] = dq
                        out_wall[8, j] = a
                        out_wall[9, j] = p
                        out_wall[10, j] = f
                        out_wall[11, j] = d1
                        out_wall[12, j] = d2
                        st[OUT_WALL] += 1
                    lvl_pull += p
                    lvl_add += a
                    lvl_depth += dq
                    lvl_prev += prev_depth[side, t]
                    lvl_rest += rest
                    lvl_prev_rest += prev_rest[side, t]
                pal = _log1p0(lvl_pull) - _log1p0(lvl_add)
                r1 = _r_at(t, w - 1, ra, ra_w, rb, rb_w)
                r2 = _r_at(t, w - 2, ra, ra_w, rb, rb_w)
                d2pal = pal - 2.0 * r1 + r2
                net = lvl_pull - lvl_add
                vac = np.tanh(net / (lvl_prev + 1.0)) if net > 0 else 0.0
                ero = (lvl_prev_rest - lvl_rest) / (lvl_prev_rest + 1.0) if lvl_prev_rest > lvl_rest else 0.0
                if lvl_depth != 0 or lvl_pull != 0 or lvl_add != 0 or d2pal != 0.0 or ero != 0.0:
                    j = st[OUT_VAC]
                    out_vi[0, j] = r
                    out_vi[1, j] = T
                    out_vi[2, j] = spot_px
                    out_vi[3, j] = rel
                    out_vf[0, j] = vac
                    out_vf[1, j] = d2pal
                    out_vf[2, j] = ero
                    out_vf[3, j] = pal
                    st[OUT_VAC] += 1
            b = (rel // 2) + nb
            if 0 <= b < nbk:
                if b < blo:
                    blo = b
                if b > bhi:
                    bhi = b
                bscr[0, b] += lvl_depth
                bscr[1, b] += lvl_rest
                bscr[2, b] += lvl_pull + fillq[0, t] + fillq[1, t]
                bscr[3, b] += lvl_add
                bscr[5, b] = max(bscr[5, b], vac)
                bscr[6, b] += depth[0, t]
                bscr[7, b] += depth[1, t]
            if 0 < rel <= near:
                ask_near += depth[1, t]
                vac_above += vac
            elif -near <= rel <= 0:
                bid_near += depth[0, t]
                if rel < 0:
                    vac_below += vac
        q0 = st[OUT_BUCK]
        for k in range(blo, bhi + 1):
            bd = bscr[6, k]
            ad = bscr[7, k]
            bscr[4, k] = (bd - ad) / (bd + ad) if bd + ad > 0 else 0.0
        for k in range(nbk):
            q = q0 + k
            out_bi[0, q] = T
            out_bi[1, q] = spot_px
        # bucket/rel_ticks columns are filled once per buffer (every window's rows sit at a multiple
        # of nbk); feature columns outside blo..bhi are zero, and so is this slot of a reused buffer
        # outside the range written last time (out_bz), so only the union of both ranges is written
        slot = q0 // nbk
        wlo = min(blo, out_bz[0, slot])
        whi = max(bhi, out_bz[1, slot])
        for c in range(N_BF):
            for k in range(wlo, whi + 1):
                out_bf[c, q0 + k] = bscr[c, k]
        for k in range(wlo, whi + 1):
            d = bscr[0, k]
            if 0.0 <= d < NP_LOG1P_N and int(d) == d:
                out_bf[N_BF, q0 + k] = NP_LOG1P[int(d)]
            else:
                out_bf[N_BF, q0 + k] = 0.0  # replaced: the batch's whole column comes from np.log1p
                st[N_LOG_SLOW] += 1
        out_bz[0, slot] = blo
        out_bz[1, slot] = bhi
        for c in range(N_SCRATCH):
            for k in range(blo, bhi + 1):
                bscr[c, k] = 0.0
        st[OUT_BUCK] += nbk
        tot = bid_near + ask_near
        ask_share = ask_near / tot if tot > 0 else 0.5
        out_sf[2, r] = (bid_near - ask_near) / tot if tot > 0 else 0.0
        out_sf[4, r] = 0.5 * (1.0 - ask_share) + 0.5 * vac_above / near
        out_sf[5, r] = 0.5 * ask_share + 0.5 * vac_below / near
    else:
        out_si[6, r] = 0
        st[N_INVALID_WIN] += 1
        out_sf[2, r] = 0.0
        out_sf[4, r] = 0.5
        out_sf[5, r] = 0.5
    out_sf[0, r] = fs[F_LAST_MID]
    # roll per-level history for every level touched in this window
    for k in range(st[NDIRTY]):
        t = dirty_list[k]
        lp = 0.0
        la = 0.0
        for side in range(2):
            d1_last[side, t] = depth[side, t] - prev_depth[side, t]
            d1_w[side, t] = w
            prev_depth[side, t] = depth[side, t]
            prev_rest[side, t] = depth[side, t] - young[side, t]
            lp += pullq[side, t]
            la += addq[side, t]
            addq[side, t] = 0
            pullq[side, t] = 0
            fillq[side, t] = 0
        rb[t] = ra[t]
        rb_w[t] = ra_w[t]
        ra[t] = _log1p0(lp) - _log1p0(la)
        ra_w[t] = w
    st[NDIRTY] = 0
    _shrink_span(w, depth, dirty_stamp, st)
    st[VOL] = 0
    st[BUYV] = 0
    st[SELLV] = 0
    st[NTRADES] = 0
    st[NMSG] = 0
    st[N_UNKNOWN_W] = 0
    st[PENDING] = 0
    fs[F_OFI] = 0.0
    st[OUT_WIN] += 1
    st[W] += 1


@njit(cache=True, **NO_REFCOUNT)
def _clear(keys, hstate, o_young, depth, young, dirty_stamp, dirty_list, st):
    L = depth.shape[1]
    for t in range(L):
        if depth[0, t] != 0 or depth[1, t] != 0:
            _mark(t, dirty_stamp, dirty_list, st)
        depth[0, t] = 0
        depth[1, t] = 0
        young[0, t] = 0
        young[1, t] = 0
    for s in range(hstate.shape[0]):
        hstate[s] = 0
    st[NLIVE] = 0
    st[NUSED] = 0
    st[BB] = -1
    st[BA] = -1
    st[BAD] = 0
    st[RING_HEAD] = st[RING_TAIL]
    st[PREV_VALID] = 0


@njit(cache=True, **NO_REFCOUNT, inline="always")
def _end_event(st, fs, depth):
    """End of an event: order-flow imbalance (Cont, Kukanov, Stoikov 2014) on the BBO."""
    if _book_valid(st, depth):
        pb = st[BB]
        pa = st[BA]
        qb = depth[0, pb]
        qa = depth[1, pa]
        if st[PREV_VALID] == 1:
            e = 0
            if pb >= st[PBB]:
                e += qb
            if pb <= st[PBB]:
                e -= st[PQB]
            if pa <= st[PBA]:
                e -= qa
            if pa >= st[PBA]:
                e += st[PQA]
            fs[F_OFI] += e
        st[PBB] = pb
        st[PBA] = pa
        st[PQB] = qb
        st[PQA] = qa
        st[PREV_VALID] = 1
    else:
        st[PREV_VALID] = 0


@njit(cache=True, **NO_REFCOUNT)
def run_book(ts_recv, price, size, order_id, flags, action, side_c, instr, instrument_id, i0, n_end, final,
             tick_int, window_ns, rest_ns, max_fill, band, near,
             st, fs, keys, hstate, o_tick, o_side, o_size, o_ts, o_young, o_fpend, ring_id, ring_ts,
             depth, young, addq, pullq, fillq, prev_depth, prev_rest, d1_last, d1_w,
             ra, ra_w, rb, rb_w, dirty_stamp, dirty_list,
             out_si, out_sf, out_wall, out_vi, out_vf, out_bi, out_bz, out_bf, bscr):
    """Apply messages [i0, n_end); return the index to resume from (< n_end when the outputs are full).

    An event ends at a message with F_LAST or at a change of ts_recv (the next record's,
    whichever instrument it is for). An event still open at the end of the arrays stays open
    into the next call's first record (``EVT_OPEN``), and ends at the stream's end (``final``),
    so neither slicing a chunk nor the chunk size changes results.
    """
    base = st[BASE]
    n_all = ts_recv.shape[0]
    win_cap = out_si.shape[1]
    wall_need = 2 * (2 * band + 1)
    vac_need = 2 * band + 1
    buck_need = 2 * (band // 2) + 1
    rcap = ring_id.shape[0]
    i = i0
    if i0 == 0 and n_all > 0 and st[EVT_OPEN] == 1:
        # the previous chunk's last record: its event ends here unless this record shares its ts_recv
        st[EVT_OPEN] = 0
        if np.int64(ts_recv[0]) != st[EVT_TS]:
            _end_event(st, fs, depth)
    while i < n_end:
        if instr[i] != instrument_id:
            i += 1
            continue
        ts = np.int64(ts_recv[i])
        if st[STARTED] == 0:
            st[STARTED] = 1
            st[WIN_END] = ((ts + window_ns - 1) // window_ns) * window_ns
        # close every window that ends before this message
        if ts > st[WIN_END]:
            gap = (ts - st[WIN_END] + window_ns - 1) // window_ns  # windows between
            if st[OUT_WIN] >= win_cap or st[OUT_WALL] + wall_need > out_wall.shape[1] \
                    or st[OUT_VAC] + vac_need > out_vi.shape[1] or st[OUT_BUCK] + buck_need > out_bi.shape[1]:
                return i
            _emit(st[WIN_END], tick_int, rest_ns, band, near, keys, hstate, o_tick, o_side, o_size, o_ts,
                  o_young, ring_id, ring_ts, depth, young, addq, pullq, fillq, prev_depth, prev_rest, d1_last,
                  d1_w, ra, ra_w, rb, rb_w, dirty_stamp, dirty_list, st, fs,
                  out_si, out_sf, out_wall, out_vi, out_vf, out_bi, out_bz, out_bf, bscr)
            if gap > max_fill:
                st[WIN_END] = ((ts + window_ns - 1) // window_ns) * window_ns
            else:
                st[WIN_END] += window_ns
            continue  # re-check: maybe more empty windows to emit
        st[NMSG] += 1
        st[PENDING] = 1
        fl = flags[i]
        if fl & F_SNAPSHOT:
            if st[IN_SNAP] == 0:
                # a new snapshot replaces the book, with or without a clear of its own
                _clear(keys, hstate, o_young, depth, young, dirty_stamp, dirty_list, st)
                st[N_SNAPS] += 1
                st[IN_SNAP] = 1
        elif st[IN_SNAP] != 0:
            # the first record without F_SNAPSHOT ends a snapshot that had no F_LAST: the
            # snapshot's event ends here too, as F_LAST would have ended it (OFI starts from its BBO)
            st[IN_SNAP] = 0
            st[KNOWN] = 1
            _end_event(st, fs, depth)
        if fl & F_MAYBE_BAD_BOOK:
            st[BAD] = 1
        act = action[i]
        sd = side_c[i]
        sidx = 0 if sd == 66 else (1 if sd == 65 else -1)  # 'B' / 'A'
        oid = order_id[i]
        if act == 65 or act == 77:  # 'A' add, 'M' modify
            px = price[i]
            if sidx < 0 or px == UNDEF_PRICE:
                st[N_BAD_SIDE] += 1
            else:
                t = px // tick_int - base
                q = np.int64(size[i])
                s = _lookup(keys, hstate, oid)
                if s >= 0 and act == 77 and o_tick[s] == t and o_side[s] == sidx and q <= o_size[s]:
                    # size reduction keeps priority: part fill, part pull
                    _remove_qty(s, o_size[s] - q, o_tick, o_side, o_size, o_young, o_fpend, depth, young,
                                pullq, fillq, dirty_stamp, dirty_list, st)
                else:
                    snap = st[IN_SNAP]
                    if s >= 0:
                        if act == 77 and o_tick[s] == t and o_side[s] == sidx:
                            # same level, size increase: only the increase is new liquidity
                            inc = q - o_size[s]
                            if o_young[s] == 1:
                                young[sidx, t] -= o_size[s]
                            if snap == 0:
                                addq[sidx, t] += inc
                                young[sidx, t] += q
                            _level_add(sidx, t, inc, depth, st)
                            o_size[s] = q
                        else:
                            # moved (or re-added): the old resting quantity is pulled from its level
                            o_fpend[s] = 0
                            _remove_qty(s, o_size[s], o_tick, o_side, o_size, o_young, o_fpend, depth, young,
                                        pullq, fillq, dirty_stamp, dirty_list, st)
                            o_tick[s] = t
                            o_side[s] = sidx
                            o_size[s] = q
                            if snap == 0:
                                addq[sidx, t] += q
                                young[sidx, t] += q
                            _level_add(sidx, t, q, depth, st)
                        if act == 65:
                            st[N_DUP_ADD] += 1  # an add for a resting order id replaces that order
                    else:
                        s = _insert(keys, hstate, oid, st)
                        o_tick[s] = t
                        o_side[s] = sidx
                        o_size[s] = q
                        o_fpend[s] = 0
                        if snap == 0:
                            addq[sidx, t] += q
                            young[sidx, t] += q
                        _level_add(sidx, t, q, depth, st)
                        if act == 77:
                            st[N_UNKNOWN] += 1  # modify of an unknown order: treated as an add
                            st[N_UNKNOWN_W] += 1
                    o_ts[s] = ts
                    o_young[s] = 0 if snap != 0 else 1
                    if snap == 0:
                        j = st[RING_TAIL] % rcap
                        ring_id[j] = oid
                        ring_ts[j] = ts
                        st[RING_TAIL] += 1
                    _mark(t, dirty_stamp, dirty_list, st)
                if o_size[s] <= 0:
                    hstate[s] = 2
                    st[NLIVE] -= 1
        elif act == 67:  # 'C' cancel
            s = _lookup(keys, hstate, oid)
            if s < 0:
                st[N_UNKNOWN] += 1
                st[N_UNKNOWN_W] += 1
            else:
                _remove_qty(s, np.int64(size[i]), o_tick, o_side, o_size, o_young, o_fpend, depth, young,
                            pullq, fillq, dirty_stamp, dirty_list, st)
                if o_size[s] <= 0:
                    hstate[s] = 2
                    st[NLIVE] -= 1
        elif act == 70:  # 'F' fill: the book changes on the following C/M
            s = _lookup(keys, hstate, oid)
            if s >= 0:
                o_fpend[s] += np.int64(size[i])
                if o_fpend[s] > o_size[s]:
                    o_fpend[s] = o_size[s]
            elif oid != 0:
                st[N_UNKNOWN] += 1
                st[N_UNKNOWN_W] += 1
        elif act == 84:  # 'T' trade, side = aggressor
            q = np.int64(size[i])
            if price[i] != UNDEF_PRICE:
                st[LAST_PX] = price[i]
                st[LAST_QTY] = q
            st[VOL] += q
            st[NTRADES] += 1
            if sidx == 0:
                st[BUYV] += q
            elif sidx == 1:
                st[SELLV] += q
        elif act == 82:  # 'R' clear
            _clear(keys, hstate, o_young, depth, young, dirty_stamp, dirty_list, st)
            st[N_CLEAR] += 1
            if st[IN_SNAP] == 0:
                st[KNOWN] = 1  # known empty; inside a snapshot, known at its end
        if fl & F_SNAPSHOT and fl & F_LAST:
            st[IN_SNAP] = 0
            st[KNOWN] = 1
        if (fl & F_LAST) or (i + 1 < n_all and ts_recv[i + 1] != ts_recv[i]):
            _end_event(st, fs, depth)  # inlined at numba IR level: no call in the message loop
        elif i + 1 >= n_all:
            st[EVT_OPEN] = 1  # decided by the next chunk's first record (or the stream's end)
            st[EVT_TS] = np.int64(ts_recv[i])
        i += 1
    if final and st[EVT_OPEN] == 1:
        st[EVT_OPEN] = 0
        _end_event(st, fs, depth)
    if final and st[PENDING] == 1:
        if st[OUT_WIN] >= win_cap or st[OUT_WALL] + wall_need > out_wall.shape[1] \
                or st[OUT_VAC] + vac_need > out_vi.shape[1] or st[OUT_BUCK] + buck_need > out_bi.shape[1]:
            return i
        _emit(st[WIN_END], tick_int, rest_ns, band, near, keys, hstate, o_tick, o_side, o_size, o_ts,
              o_young, ring_id, ring_ts, depth, young, addq, pullq, fillq, prev_depth, prev_rest, d1_last,
              d1_w, ra, ra_w, rb, rb_w, dirty_stamp, dirty_list, st, fs,
              out_si, out_sf, out_wall, out_vi, out_vf, out_bi, out_bz, out_bf, bscr)
        st[WIN_END] += window_ns
    return n_end


@njit(cache=True, **NO_REFCOUNT)
def _scan_adds(instr, action, price, instrument_id, i0, i1, tick_int):
    """Adds/modifies of the instrument in [i0, i1) with a price: their count and tick range."""
    n = 0
    lo = np.int64(0)
    hi = np.int64(0)
    for i in range(i0, i1):
        if instr[i] == instrument_id and (action[i] == 65 or action[i] == 77) and price[i] != UNDEF_PRICE:
            px = price[i]
            if n == 0 or px < lo:
                lo = px
            if n == 0 or px > hi:
                hi = px
            n += 1
    return n, lo // tick_int, hi // tick_int  # floor division keeps order: one divide, not one per add


@njit(cache=True, **NO_REFCOUNT)
def _rehash(keys, hstate, otab, new_keys, new_otab):
    """Move live slots into ``new_otab`` (zeroed); ``new_keys`` is its key column. Returns live count."""
    mask = new_otab.shape[0] - 1
    n = 0
    for s in range(keys.shape[0]):
        if hstate[s] == 1:
            j = _slot0(keys[s], mask)
            while new_otab[j, OT_STATE] == 1:
                j = (j + 1) & mask
            for c in range(otab.shape[1]):
                new_otab[j, c] = otab[s, c]
            n += 1
    return n


def _aligned_table(rows: int, cols: int) -> np.ndarray:
    """Zeroed int64 (rows, cols) whose rows start on 64-byte boundaries (one cache line per order)."""
    flat = np.zeros(rows * cols + 8, np.int64)
    off = (-flat.ctypes.data % 64) // 8
    return flat[off: off + rows * cols].reshape(rows, cols)


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
    so the compiled loop is a pure function of (messages, state) -> (state, outputs).
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
        self.st = np.zeros(N_ST, np.int64)
        self.st[BB] = self.st[BA] = self.st[THI] = -1
        self.st[TLO] = 1 << 62
        self.st[BASE] = -1
        self.st[KNOWN] = 1 if allow_partial else 0
        self.fs = np.zeros(2, np.float64)
        self._alloc_orders(1 << 12)
        self.ring_id = np.zeros(1 << 12, np.uint64)
        self.ring_ts = np.zeros(1 << 12, np.int64)
        self.L = 0
        self.nb = self.band // 2
        self.win_cap = int(windows_per_batch)
        self.bscr = np.zeros((N_SCRATCH, 2 * (self.band // 2) + 1), np.float64)
        self._pool: list[tuple] = []
        self.slice_records = max(1, int(slice_records))
        self._alloc_out()

    # -- storage management (between compiled calls)
    def _alloc_orders(self, cap):
        self._set_orders(_aligned_table(cap, OT_COLS))

    def _set_orders(self, otab):
        # one 64-byte row per hash slot: key, state, then the order's fields, so a lookup that
        # finds its order has also fetched the order (one cache miss, not three)
        self.otab = otab
        self.keys = otab[:, OT_KEY].view(np.uint64)
        self.hstate = otab[:, OT_STATE]
        self.ocols = otab[:, OT_TICK:]  # tick, side, size, ts, young, fill_pending

    def _alloc_out(self):
        """Column-major output buffers: a taken batch keeps views of the old ones (no copy).

        A set whose batch nobody refers to any more (only this pool holds it) is written
        again; touching fresh memory for every batch costs more than the surfaces.
        """
        for k, bufs in enumerate(self._pool):
            if max(_refcounts(bufs)) <= _IDLE_REFS:  # no view of any of them is alive
                self._pool.pop(k)
                (self.out_si, self.out_sf, self.out_wall, self.out_vi, self.out_vf, self.out_bi, self.out_bb,
                 self.out_bf, self.out_bz) = bufs
                return
        self.out_si = np.empty((len(SNAP_I), self.win_cap), np.int64)
        self.out_sf = np.empty((len(SNAP_F), self.win_cap), np.float64)
        wall_cap = self.win_cap * 64 + 2 * (2 * self.band + 1)
        self.out_wall = np.empty((len(WALL_I), wall_cap), np.int64)
        vac_cap = self.win_cap * 32 + (2 * self.band + 1)
        self.out_vi = np.empty((len(VAC_I), vac_cap), np.int64)
        self.out_vf = np.empty((len(VAC_F), vac_cap), np.float64)
        buck_cap = self.win_cap * (2 * self.nb + 1)
        self.out_bi = np.empty((len(BUCKET_I), buck_cap), np.int64)
        bucket = np.tile(np.arange(-self.nb, self.nb + 1, dtype=np.int32), self.win_cap)
        self.out_bb = np.stack([bucket, 2 * bucket])  # the same for every window: written once here
        self.out_bf = np.empty((N_BF + 1, buck_cap), np.float64)  # BUCKET_F + depth_log
        # per bucket slot, the range of buckets last written non-zero; fresh memory: all of it unknown
        self.out_bz = np.empty((2, self.win_cap), np.int64)
        self.out_bz[0], self.out_bz[1] = 0, 2 * self.nb

    def _ensure_orders(self, n_new):
        cap = self.keys.shape[0]
        if (self.st[NUSED] + n_new) * 2 <= cap:
            return
        new_cap = 1 << int(np.ceil(np.log2(max(4 * (self.st[NLIVE] + n_new), 1 << 12))))
        new = _aligned_table(new_cap, OT_COLS)
        n = _rehash(self.keys, self.hstate, self.otab, new[:, OT_KEY].view(np.uint64), new)
        self._set_orders(new)
        self.st[NUSED] = self.st[NLIVE] = n

    def _ensure_ring(self, n_new):
        cap = self.ring_id.shape[0]
        live = int(self.st[RING_TAIL] - self.st[RING_HEAD])
        if live + n_new <= cap:
            return
        new_cap = 1 << int(np.ceil(np.log2(2 * (live + n_new))))
        idx = (np.arange(self.st[RING_HEAD], self.st[RING_TAIL]) % cap)
        rid, rts = np.zeros(new_cap, np.uint64), np.zeros(new_cap, np.int64)
        rid[:live], rts[:live] = self.ring_id[idx], self.ring_ts[idx]
        self.ring_id, self.ring_ts = rid, rts
        self.st[RING_HEAD], self.st[RING_TAIL] = 0, live

    def _ensure_levels(self, cols, i0: int, i1: int) -> int:
        """Grow the level arrays to cover the adds/modifies in records [i0, i1); return how many there
        are (the most orders, and ring entries, the loop can add for them)."""
        n_adds, lo, hi = _scan_adds(cols[7], cols[5], cols[1], np.uint32(self.instrument_id), i0, i1, self.tick_int)
        if not n_adds:
            if self.L == 0:
                self._alloc_levels(0, 1 << 12)
            return 0
        margin = 2 * self.band + 64
        base = int(self.st[BASE])
        if self.L and base + margin <= lo and hi < base + self.L - margin:
            return n_adds
        new_lo = min(lo, base + margin if self.L else lo) - 4 * margin
        new_hi = max(hi, base + self.L - margin if self.L else hi) + 4 * margin
        new_L = 1 << int(np.ceil(np.log2(new_hi - new_lo + 1)))
        if self.L == 0:
            self._alloc_levels(new_lo, new_L)
            return n_adds
        shift = base - new_lo
        for name in ("depth", "young", "addq", "pullq", "fillq", "prev_depth", "prev_rest", "d1_last", "d1_w"):
            old = getattr(self, name)
            new = np.full((2, new_L), -10 if name == "d1_w" else 0, old.dtype)
            new[:, shift: shift + self.L] = old
            setattr(self, name, new)
        for name in ("ra", "ra_w", "rb", "rb_w", "dirty_stamp"):
            old = getattr(self, name)
            new = np.full(new_L, -10 if name.endswith("_w") or name == "dirty_stamp" else 0, old.dtype)
            new[shift: shift + self.L] = old
            setattr(self, name, new)
        nd = int(self.st[NDIRTY])
        dl = np.zeros(new_L, np.int64)
        dl[:nd] = self.dirty_list[:nd] + shift
        self.dirty_list = dl
        live = self.hstate == 1
        self.ocols[live, 0] += shift
        for k in (BB, BA, THI):
            if self.st[k] >= 0:
                self.st[k] += shift
        if self.st[THI] >= 0:
            self.st[TLO] += shift
        for k in (PBB, PBA):
            self.st[k] += shift
        self.st[BASE] = new_lo
        self.L = new_L
        return n_adds

    def _alloc_levels(self, base, L):
        self.st[BASE] = base
        self.L = L
        z2 = lambda dt=np.int64: np.zeros((2, L), dt)  # noqa: E731
        self.depth, self.young, self.addq, self.pullq, self.fillq = z2(), z2(), z2(), z2(), z2()
        self.prev_depth, self.prev_rest, self.d1_last = z2(), z2(), z2()
        self.d1_w = np.full((2, L), -10, np.int64)
        self.ra, self.rb = np.zeros(L), np.zeros(L)
        self.ra_w, self.rb_w = np.full(L, -10, np.int64), np.full(L, -10, np.int64)
        self.dirty_stamp = np.full(L, -10, np.int64)
        self.dirty_list = np.zeros(L, np.int64)

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
        cols = (recs["ts_recv"], recs["price"], recs["size"], recs["order_id"], recs["flags"], recs["action"],
                recs["side"], recs["instrument_id"])
        n = len(recs)
        lo = 0
        while True:
            hi = min(n, lo + self.slice_records)
            last = final and hi >= n
            # size the order table by the orders this slice can add, not its length: a smaller
            # table stays in cache (one 64-byte row per slot)
            n_adds = self._ensure_levels(cols, lo, hi)
            self._ensure_orders(n_adds)
            self._ensure_ring(n_adds)
            i = lo
            while True:
                i = self._run(cols, i, hi, last)
                if i >= hi and (not last or self.st[PENDING] == 0):
                    break
                yield self._take()  # outputs full: hand them over and go on
            lo = hi
            if lo >= n:
                break
        if self.st[OUT_WIN] and (flush or final):
            yield self._take()

    def _run(self, cols, i, hi, last):
        oc = self.ocols
        return run_book(*cols, np.uint32(self.instrument_id), i, hi, last, self.tick_int, self.window_ns,
                        self.rest_ns, self.max_fill, self.band, self.near, self.st, self.fs, self.keys, self.hstate,
                        oc[:, 0], oc[:, 1], oc[:, 2], oc[:, 3], oc[:, 4], oc[:, 5], self.ring_id, self.ring_ts,
                        self.depth, self.young, self.addq, self.pullq, self.fillq, self.prev_depth, self.prev_rest,
                        self.d1_last, self.d1_w, self.ra, self.ra_w, self.rb, self.rb_w, self.dirty_stamp,
                        self.dirty_list, self.out_si, self.out_sf, self.out_wall, self.out_vi, self.out_vf,
                        self.out_bi, self.out_bz, self.out_bf, self.bscr)

    def finish(self) -> list[WindowBatch]:
        """Close the last (partial) window."""
        return self.feed(np.zeros(0, MBO_DTYPE), final=True)

    def iter_finish(self) -> Iterator[WindowBatch]:
        return self.iter_feed(np.zeros(0, MBO_DTYPE), final=True)

    def _take(self) -> WindowBatch:
        nw, nwall, nv, nbk = (int(self.st[k]) for k in (OUT_WIN, OUT_WALL, OUT_VAC, OUT_BUCK))
        snap = {k: self.out_si[j, :nw] for j, k in enumerate(SNAP_I)}
        snap.update({k: self.out_sf[j, :nw] for j, k in enumerate(SNAP_F)})
        wall = {k: self.out_wall[j, :nwall] for j, k in enumerate(WALL_I)}
        vac = {k: self.out_vi[j, :nv] for j, k in enumerate(VAC_I)}
        vac.update({k: self.out_vf[j, :nv] for j, k in enumerate(VAC_F)})
        bucket = {k: self.out_bi[j, :nbk] for j, k in enumerate(BUCKET_I)}
        bucket.update({k: self.out_bb[j, :nbk] for j, k in enumerate(BUCKET_I32)})
        bucket.update({k: self.out_bf[j, :nbk] for j, k in enumerate(BUCKET_F)})
        bucket["depth_log"] = self.out_bf[N_BF, :nbk]
        slow = bool(self.st[N_LOG_SLOW])
        self.st[N_LOG_SLOW] = 0
        self.st[OUT_WIN] = self.st[OUT_WALL] = self.st[OUT_VAC] = self.st[OUT_BUCK] = 0
        self._pool = (self._pool + [(self.out_si, self.out_sf, self.out_wall, self.out_vi, self.out_vf,
                                     self.out_bi, self.out_bb, self.out_bf, self.out_bz)])[-self.POOL:]
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

