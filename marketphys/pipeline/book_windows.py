"""The futures book's window writer: closing a window writes its rows into the output buffers.

A window's close writes one snap row (best bid/ask, trades, order-flow imbalance, near-touch
scores), one wall row per (level, side) with depth or flow, one vacuum row per level with depth
or flow, and the 2-tick buckets of a valid book; then it rolls each touched level's history.
Outputs are column-major (one contiguous column per field) so the tables wrap them without
copies; level rows carry their window's end time and spot. A level untouched for the last two
windows ("quiet") has no flow and no first/second differences, so it takes a short path with
the same results; an empty quiet level writes nothing.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from marketphys.dbn import PRICE_SCALE

from .book_layout import (BA, BASE, BB, BUYV, F_LAST_MID, F_OFI, LAST_PX, LAST_QTY, N_INVALID_WIN, N_LOG_SLOW,
                          N_UNKNOWN_W, NDIRTY, NMSG, NO_REFCOUNT, NTRADES, OUT_BUCK, OUT_VAC, OUT_WALL, OUT_WIN,
                          PENDING, SELLV, THI, TLO, VOL, W)
from .book_levels import book_valid, graduate, shrink_span

SNAP_I = ("window_end_ts_ns", "book_valid", "best_bid_price_int", "best_bid_qty", "best_ask_price_int",
          "best_ask_qty", "spot_ref_price_int", "last_trade_price_int", "last_trade_qty", "volume",
          "buy_volume", "sell_volume", "trade_count", "msg_count", "window_seq", "unknown_order_events")
SNAP_F = ("mid_price", "ofi", "book_imbalance", "trade_imbalance", "above_score", "below_score")
WALL_I = ("win", "window_end_ts_ns", "spot_ref_price_int", "rel_ticks", "side", "price_int", "depth_qty_rest",
          "depth_qty", "add_qty", "pull_qty_total", "fill_qty", "d1_depth_qty", "d2_depth_qty")
VAC_I = ("win", "window_end_ts_ns", "spot_ref_price_int", "rel_ticks")
BUCKET_I = ("window_end_ts_ns", "spot_ref_price_int")
BUCKET_I32 = ("bucket", "rel_ticks")
VAC_F = ("vacuum_score", "d2_pull_add_log", "wall_erosion", "pull_add_log")
BUCKET_F = ("depth_qty", "depth_qty_rest", "depletion_qty", "reinforcement_qty", "imbalance", "vacuum_score")
N_BF = len(BUCKET_F)  # bucket_f holds BUCKET_F, then depth_log
N_SCRATCH = 8  # per bucket while a window is built: BUCKET_F, then bid and ask depth


class WindowOut(NamedTuple):
    """Output buffers (column-major: one row per field, one column per output row)."""

    snap_i: np.ndarray          # SNAP_I, one column per window
    snap_f: np.ndarray          # SNAP_F
    wall: np.ndarray            # WALL_I, one column per (level, side)
    vac_i: np.ndarray           # VAC_I, one column per level
    vac_f: np.ndarray           # VAC_F
    bucket_i: np.ndarray        # BUCKET_I, 2 * (band // 2) + 1 columns per valid window
    bucket_span: np.ndarray     # (2, windows): per bucket slot, the bucket range last written non-zero
    bucket_f: np.ndarray        # BUCKET_F + depth_log
    bucket_scratch: np.ndarray  # (N_SCRATCH, buckets): one window's sums, all zero between windows


@njit(cache=True, **NO_REFCOUNT)
def _log1p_scalar(x):
    return np.log1p(x)


# log1p of small whole quantities, from the very function the loop would call (libm via numba):
# flows are whole numbers, and a table read is far cheaper than log1p on every active level.
LOG1P_N = 4096
LOG1P_Q = np.array([_log1p_scalar(float(q)) for q in range(LOG1P_N)])

# bucket_radar depth_log is NumPy's log1p (the contract's reference, which can differ from libm's in the
# last bit): depths are whole numbers, so a table of NumPy's own values, read as buckets are written,
# gives the same bits without a pass over every row. Other depths are counted (N_LOG_SLOW) and their
# batch takes NumPy's log1p over the column (``WindowBatch.depth_log_slow``).
NP_LOG1P_N = 1 << 16
NP_LOG1P = np.log1p(np.arange(NP_LOG1P_N, dtype=np.float64))


@njit(cache=True, **NO_REFCOUNT, inline="always")
def _log1p0(x):
    """log1p of a quantity: table for whole numbers below LOG1P_N (same bits), else log1p."""
    if 0.0 <= x < LOG1P_N:
        q = int(x)
        if q == x:
            return LOG1P_Q[q]
    return np.log1p(x)


@njit(cache=True, **NO_REFCOUNT, inline="always")
def _ratio_at(t, k, lv):
    """Level t's pull/add log ratio of window k (0 if it was not touched then)."""
    if lv.ra_w[t] == k:
        return lv.ra[t]
    if lv.rb_w[t] == k:
        return lv.rb[t]
    return 0.0


@njit(cache=True, **NO_REFCOUNT, inline="always")
def _wall_row(out, st, r, T, spot_px, rel, side, price, rest, dq, a, p, f, d1, d2):
    j = st[OUT_WALL]
    wall = out.wall
    wall[0, j] = r
    wall[1, j] = T
    wall[2, j] = spot_px
    wall[3, j] = rel
    wall[4, j] = side
    wall[5, j] = price
    wall[6, j] = rest
    wall[7, j] = dq
    wall[8, j] = a
    wall[9, j] = p
    wall[10, j] = f
    wall[11, j] = d1
    wall[12, j] = d2
    st[OUT_WALL] += 1


@njit(cache=True, **NO_REFCOUNT, inline="always")
def _vacuum_row(out, st, r, T, spot_px, rel, vac, d2pal, ero, pal):
    j = st[OUT_VAC]
    out.vac_i[0, j] = r
    out.vac_i[1, j] = T
    out.vac_i[2, j] = spot_px
    out.vac_i[3, j] = rel
    out.vac_f[0, j] = vac
    out.vac_f[1, j] = d2pal
    out.vac_f[2, j] = ero
    out.vac_f[3, j] = pal
    st[OUT_VAC] += 1


@njit(cache=True, **NO_REFCOUNT, inline="always")
def _snap_row(T, r, valid, tick_int, st, fs, depth, out):
    """The window's snap row, but for the spot and the scores (written once the levels are scanned)."""
    si = out.snap_i
    base = st[BASE]
    bb = st[BB]
    ba = st[BA]
    si[0, r] = T
    si[1, r] = 1 if valid else 0
    si[2, r] = (base + bb) * tick_int if bb >= 0 else 0
    si[3, r] = depth[0, bb] if bb >= 0 else 0
    si[4, r] = (base + ba) * tick_int if ba >= 0 else 0
    si[5, r] = depth[1, ba] if ba >= 0 else 0
    si[7, r] = st[LAST_PX]
    si[8, r] = st[LAST_QTY]
    si[9, r] = st[VOL]
    si[10, r] = st[BUYV]
    si[11, r] = st[SELLV]
    si[12, r] = st[NTRADES]
    si[13, r] = st[NMSG]
    si[14, r] = st[W]
    si[15, r] = st[N_UNKNOWN_W]
    tv = st[BUYV] + st[SELLV]
    out.snap_f[1, r] = fs[F_OFI]
    out.snap_f[3, r] = (st[BUYV] - st[SELLV]) / tv if tv > 0 else 0.0


@njit(cache=True, **NO_REFCOUNT, inline="always")
def _quiet_level(t, rel, r, T, spot_px, price, lv, st, out):
    """A level untouched for two windows: depth rows only. Returns (depth, resting depth)."""
    lvl_depth = 0.0
    lvl_rest = 0.0
    for side in range(2):
        dq = lv.depth[side, t]
        rest = dq - lv.young[side, t]
        if dq != 0:
            _wall_row(out, st, r, T, spot_px, rel, side, price, rest, dq, 0, 0, 0, 0, 0)
        lvl_depth += dq
        lvl_rest += rest
    if lvl_depth != 0:
        _vacuum_row(out, st, r, T, spot_px, rel, 0.0, 0.0, 0.0, 0.0)
    return lvl_depth, lvl_rest


@njit(cache=True, **NO_REFCOUNT, inline="always")
def _active_level(t, rel, r, T, spot_px, price, w, lv, st, out):
    """A level touched in the last two windows: flows, differences, vacuum and erosion.
    Returns (depth, resting depth, pulled, added, vacuum score)."""
    lvl_pull = 0.0
    lvl_add = 0.0
    lvl_depth = 0.0
    lvl_rest = 0.0
    lvl_prev = 0.0
    lvl_prev_rest = 0.0
    for side in range(2):
        dq = lv.depth[side, t]
        rest = dq - lv.young[side, t]
        d1 = dq - lv.prev_depth[side, t]
        d1p = lv.d1_last[side, t] if lv.d1_w[side, t] == w - 1 else 0
        d2 = d1 - d1p
        a = lv.addq[side, t]
        p = lv.pullq[side, t]
        f = lv.fillq[side, t]
        if dq != 0 or a != 0 or p != 0 or f != 0 or d1 != 0 or d2 != 0:
            _wall_row(out, st, r, T, spot_px, rel, side, price, rest, dq, a, p, f, d1, d2)
        lvl_pull += p
        lvl_add += a
        lvl_depth += dq
        lvl_prev += lv.prev_depth[side, t]
        lvl_rest += rest
        lvl_prev_rest += lv.prev_rest[side, t]
    pal = _log1p0(lvl_pull) - _log1p0(lvl_add)
    r1 = _ratio_at(t, w - 1, lv)
    r2 = _ratio_at(t, w - 2, lv)
    d2pal = pal - 2.0 * r1 + r2
    net = lvl_pull - lvl_add
    vac = np.tanh(net / (lvl_prev + 1.0)) if net > 0 else 0.0
    ero = (lvl_prev_rest - lvl_rest) / (lvl_prev_rest + 1.0) if lvl_prev_rest > lvl_rest else 0.0
    if lvl_depth != 0 or lvl_pull != 0 or lvl_add != 0 or d2pal != 0.0 or ero != 0.0:
        _vacuum_row(out, st, r, T, spot_px, rel, vac, d2pal, ero, pal)
    return lvl_depth, lvl_rest, lvl_pull, lvl_add, vac


@njit(cache=True, **NO_REFCOUNT, inline="always")
def _level_rows(T, r, spot, spot_px, tick_int, band, near, lv, st, out):
    """Wall and vacuum rows of the levels within ``band`` of the spot, summed into the bucket scratch.
    Returns the touched bucket range and the near-touch sums (blo, bhi, bid, ask, vacuum above, below)."""
    w = st[W]
    base = st[BASE]
    L = lv.depth.shape[1]
    bscr = out.bucket_scratch
    nb = band // 2
    nbk = 2 * nb + 1
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
        vac = 0.0
        if lv.dirty_stamp[t] < quiet_before:
            # quiet: no flow, depth == previous depth, no d1/d2, no erosion, r1 = r2 = 0
            if lv.depth[0, t] == 0 and lv.depth[1, t] == 0:
                continue
            lvl_depth, lvl_rest = _quiet_level(t, rel, r, T, spot_px, (base + t) * tick_int, lv, st, out)
        else:
            lvl_depth, lvl_rest, lvl_pull, lvl_add, vac = _active_level(t, rel, r, T, spot_px, (base + t) * tick_int,
                                                                        w, lv, st, out)
        b = (rel // 2) + nb
        if 0 <= b < nbk:
            if b < blo:
                blo = b
            if b > bhi:
                bhi = b
            bscr[0, b] += lvl_depth
            bscr[1, b] += lvl_rest
            bscr[2, b] += lvl_pull + lv.fillq[0, t] + lv.fillq[1, t]
            bscr[3, b] += lvl_add
            bscr[5, b] = max(bscr[5, b], vac)
            bscr[6, b] += lv.depth[0, t]
            bscr[7, b] += lv.depth[1, t]
        if 0 < rel <= near:
            ask_near += lv.depth[1, t]
            vac_above += vac
        elif -near <= rel <= 0:
            bid_near += lv.depth[0, t]
            if rel < 0:
                vac_below += vac
    return blo, bhi, bid_near, ask_near, vac_above, vac_below


@njit(cache=True, **NO_REFCOUNT, inline="always")
def _bucket_rows(T, spot_px, nbk, blo, bhi, st, out):
    """Write the window's buckets from the scratch (then zeroed) into the bucket outputs."""
    bscr = out.bucket_scratch
    out_bf = out.bucket_f
    out_bz = out.bucket_span
    q0 = st[OUT_BUCK]
    for k in range(blo, bhi + 1):
        bd = bscr[6, k]
        ad = bscr[7, k]
        bscr[4, k] = (bd - ad) / (bd + ad) if bd + ad > 0 else 0.0
    for k in range(nbk):
        q = q0 + k
        out.bucket_i[0, q] = T
        out.bucket_i[1, q] = spot_px
    # bucket/rel_ticks columns are filled once per buffer (every window's rows sit at a multiple
    # of nbk); feature columns outside blo..bhi are zero, and so is this slot of a reused buffer
    # outside the range written last time (bucket_span), so only the union of both ranges is written
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


@njit(cache=True, **NO_REFCOUNT, inline="always")
def _roll_history(w, lv, st):
    """Per-level history for every level touched in window w; the open window's flows start at zero."""
    for k in range(st[NDIRTY]):
        t = lv.dirty_list[k]
        lp = 0.0
        la = 0.0
        for side in range(2):
            lv.d1_last[side, t] = lv.depth[side, t] - lv.prev_depth[side, t]
            lv.d1_w[side, t] = w
            lv.prev_depth[side, t] = lv.depth[side, t]
            lv.prev_rest[side, t] = lv.depth[side, t] - lv.young[side, t]
            lp += lv.pullq[side, t]
            la += lv.addq[side, t]
            lv.addq[side, t] = 0
            lv.pullq[side, t] = 0
            lv.fillq[side, t] = 0
        lv.rb[t] = lv.ra[t]
        lv.rb_w[t] = lv.ra_w[t]
        lv.ra[t] = _log1p0(lp) - _log1p0(la)
        lv.ra_w[t] = w
    st[NDIRTY] = 0


@njit(cache=True, **NO_REFCOUNT, inline="always")
def _next_window(st, fs):
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
def emit(T, params, st, fs, orders, lv, out):
    """Close the window ending at T: graduate resting orders, write one snap row and its level rows."""
    graduate(T, params.rest_ns, orders, lv, st)
    tick_int = params.tick_int
    r = st[OUT_WIN]
    w = st[W]
    valid = book_valid(st)
    _snap_row(T, r, valid, tick_int, st, fs, lv.depth, out)
    if valid:
        bb = st[BB]
        ba = st[BA]
        base = st[BASE]
        spot = (bb + ba) // 2
        # times the reciprocal (the same double as 1e-9), as the lake's mid_price always was: bit-identical
        fs[F_LAST_MID] = 0.5 * (bb + ba + 2 * base) * tick_int * (1.0 / PRICE_SCALE)
        spot_px = (base + spot) * tick_int
        out.snap_i[6, r] = spot_px
        near = params.near
        nbk = 2 * (params.band // 2) + 1
        blo, bhi, bid_near, ask_near, vac_above, vac_below = _level_rows(T, r, spot, spot_px, tick_int, params.band,
                                                                         near, lv, st, out)
        _bucket_rows(T, spot_px, nbk, blo, bhi, st, out)
        tot = bid_near + ask_near
        ask_share = ask_near / tot if tot > 0 else 0.5
        out.snap_f[2, r] = (bid_near - ask_near) / tot if tot > 0 else 0.0
        out.snap_f[4, r] = 0.5 * (1.0 - ask_share) + 0.5 * vac_above / near
        out.snap_f[5, r] = 0.5 * ask_share + 0.5 * vac_below / near
    else:
        out.snap_i[6, r] = 0
        st[N_INVALID_WIN] += 1
        out.snap_f[2, r] = 0.0
        out.snap_f[4, r] = 0.5
        out.snap_f[5, r] = 0.5
    out.snap_f[0, r] = fs[F_LAST_MID]
    _roll_history(w, lv, st)
    shrink_span(w, lv.depth, lv.dirty_stamp, st)
    _next_window(st, fs)
