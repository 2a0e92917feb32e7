"""ES futures MBO: a per-order book with price-time priority that follows the latent mid.

Compiled with numba, on the FIFO book of :mod:`marketphys.synth.futures_book`. The
generator runs in named phases (``_open_snapshot``, ``_shape_window``, ``_draw_substep``,
then one function per event type); it:

* opens with a snapshot (``R`` clear, then ``A`` records flagged F_SNAPSHOT, the last one
  also F_LAST), like Databento's start-of-day book;
* every substep (62.5 ms) moves the touch to the latent mid (best bid = floor(mid)):
  the levels in the way are either traded through (``T`` aggressor, ``F`` per resting
  order, then ``C`` per filled order) or pulled (``C``), pulls being likelier in vacuums;
* runs background flow as Poisson processes: adds (depth thinner in vacuums, thicker at
  gamma walls), cancels (hazard per order, higher in vacuums), modifies (size reductions
  that keep queue priority, and price moves away from the touch that lose it) and small
  trades whose side follows the order-flow imbalance;
* cancels stale orders far from the touch.

Records of one matching event share ts_event/ts_recv and the last carries F_LAST.
Every cancel, modify and fill refers to a live order with enough size (tested).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numba as nb
import numpy as np

from marketphys.synth.config import TICK, TICK_INT, SynthConfig
from marketphys.synth.events import F_LAST, F_SNAPSHOT, N_COLS, UNDEF_PRICE, emit, close_group
from marketphys.synth.futures_book import (A_ADD, A_CANCEL, A_CLEAR, A_MODIFY, S_NONE, best_level, book_add,
                                            book_remove, clear_level, new_book, side_char, trade_partial)
from marketphys.synth.medium import Medium

N_LEVELS_ARRAY = 16384
TABLE_HALF = 96


class Ladder(NamedTuple):
    """Where the book lives: absolute tick of level 0, number of levels, quoted depth, instrument."""

    base: int
    n_array: int
    depth: int
    inst: int


class WindowShape(NamedTuple):
    """The medium around the touch for one window, per level (index ``L - center + TABLE_HALF``)."""

    liq: np.ndarray     # add weight: thinner in vacuums, thicker at gamma walls
    pullm: np.ndarray   # pull preference (1 + 4 x vacuum depth, out of 5)
    vacn: np.ndarray    # vacuum depth in [0, 1]: the chance a level in the way is pulled, not traded


@nb.njit(cache=True, inline="always")
def _geom_size(mean):
    return 1 + int(-np.log(1.0 - np.random.random()) * mean)


@nb.njit(cache=True, inline="always")
def _add_resting(ev, n, bk, lad, s, L, size, ts, tr, flags, counts):
    """A new order at level L (a failed slot allocation is counted, not emitted)."""
    oid = bk.counters[1]
    bk.counters[1] += 1
    if book_add(bk, s, L, size, oid) >= 0:
        n = emit(ev, n, ts, tr, lad.inst, oid, (lad.base + L) * TICK_INT, size, flags, A_ADD, side_char(s))
    else:
        counts[5] += 1
    return n


# -- phases --------------------------------------------------------------------------------

@nb.njit(cache=True, inline="always")
def _open_snapshot(ev, n, bk, lad, bb, ba, t0):
    """Start-of-day book: ``R`` clear, then 2 + Poisson(4) orders per level, all F_SNAPSHOT."""
    st = bk.counters
    n = emit(ev, n, t0, t0, lad.inst, 0, UNDEF_PRICE, 0, F_SNAPSHOT, A_CLEAR, S_NONE)
    for d in range(lad.depth):
        for s in range(2):
            L = bb - d if s == 0 else ba + d
            k = 2 + np.random.poisson(4.0)
            for _ in range(k):
                size = _geom_size(4.0)
                oid = st[1]
                st[1] += 1
                book_add(bk, s, L, size, oid)
                n = emit(ev, n, t0, t0, lad.inst, oid, (lad.base + L) * TICK_INT, size, F_SNAPSHOT, A_ADD, side_char(s))
    close_group(ev, n)
    return n


@nb.njit(cache=True, inline="always")
def _shape_window(shape, first_tick, w, vac_c, vac_w, vac_a, vac_ref, wall_c, wall_w, wall_s):
    """Fill ``shape`` for window w from the vacuums' and walls' amplitudes around ``first_tick``."""
    vacn, liq, pullm = shape.vacn, shape.liq, shape.pullm
    for r in range(2 * TABLE_HALF + 1):
        p = first_tick + r
        vv = 0.0
        for j in range(vac_c.shape[0]):
            zz = (p - vac_c[j]) / vac_w
            vv += vac_a[w, j] * np.exp(-0.5 * zz * zz)
        vv = min(vv / vac_ref, 1.0)
        wb = 0.0
        for k in range(wall_c.shape[0]):
            zz = (p - wall_c[k]) / wall_w
            wb += wall_s[w, k] * np.exp(-0.5 * zz * zz)
        vacn[r] = vv
        liq[r] = (1.0 - 0.9 * vv) * (1.0 + 0.15 * wb)
        pullm[r] = 1.0 + 4.0 * vv


@nb.njit(cache=True, inline="always")
def _draw_substep(n_live, h_ns, lam_add, kappa, lam_mod, lam_trade):
    """Event types of one substep (0 add, 1 cancel, 2 modify, 3 trade, 4 move the touch, 5 sweep)
    in random order, and their sorted time offsets."""
    n_add = np.random.poisson(lam_add * h_ns * 1e-9)
    n_can = np.random.poisson(kappa * n_live * h_ns * 1e-9)
    n_mod = np.random.poisson(lam_mod * h_ns * 1e-9)
    n_tr = np.random.poisson(lam_trade * h_ns * 1e-9)
    ne = n_add + n_can + n_mod + n_tr + 2
    types = np.empty(ne, np.int64)
    types[:n_add] = 0
    types[n_add:n_add + n_can] = 1
    types[n_add + n_can:n_add + n_can + n_mod] = 2
    types[n_add + n_can + n_mod:ne - 2] = 3
    types[ne - 2] = 4
    types[ne - 1] = 5
    np.random.shuffle(types)
    offs = np.sort(np.random.randint(0, h_ns, ne))
    return types, offs


@nb.njit(cache=True, inline="always")
def _move_touch(ev, n, bk, lad, shape, center, bb, ba, tb, ts, tr, counts):
    """Move the touch to best bid ``tb``: levels in the way are traded through or pulled
    (pulled likelier in vacuums), then the touch is refilled so the spread is one tick."""
    lv, vacn = bk.levels, shape.vacn
    ta = tb + 1
    moved = False
    if ba >= 0 and ba < ta:
        moved = True
        for L in range(ba, ta):
            r = L - center + TABLE_HALF
            vv = vacn[r] if 0 <= r < vacn.shape[0] else 0.0
            trade = np.random.random() >= 0.15 + 0.75 * vv
            if lv[1, L, 3] > 0:
                counts[1 if trade else 2] += 1
            n = clear_level(ev, n, bk, 1, L, (lad.base + L) * TICK_INT, ts, tr, lad.inst, trade)
    if bb >= 0 and bb > tb:
        moved = True
        for L in range(bb, tb, -1):
            r = L - center + TABLE_HALF
            vv = vacn[r] if 0 <= r < vacn.shape[0] else 0.0
            trade = np.random.random() >= 0.15 + 0.75 * vv
            if lv[0, L, 3] > 0:
                counts[1 if trade else 2] += 1
            n = clear_level(ev, n, bk, 0, L, (lad.base + L) * TICK_INT, ts, tr, lad.inst, trade)
    if moved:
        counts[0] += 1
    # refill the touch (and the levels a jump skipped) so the spread is one tick
    lo = tb if bb < 0 else min(bb + 1, tb)
    for L in range(lo, tb + 1):
        if lv[0, L, 3] == 0:
            n = _add_resting(ev, n, bk, lad, 0, L, _geom_size(4.0), ts, tr, F_LAST, counts)
    hi = ta if ba < 0 else max(ba - 1, ta)
    for L in range(hi, ta - 1, -1):
        if lv[1, L, 3] == 0:
            n = _add_resting(ev, n, bk, lad, 1, L, _geom_size(4.0), ts, tr, F_LAST, counts)
    return n


@nb.njit(cache=True, inline="always")
def _sweep_stale(ev, n, bk, lad, bb, ba, ts, tr, counts):
    """Pull whole levels 8-16 levels beyond the quoted depth."""
    lv = bk.levels
    for s in range(2):
        ref = bb if s == 0 else ba
        if ref < 0:
            continue
        for d in range(lad.depth + 8, lad.depth + 17):
            L = ref - d if s == 0 else ref + d
            if 0 <= L < lad.n_array and lv[s, L, 3] > 0:
                counts[4] += 1
                n = clear_level(ev, n, bk, s, L, (lad.base + L) * TICK_INT, ts, tr, lad.inst, False)
    return n


@nb.njit(cache=True, inline="always")
def _background_add(ev, n, bk, lad, shape, center, bb, ba, tb, p_bid_add, wts, ts, tr, counts):
    """An add at depth d ~ exp(-d/8) x the level's liquidity weight, bid side with ``p_bid_add``."""
    liq = shape.liq
    s = 0 if np.random.random() < p_bid_add else 1
    ref = bb if s == 0 else ba
    if ref < 0:
        ref = tb if s == 0 else tb + 1
    tot = 0.0
    for d in range(lad.depth):
        L = ref - d if s == 0 else ref + d
        r = L - center + TABLE_HALF
        m = liq[r] if 0 <= r < liq.shape[0] else 1.0
        wts[d] = np.exp(-d / 8.0) * m
        tot += wts[d]
    u = np.random.random() * tot
    d = 0
    while d < lad.depth - 1 and u > wts[d]:
        u -= wts[d]
        d += 1
    L = ref - d if s == 0 else ref + d
    if 0 <= L < lad.n_array:
        n = _add_resting(ev, n, bk, lad, s, L, _geom_size(4.0), ts, tr, F_LAST, counts)
    return n


@nb.njit(cache=True, inline="always")
def _background_cancel(ev, n, bk, lad, shape, center, ts, tr):
    """Cancel a live order, picked uniformly then rejection-sampled towards vacuum levels."""
    o, live, st, pullm = bk.orders, bk.live, bk.counters, shape.pullm
    slot = live[np.random.randint(0, st[2])]
    for _ in range(4):
        r = o[slot, 1] - center + TABLE_HALF
        m = pullm[r] if 0 <= r < pullm.shape[0] else 1.0
        if np.random.random() * 5.0 < m:
            break
        slot = live[np.random.randint(0, st[2])]
    L = o[slot, 1]
    s = o[slot, 2]
    n = emit(ev, n, ts, tr, lad.inst, o[slot, 0], (lad.base + L) * TICK_INT, o[slot, 3], F_LAST, A_CANCEL, side_char(s))
    book_remove(bk, slot)
    return n


@nb.njit(cache=True, inline="always")
def _background_modify(ev, n, bk, lad, ts, tr):
    """Modify a live order: 30% a price move away from the touch (loses its place), else a size
    reduction (keeps it)."""
    o, lv = bk.orders, bk.levels
    slot = bk.live[np.random.randint(0, bk.counters[2])]
    if np.random.random() < 0.3:
        L = o[slot, 1]
        s = o[slot, 2]
        oid = o[slot, 0]
        size = o[slot, 3]
        step = 1 + np.random.randint(0, 2)
        L2 = L - step if s == 0 else L + step
        if 0 <= L2 < lad.n_array:
            book_remove(bk, slot)
            book_add(bk, s, L2, size, oid)
            n = emit(ev, n, ts, tr, lad.inst, oid, (lad.base + L2) * TICK_INT, size, F_LAST, A_MODIFY, side_char(s))
    else:
        size = o[slot, 3]
        if size > 1:
            new = 1 + np.random.randint(0, size - 1)
            L = o[slot, 1]
            s = o[slot, 2]
            lv[s, L, 2] -= size - new
            o[slot, 3] = new
            n = emit(ev, n, ts, tr, lad.inst, o[slot, 0], (lad.base + L) * TICK_INT, new, F_LAST, A_MODIFY, side_char(s))
    return n


@nb.njit(cache=True, inline="always")
def _background_trade(ev, n, bk, lad, bb, ba, p_buy, ts, tr, counts):
    """A small aggressor at the touch; buys (the ask side hit) with probability ``p_buy``."""
    s = 1 if np.random.random() < p_buy else 0  # resting side hit
    L = ba if s == 1 else bb
    lv = bk.levels
    if L >= 0 and lv[s, L, 2] > 1:
        q = min(_geom_size(3.0), lv[s, L, 2] - 1)
        counts[3] += 1
        n = trade_partial(ev, n, bk, s, L, q, (lad.base + L) * TICK_INT, ts, tr, lad.inst)
    return n


@nb.njit(cache=True)
def _generate(msub, substeps, t0, h_ns, ofi, vac_c, vac_w, vac_a, vac_ref, wall_c, wall_w, wall_s, base, nl,
              n_levels, lam_add, kappa, lam_mod, lam_trade, inst, seed, cap_ev, cap_ord):
    """The session: opening snapshot, then per window the medium's shape and per substep a
    shuffled batch of events (touch move, stale sweep, background adds/cancels/modifies/trades)."""
    np.random.seed(seed)
    ev = np.zeros((N_COLS, cap_ev), np.int64)
    bk = new_book(cap_ord, nl)
    lad = Ladder(base, nl, n_levels, inst)
    shape = WindowShape(np.ones(2 * TABLE_HALF + 1), np.ones(2 * TABLE_HALF + 1), np.zeros(2 * TABLE_HALF + 1))
    W = ofi.shape[0]
    mids = np.empty(W + 1)
    counts = np.zeros(6, np.int64)  # moves, levels traded, levels pulled, trades, stale pulls, failed allocs
    wts = np.empty(n_levels)
    levels, counters = bk.levels, bk.counters
    bb = int(np.floor(msub[0])) - base
    ba = bb + 1
    n = _open_snapshot(ev, 0, bk, lad, bb, ba, t0)
    mids[0] = base + 0.5 * (bb + ba)
    tr_last = t0
    for w in range(W):
        center = bb
        _shape_window(shape, base + center - TABLE_HALF, w, vac_c, vac_w, vac_a, vac_ref, wall_c, wall_w, wall_s)
        p_buy = 0.5 + 0.3 * np.tanh(ofi[w])
        p_bid_add = 0.5 + 0.1 * np.tanh(ofi[w])
        for k in range(substeps):
            i = w * substeps + k
            t_start = t0 + np.int64(i) * h_ns
            tb = int(np.floor(msub[i])) - base
            types, offs = _draw_substep(counters[2], h_ns, lam_add, kappa, lam_mod, lam_trade)
            for e in range(types.shape[0]):
                ts = t_start + offs[e]
                tr = max(ts + 15_000 + np.random.randint(0, 40_000), tr_last)
                tr_last = tr
                typ = types[e]
                bb = best_level(levels, 0, bb, nl)
                ba = best_level(levels, 1, ba, nl)
                if typ == 4:
                    n = _move_touch(ev, n, bk, lad, shape, center, bb, ba, tb, ts, tr, counts)
                    bb = tb
                    ba = tb + 1
                elif typ == 5:
                    n = _sweep_stale(ev, n, bk, lad, bb, ba, ts, tr, counts)
                elif typ == 0:
                    n = _background_add(ev, n, bk, lad, shape, center, bb, ba, tb, p_bid_add, wts, ts, tr, counts)
                elif typ == 3:
                    n = _background_trade(ev, n, bk, lad, bb, ba, p_buy, ts, tr, counts)
                elif counters[2] > 0:  # a cancel or modify needs a live order
                    if typ == 1:
                        n = _background_cancel(ev, n, bk, lad, shape, center, ts, tr)
                    else:
                        n = _background_modify(ev, n, bk, lad, ts, tr)
        bb = best_level(levels, 0, bb, nl)
        ba = best_level(levels, 1, ba, nl)
        mids[w + 1] = base + 0.5 * (bb + ba) if bb >= 0 and ba >= 0 else np.nan
    return ev, n, mids, counts


@dataclass
class FuturesTape:
    events: np.ndarray     # (9, n) int64 fields x records, see marketphys.synth.events
    book_mid_ticks: np.ndarray  # (W+1,) book mid (ticks) at each window boundary
    counts: dict


def generate_futures(cfg: SynthConfig, med: Medium, sub_ticks: np.ndarray, instrument_id: int) -> FuturesTape:
    """Futures MBO rows for the whole session (retries with a larger buffer if needed)."""
    open_t = int(round(cfg.open_price / TICK))
    base = open_t - N_LEVELS_ARRAY // 2
    lo, hi = float(np.min(sub_ticks)), float(np.max(sub_ticks))
    margin = cfg.book_levels + 40 + TABLE_HALF
    if lo - base < margin or base + N_LEVELS_ARRAY - hi < margin:
        from marketphys.synth.config import SynthError
        raise SynthError(f"latent price left the book's range ({lo * TICK:.2f}..{hi * TICK:.2f}); lower diffusion or minutes")
    h_ns = int(round(0.5e9 / cfg.substeps))
    lam_add = 0.46 * cfg.futures_event_rate
    n_orders_target = 2 * cfg.book_levels * 6
    kappa = lam_add / n_orders_target
    lam_mod = 0.06 * cfg.futures_event_rate
    lam_trade = 0.08 * cfg.futures_event_rate
    secs = cfg.n_windows * 0.5
    cap = int(secs * cfg.futures_event_rate * 3.0) + 20_000
    for _ in range(4):
        ev, n, mids, counts = _generate(
            np.ascontiguousarray(sub_ticks), cfg.substeps, cfg.start_ns, h_ns, np.ascontiguousarray(med.ofi),
            med.vacuum_ticks, cfg.vacuum_width_ticks, np.ascontiguousarray(med.vacuum_amp),
            max(cfg.vacuum_depth[0], 1e-9),  # any active vacuum at full depth empties its level
            med.wall_ticks, cfg.wall_width_ticks, np.ascontiguousarray(med.wall_strength), base, N_LEVELS_ARRAY,
            cfg.book_levels, lam_add, kappa, lam_mod, lam_trade, instrument_id, int(cfg.seed) % (2**32 - 1), cap, 1 << 16)
        if n <= cap:
            break
        cap = int(n * 1.1) + 1000
    names = ("moves", "levels_traded", "levels_pulled", "trades", "stale_pulls", "failed_allocs")
    return FuturesTape(ev[:, :n], mids, {k: int(v) for k, v in zip(names, counts)})
