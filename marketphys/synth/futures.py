"""ES futures MBO: a per-order book with price-time priority that follows the latent mid.

Compiled with numba. The book lives on absolute tick levels; each level on each side is
a FIFO (doubly linked list of order slots), so fills walk the queue from its head and a
size reduction keeps the order's place. The generator:

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

import numba as nb
import numpy as np

from marketphys.synth.config import TICK, TICK_INT, SynthConfig
from marketphys.synth.events import F_LAST, F_SNAPSHOT, N_COLS, UNDEF_PRICE, emit, close_group
from marketphys.synth.medium import Medium

FUTURE_ORDER_ID0 = 6_400_000_000_000
N_LEVELS_ARRAY = 16384
TABLE_HALF = 96
A_ADD, A_CANCEL, A_MODIFY, A_TRADE, A_FILL, A_CLEAR = 65, 67, 77, 84, 70, 82
S_ASK, S_BID, S_NONE = 65, 66, 78


@nb.njit(cache=True, inline="always")
def _side_char(s):
    return S_BID if s == 0 else S_ASK


@nb.njit(cache=True)
def _book_add(o, lv, free, st, live, pos, s, L, size, oid):
    top = st[0]
    if top == 0:
        return -1
    slot = free[top - 1]
    st[0] = top - 1
    t = lv[s, L, 1]
    o[slot, 0] = oid
    o[slot, 1] = L
    o[slot, 2] = s
    o[slot, 3] = size
    o[slot, 4] = -1
    o[slot, 5] = t
    if t >= 0:
        o[t, 4] = slot
    else:
        lv[s, L, 0] = slot
    lv[s, L, 1] = slot
    lv[s, L, 2] += size
    lv[s, L, 3] += 1
    pos[slot] = st[2]
    live[st[2]] = slot
    st[2] += 1
    return slot


@nb.njit(cache=True)
def _book_remove(o, lv, free, st, live, pos, slot):
    s = o[slot, 2]
    L = o[slot, 1]
    p = o[slot, 5]
    nx = o[slot, 4]
    if p >= 0:
        o[p, 4] = nx
    else:
        lv[s, L, 0] = nx
    if nx >= 0:
        o[nx, 5] = p
    else:
        lv[s, L, 1] = p
    lv[s, L, 2] -= o[slot, 3]
    lv[s, L, 3] -= 1
    last = live[st[2] - 1]
    k = pos[slot]
    live[k] = last
    pos[last] = k
    st[2] -= 1
    free[st[0]] = slot
    st[0] += 1


@nb.njit(cache=True)
def _best(lv, s, hint, nl):
    """Best level of side s scanning from ``hint`` towards worse prices (-1 if none near)."""
    L = hint
    for _ in range(400):
        if L < 0 or L >= nl:
            return -1
        if lv[s, L, 3] > 0:
            return L
        L = L - 1 if s == 0 else L + 1
    return -1


@nb.njit(cache=True)
def _geom_size(mean):
    return 1 + int(-np.log(1.0 - np.random.random()) * mean)


@nb.njit(cache=True)
def _clear_level(ev, n, o, lv, free, st, live, pos, s, L, price, ts, tr, inst, trade):
    """Remove a whole level: as a trade (T, F..., C...) or as pulls (C...)."""
    if lv[s, L, 3] == 0:
        return n
    if trade:
        q = lv[s, L, 2]
        n = emit(ev, n, ts, tr, inst, st[1], price, q, 0, A_TRADE, _side_char(1 - s))
        st[1] += 1
        slot = lv[s, L, 0]
        while slot >= 0:
            n = emit(ev, n, ts, tr, inst, o[slot, 0], price, o[slot, 3], 0, A_FILL, _side_char(s))
            slot = o[slot, 4]
    slot = lv[s, L, 0]
    while slot >= 0:
        nx = o[slot, 4]
        n = emit(ev, n, ts, tr, inst, o[slot, 0], price, o[slot, 3], 0, A_CANCEL, _side_char(s))
        _book_remove(o, lv, free, st, live, pos, slot)
        slot = nx
    close_group(ev, n)
    return n


@nb.njit(cache=True)
def _trade_partial(ev, n, o, lv, free, st, live, pos, s, L, q, price, ts, tr, inst):
    """An aggressor of size q < level depth: fills walk the FIFO; full fills C, the partial M."""
    n = emit(ev, n, ts, tr, inst, st[1], price, q, 0, A_TRADE, _side_char(1 - s))
    st[1] += 1
    rem = q
    slot = lv[s, L, 0]
    while rem > 0 and slot >= 0:
        f = min(rem, o[slot, 3])
        n = emit(ev, n, ts, tr, inst, o[slot, 0], price, f, 0, A_FILL, _side_char(s))
        rem -= f
        slot = o[slot, 4]
    rem = q
    slot = lv[s, L, 0]
    while rem > 0 and slot >= 0:
        nx = o[slot, 4]
        f = min(rem, o[slot, 3])
        if f == o[slot, 3]:
            n = emit(ev, n, ts, tr, inst, o[slot, 0], price, f, 0, A_CANCEL, _side_char(s))
            _book_remove(o, lv, free, st, live, pos, slot)
        else:
            o[slot, 3] -= f
            lv[s, L, 2] -= f
            n = emit(ev, n, ts, tr, inst, o[slot, 0], price, o[slot, 3], 0, A_MODIFY, _side_char(s))
        rem -= f
        slot = nx
    close_group(ev, n)
    return n


@nb.njit(cache=True)
def _generate(msub, substeps, t0, h_ns, ofi, vac_c, vac_w, vac_a, vac_ref, wall_c, wall_w, wall_s, base, nl,
              n_levels, lam_add, kappa, lam_mod, lam_trade, inst, seed, cap_ev, cap_ord):
    np.random.seed(seed)
    ev = np.zeros((N_COLS, cap_ev), np.int64)
    n = 0
    o = np.zeros((cap_ord, 6), np.int64)
    lv = np.zeros((2, nl, 4), np.int64)
    lv[:, :, 0] = -1
    lv[:, :, 1] = -1
    free = np.arange(cap_ord)[::-1].copy()
    live = np.zeros(cap_ord, np.int64)
    pos = np.zeros(cap_ord, np.int64)
    st = np.zeros(4, np.int64)  # free_top, next_oid, n_live, spare
    st[0] = cap_ord
    st[1] = FUTURE_ORDER_ID0
    W = ofi.shape[0]
    mids = np.empty(W + 1)
    counts = np.zeros(6, np.int64)  # moves, levels traded, levels pulled, trades, stale pulls, failed allocs
    K = wall_c.shape[0]
    J = vac_c.shape[0]
    liq = np.ones(2 * TABLE_HALF + 1)
    pullm = np.ones(2 * TABLE_HALF + 1)
    vacn = np.zeros(2 * TABLE_HALF + 1)
    wts = np.empty(n_levels)

    # -- opening snapshot --------------------------------------------------------------
    tb = int(np.floor(msub[0])) - base
    bb = tb
    ba = tb + 1
    tr_last = t0
    n = emit(ev, n, t0, t0, inst, 0, UNDEF_PRICE, 0, F_SNAPSHOT, A_CLEAR, S_NONE)
    for d in range(n_levels):
        for s in range(2):
            L = bb - d if s == 0 else ba + d
            k = 2 + np.random.poisson(4.0)
            for _ in range(k):
                size = _geom_size(4.0)
                oid = st[1]
                st[1] += 1
                _book_add(o, lv, free, st, live, pos, s, L, size, oid)
                n = emit(ev, n, t0, t0, inst, oid, (base + L) * TICK_INT, size, F_SNAPSHOT, A_ADD, _side_char(s))
    close_group(ev, n)
    mids[0] = base + 0.5 * (bb + ba)

    for w in range(W):
        center = bb
        for r in range(2 * TABLE_HALF + 1):
            p = base + center - TABLE_HALF + r
            vv = 0.0
            for j in range(J):
                zz = (p - vac_c[j]) / vac_w
                vv += vac_a[w, j] * np.exp(-0.5 * zz * zz)
            vv = min(vv / vac_ref, 1.0)
            wb = 0.0
            for k in range(K):
                zz = (p - wall_c[k]) / wall_w
                wb += wall_s[w, k] * np.exp(-0.5 * zz * zz)
            vacn[r] = vv
            liq[r] = (1.0 - 0.9 * vv) * (1.0 + 0.15 * wb)
            pullm[r] = 1.0 + 4.0 * vv
        p_buy = 0.5 + 0.3 * np.tanh(ofi[w])
        p_bid_add = 0.5 + 0.1 * np.tanh(ofi[w])
        for k in range(substeps):
            i = w * substeps + k
            t_start = t0 + np.int64(i) * h_ns
            tb = int(np.floor(msub[i])) - base
            n_add = np.random.poisson(lam_add * h_ns * 1e-9)
            n_can = np.random.poisson(kappa * st[2] * h_ns * 1e-9)
            n_mod = np.random.poisson(lam_mod * h_ns * 1e-9)
            n_tr = np.random.poisson(lam_trade * h_ns * 1e-9)
            ne = n_add + n_can + n_mod + n_tr + 2
            types = np.empty(ne, np.int64)
            q = 0
            for _ in range(n_add):
                types[q] = 0
                q += 1
            for _ in range(n_can):
                types[q] = 1
                q += 1
            for _ in range(n_mod):
                types[q] = 2
                q += 1
            for _ in range(n_tr):
                types[q] = 3
                q += 1
            types[q] = 4      # move the touch to the latent mid
            types[q + 1] = 5  # sweep stale orders far from the touch
            np.random.shuffle(types)
            offs = np.sort(np.random.randint(0, h_ns, ne))
            for e in range(ne):
                ts = t_start + offs[e]
                tr = max(ts + 15_000 + np.random.randint(0, 40_000), tr_last)
                tr_last = tr
                typ = types[e]
                bb = _best(lv, 0, bb, nl)
                ba = _best(lv, 1, ba, nl)
                if typ == 4:
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
                            n = _clear_level(ev, n, o, lv, free, st, live, pos, 1, L, (base + L) * TICK_INT, ts, tr, inst, trade)
                    if bb >= 0 and bb > tb:
                        moved = True
                        for L in range(bb, tb, -1):
                            r = L - center + TABLE_HALF
                            vv = vacn[r] if 0 <= r < vacn.shape[0] else 0.0
                            trade = np.random.random() >= 0.15 + 0.75 * vv
                            if lv[0, L, 3] > 0:
                                counts[1 if trade else 2] += 1
                            n = _clear_level(ev, n, o, lv, free, st, live, pos, 0, L, (base + L) * TICK_INT, ts, tr, inst, trade)
                    if moved:
                        counts[0] += 1
                    # refill the touch (and the levels a jump skipped) so the spread is one tick
                    lo = tb if bb < 0 else min(bb + 1, tb)
                    for L in range(lo, tb + 1):
                        if lv[0, L, 3] == 0:
                            oid = st[1]
                            st[1] += 1
                            size = _geom_size(4.0)
                            if _book_add(o, lv, free, st, live, pos, 0, L, size, oid) >= 0:
                                n = emit(ev, n, ts, tr, inst, oid, (base + L) * TICK_INT, size, F_LAST, A_ADD, S_BID)
                            else:
                                counts[5] += 1
                    hi = ta if ba < 0 else max(ba - 1, ta)
                    for L in range(hi, ta - 1, -1):
                        if lv[1, L, 3] == 0:
                            oid = st[1]
                            st[1] += 1
                            size = _geom_size(4.0)
                            if _book_add(o, lv, free, st, live, pos, 1, L, size, oid) >= 0:
                                n = emit(ev, n, ts, tr, inst, oid, (base + L) * TICK_INT, size, F_LAST, A_ADD, S_ASK)
                            else:
                                counts[5] += 1
                    bb = tb
                    ba = ta
                elif typ == 5:
                    for s in range(2):
                        ref = bb if s == 0 else ba
                        if ref < 0:
                            continue
                        for d in range(n_levels + 8, n_levels + 17):
                            L = ref - d if s == 0 else ref + d
                            if 0 <= L < nl and lv[s, L, 3] > 0:
                                counts[4] += 1
                                n = _clear_level(ev, n, o, lv, free, st, live, pos, s, L, (base + L) * TICK_INT, ts, tr, inst, False)
                elif typ == 0:
                    s = 0 if np.random.random() < p_bid_add else 1
                    ref = bb if s == 0 else ba
                    if ref < 0:
                        ref = tb if s == 0 else tb + 1
                    tot = 0.0
                    for d in range(n_levels):
                        L = ref - d if s == 0 else ref + d
                        r = L - center + TABLE_HALF
                        m = liq[r] if 0 <= r < liq.shape[0] else 1.0
                        wts[d] = np.exp(-d / 8.0) * m
                        tot += wts[d]
                    u = np.random.random() * tot
                    d = 0
                    while d < n_levels - 1 and u > wts[d]:
                        u -= wts[d]
                        d += 1
                    L = ref - d if s == 0 else ref + d
                    if 0 <= L < nl:
                        oid = st[1]
                        st[1] += 1
                        size = _geom_size(4.0)
                        if _book_add(o, lv, free, st, live, pos, s, L, size, oid) >= 0:
                            n = emit(ev, n, ts, tr, inst, oid, (base + L) * TICK_INT, size, F_LAST, A_ADD, _side_char(s))
                        else:
                            counts[5] += 1
                elif typ == 1 or typ == 2:
                    if st[2] == 0:
                        continue
                    slot = live[np.random.randint(0, st[2])]
                    if typ == 1:
                        for _ in range(4):  # rejection sampling: pulls favour vacuum levels
                            r = o[slot, 1] - center + TABLE_HALF
                            m = pullm[r] if 0 <= r < pullm.shape[0] else 1.0
                            if np.random.random() * 5.0 < m:
                                break
                            slot = live[np.random.randint(0, st[2])]
                        L = o[slot, 1]
                        s = o[slot, 2]
                        n = emit(ev, n, ts, tr, inst, o[slot, 0], (base + L) * TICK_INT, o[slot, 3], F_LAST, A_CANCEL, _side_char(s))
                        _book_remove(o, lv, free, st, live, pos, slot)
                    elif np.random.random() < 0.3:
                        # price modify away from the touch: the order moves and loses its place
                        L = o[slot, 1]
                        s = o[slot, 2]
                        oid = o[slot, 0]
                        size = o[slot, 3]
                        step = 1 + np.random.randint(0, 2)
                        L2 = L - step if s == 0 else L + step
                        if 0 <= L2 < nl:
                            _book_remove(o, lv, free, st, live, pos, slot)
                            _book_add(o, lv, free, st, live, pos, s, L2, size, oid)
                            n = emit(ev, n, ts, tr, inst, oid, (base + L2) * TICK_INT, size, F_LAST, A_MODIFY, _side_char(s))
                    else:
                        size = o[slot, 3]
                        if size > 1:
                            new = 1 + np.random.randint(0, size - 1)
                            L = o[slot, 1]
                            s = o[slot, 2]
                            lv[s, L, 2] -= size - new
                            o[slot, 3] = new
                            n = emit(ev, n, ts, tr, inst, o[slot, 0], (base + L) * TICK_INT, new, F_LAST, A_MODIFY, _side_char(s))
                else:
                    s = 1 if np.random.random() < p_buy else 0  # resting side hit
                    L = ba if s == 1 else bb
                    if L >= 0 and lv[s, L, 2] > 1:
                        q = min(_geom_size(3.0), lv[s, L, 2] - 1)
                        counts[3] += 1
                        n = _trade_partial(ev, n, o, lv, free, st, live, pos, s, L, q, (base + L) * TICK_INT, ts, tr, inst)
        bb = _best(lv, 0, bb, nl)
        ba = _best(lv, 1, ba, nl)
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
