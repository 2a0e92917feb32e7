"""ES options MBO: a market maker quoting Black-76 on the smile, plus participant flow.

Per window (0.5 s) and per option, the market maker (MM) prices the option from the
futures book mid at the window start and quotes bid = the theo rounded down to the
option tick, ask = bid + one tick, so both sides are within a tick of Black-76. A price
change is a ``M`` (modify, loses priority); participant orders that the new quote would
cross or better are pulled first (``C``), so the MM quote is always the top of book.

Participants add orders at or behind the MM quote, pull them (hazard per order) and
occasionally trade (``T`` aggressor, ``F`` per resting order in FIFO by priority, then
``C``/``M``). At gamma-wall strikes a stock of resting "wall" orders (1-3 ticks behind the
MM) tracks the wall's strength (2 + 4·S orders): it is added to while the wall thickens
and pulled while it erodes, so the book flow at those strikes follows the schedule.

Order ids: MM orders from 7.1e12, participant orders from 7.2e12, aggressors from 7.3e12.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba as nb
import numpy as np

from marketphys.synth.black76 import YEAR_NS, black76_scalar, smile_scalar
from marketphys.synth.config import SynthConfig, WINDOW_NS
from marketphys.synth.events import F_LAST, N_COLS, close_group, emit
from marketphys.synth.instruments import Instruments
from marketphys.synth.medium import Medium

MM_OID0 = 7_100_000_000_000
PART_OID0 = 7_200_000_000_000
AGGR_OID0 = 7_300_000_000_000
UNIT = 50_000_000  # 0.05 in 1e-9 fixed point
A_ADD, A_CANCEL, A_MODIFY, A_TRADE, A_FILL = 65, 67, 77, 84, 70
S_ASK, S_BID = 65, 66
N_SLOTS = 48
WALL_ORDERS_PER_STRENGTH = 4.0
"""Resting wall-liquidity orders per unit of wall strength at each wall-strike option (plus 2)."""


@nb.njit(cache=True, inline="always")
def _sc(side):
    return S_BID if side == 1 else S_ASK


@nb.njit(cache=True, inline="always")
def _tick_up(u):
    """Next valid price above u (units of 0.05; 0.25 steps from 5.00 = 100 units)."""
    return u + 1 if u < 100 else u + 5


@nb.njit(cache=True, inline="always")
def _tick_down(u):
    return u - 1 if u <= 100 else u - 5


@nb.njit(cache=True)
def _free_slot(sd, i):
    for j in range(sd.shape[1]):
        if sd[i, j] == 0:
            return j
    return -1


@nb.njit(cache=True)
def _generate(F_w, t0, win_ns, strike, is_call, exp_ns, smile, inst_ids, wall_idx, wall_strength, rate,
              base_add, base_pull, base_fill, wall_orders_per_strength, seed, cap_ev):
    np.random.seed(seed)
    ni = strike.shape[0]
    W = F_w.shape[0]
    ev = np.zeros((N_COLS, cap_ev), np.int64)
    n = 0
    sd = np.zeros((ni, N_SLOTS), np.int8)       # 0 empty, 1 bid, 2 ask
    sp = np.zeros((ni, N_SLOTS), np.int64)      # price in 0.05 units
    ss = np.zeros((ni, N_SLOTS), np.int64)
    sprio = np.zeros((ni, N_SLOTS), np.int64)
    skind = np.zeros((ni, N_SLOTS), np.int8)    # 0 participant, 1 market maker, 2 wall liquidity
    oids = np.zeros((ni, N_SLOTS), np.int64)
    mm = np.full((ni, 2), -1, np.int64)
    next_mm = MM_OID0
    next_part = PART_OID0
    next_aggr = AGGR_OID0
    counts = np.zeros(7, np.int64)  # requotes, stale pulls, adds, pulls, trades, wall adds, wall pulls
    idx = np.empty(N_SLOTS, np.int64)
    pr = np.empty(N_SLOTS, np.int64)
    npart = np.zeros(ni, np.int64)                # live participant orders per option
    nwall = np.zeros(ni, np.int64)                # live wall-liquidity orders per option
    last_q = np.full((ni, 2), -1, np.int64)       # last quoted (bid_u, ask_u)
    for w in range(W):
        t_w = t0 + np.int64(w) * win_ns
        F = F_w[w]
        for i in range(ni):
            inst = inst_ids[i]
            T = (exp_ns[i] - t_w) / YEAR_NS
            tq = t_w + 1_000_000 + i * 2_000
            tr = tq + 20_000 + np.random.randint(0, 20_000)
            if T <= 0.0:
                n0 = n
                for j in range(N_SLOTS):
                    if sd[i, j] != 0:
                        n = emit(ev, n, tq, tr, inst, oids[i, j], sp[i, j] * UNIT, ss[i, j], 0, A_CANCEL, _sc(sd[i, j]))
                        sd[i, j] = 0
                npart[i] = 0
                nwall[i] = 0
                mm[i, 0] = -1
                mm[i, 1] = -1
                if n > n0:
                    close_group(ev, n)
                continue
            K = strike[i]
            vol = smile_scalar(K, F, smile[i, 0], smile[i, 1], smile[i, 2])
            theo = black76_scalar(F, K, T, vol, rate, is_call[i])
            theo_u = theo / 0.05
            bid_u = int(np.floor(theo_u)) if theo_u < 100.0 else int(np.floor(theo_u / 5.0)) * 5
            ask_u = _tick_up(bid_u)
            if ask_u < 1:
                ask_u = 1
            n0 = n
            quote_same = bid_u == last_q[i, 0] and ask_u == last_q[i, 1] and (mm[i, 0] >= 0 or bid_u <= 0) and mm[i, 1] >= 0
            last_q[i, 0] = bid_u
            last_q[i, 1] = ask_u
            # 1) pull participant orders the new quote would cross or better
            if not quote_same and npart[i] + nwall[i] > 0:
                for j in range(N_SLOTS):
                    if sd[i, j] == 0 or skind[i, j] == 1:
                        continue
                    stale = (sd[i, j] == 1 and sp[i, j] > bid_u) or (sd[i, j] == 2 and sp[i, j] < ask_u)
                    if stale:
                        n = emit(ev, n, tq, tr, inst, oids[i, j], sp[i, j] * UNIT, ss[i, j], 0, A_CANCEL, _sc(sd[i, j]))
                        sd[i, j] = 0
                        if skind[i, j] == 0:
                            npart[i] -= 1
                        else:
                            nwall[i] -= 1
                        counts[1] += 1
            # 2) move the MM: the side moving away from the other first, so the book never crosses
            jb = mm[i, 0]
            old_bid = sp[i, jb] if jb >= 0 else -1
            size = 20 + np.random.randint(0, 80)
            for step in range(2 if not quote_same else 0):
                side = 2 if (bid_u > old_bid) == (step == 0) else 1
                want = ask_u if side == 2 else bid_u
                j = mm[i, 0 if side == 1 else 1]
                if want <= 0:
                    if j >= 0:
                        n = emit(ev, n, tq, tr, inst, oids[i, j], sp[i, j] * UNIT, ss[i, j], 0, A_CANCEL, _sc(side))
                        sd[i, j] = 0
                        mm[i, 0 if side == 1 else 1] = -1
                elif j >= 0:
                    if sp[i, j] != want:
                        sp[i, j] = want
                        ss[i, j] = size
                        sprio[i, j] = tq
                        n = emit(ev, n, tq, tr, inst, oids[i, j], want * UNIT, size, 0, A_MODIFY, _sc(side))
                else:
                    j = _free_slot(sd, i)
                    if j >= 0:
                        sd[i, j] = side
                        sp[i, j] = want
                        ss[i, j] = size
                        sprio[i, j] = tq
                        skind[i, j] = 1
                        oids[i, j] = next_mm
                        next_mm += 1
                        mm[i, 0 if side == 1 else 1] = j
                        n = emit(ev, n, tq, tr, inst, oids[i, j], want * UNIT, size, 0, A_ADD, _sc(side))
            if n > n0:
                close_group(ev, n)
                counts[0] += 1
            # 3) participant flow for the rest of the window
            k = np.log(K / F)
            atm = np.exp(-0.5 * (k / 0.012) ** 2)
            wk = wall_idx[i]
            n_wall_add = 0
            n_wall_pull = 0
            if wk >= 0:  # the resting stock at a wall strike follows the wall's strength
                target = min(int(round(2.0 + wall_orders_per_strength * wall_strength[w, wk])), 30)
                n_wall_add = max(target - nwall[i], 0)
                n_wall_pull = max(nwall[i] - target, 0)
            lam_add = base_add * atm
            lam_pull = base_pull
            lam_fill = base_fill * atm
            n_part = npart[i]
            span = win_ns - 1_100_000 - i * 2_000
            dt = span * 1e-9
            na = np.random.poisson(lam_add * dt)
            npl = np.random.poisson(lam_pull * n_part * dt)
            nf = np.random.poisson(lam_fill * dt)
            ne = na + npl + nf + n_wall_add + n_wall_pull
            if ne == 0:
                continue
            types = np.empty(ne, np.int64)
            types[:na] = 0
            types[na:na + npl] = 1
            types[na + npl:na + npl + nf] = 2
            types[na + npl + nf:na + npl + nf + n_wall_add] = 3
            types[na + npl + nf + n_wall_add:] = 4
            np.random.shuffle(types)
            offs = np.sort(np.random.randint(0, span, ne))
            for e in range(ne):
                ts = tq + 1_000 + offs[e]
                tre = ts + 20_000 + np.random.randint(0, 20_000)
                typ = types[e]
                if typ == 0 or typ == 3:
                    side = 1 if np.random.random() < 0.5 else 2
                    jm = mm[i, 0 if side == 1 else 1]
                    if jm < 0 and typ == 3:
                        side = 3 - side
                        jm = mm[i, 0 if side == 1 else 1]
                    if jm < 0:
                        continue
                    u = np.random.random()
                    if typ == 0:
                        depth = 0 if u < 0.35 else (1 if u < 0.65 else (2 if u < 0.85 else 3))
                    else:
                        depth = 1 + int(u * 3.0)
                    price = sp[i, jm]
                    for _ in range(depth):
                        price = _tick_down(price) if side == 1 else _tick_up(price)
                    if price < 1:
                        continue
                    j = _free_slot(sd, i)
                    if j < 0:
                        continue
                    sd[i, j] = side
                    sp[i, j] = price
                    # participants trade a few lots; wall liquidity is dealer-sized
                    ss[i, j] = 1 + int(-np.log(1.0 - np.random.random()) * (10.0 if typ == 0 else 40.0))
                    sprio[i, j] = ts
                    skind[i, j] = 0 if typ == 0 else 2
                    oids[i, j] = next_part
                    next_part += 1
                    if typ == 0:
                        npart[i] += 1
                        counts[2] += 1
                    else:
                        nwall[i] += 1
                        counts[5] += 1
                    n = emit(ev, n, ts, tre, inst, oids[i, j], price * UNIT, ss[i, j], F_LAST, A_ADD, _sc(side))
                elif typ == 1 or typ == 4:
                    kind = 0 if typ == 1 else 2
                    m = 0
                    for j in range(N_SLOTS):
                        if sd[i, j] != 0 and skind[i, j] == kind:
                            idx[m] = j
                            m += 1
                    if m == 0:
                        continue
                    j = idx[np.random.randint(0, m)]
                    n = emit(ev, n, ts, tre, inst, oids[i, j], sp[i, j] * UNIT, ss[i, j], F_LAST, A_CANCEL, _sc(sd[i, j]))
                    sd[i, j] = 0
                    if kind == 0:
                        npart[i] -= 1
                        counts[3] += 1
                    else:
                        nwall[i] -= 1
                        counts[6] += 1
                else:
                    rest = 2 if np.random.random() < 0.5 else 1  # resting side hit
                    best = -1
                    for j in range(N_SLOTS):
                        if sd[i, j] == rest and (best < 0 or (rest == 2 and sp[i, j] < best) or (rest == 1 and sp[i, j] > best)):
                            best = sp[i, j]
                    if best < 0:
                        continue
                    m = 0
                    tot = 0
                    for j in range(N_SLOTS):
                        if sd[i, j] == rest and sp[i, j] == best:
                            idx[m] = j
                            pr[m] = sprio[i, j]
                            tot += ss[i, j]
                            m += 1
                    order = np.argsort(pr[:m], kind="mergesort")
                    q = min(1 + int(-np.log(1.0 - np.random.random()) * 5.0), tot)
                    n = emit(ev, n, ts, tre, inst, next_aggr, best * UNIT, q, 0, A_TRADE, _sc(3 - rest))
                    next_aggr += 1
                    rem = q
                    for r in range(m):
                        if rem <= 0:
                            break
                        j = idx[order[r]]
                        f = min(rem, ss[i, j])
                        n = emit(ev, n, ts, tre, inst, oids[i, j], best * UNIT, f, 0, A_FILL, _sc(rest))
                        rem -= f
                    rem = q
                    for r in range(m):
                        if rem <= 0:
                            break
                        j = idx[order[r]]
                        f = min(rem, ss[i, j])
                        if f == ss[i, j]:
                            n = emit(ev, n, ts, tre, inst, oids[i, j], best * UNIT, f, 0, A_CANCEL, _sc(rest))
                            sd[i, j] = 0
                            if skind[i, j] == 1:
                                mm[i, 0 if rest == 1 else 1] = -1
                            elif skind[i, j] == 0:
                                npart[i] -= 1
                            else:
                                nwall[i] -= 1
                        else:
                            ss[i, j] -= f
                            n = emit(ev, n, ts, tre, inst, oids[i, j], best * UNIT, ss[i, j], 0, A_MODIFY, _sc(rest))
                        rem -= f
                    close_group(ev, n)
                    counts[4] += 1
    return ev, n, counts


@dataclass
class OptionsTape:
    events: np.ndarray
    counts: dict


def generate_options(cfg: SynthConfig, med: Medium, ins: Instruments, forward: np.ndarray) -> OptionsTape:
    """Options MBO rows (unsorted across instruments; the writer sorts by ts_recv).

    ``forward`` is the futures book mid (price) at each window start.
    """
    o = ins.options
    smile = ins.smile_params()[o]
    s = cfg.option_rate_scale
    cap = int(cfg.n_windows * 200 * max(s, 0.1)) + 50_000
    ws = np.ascontiguousarray(med.wall_strength, np.float64) if med.wall_strength.size else np.zeros((cfg.n_windows, 1))
    for _ in range(4):
        ev, n, counts = _generate(
            np.ascontiguousarray(forward[: cfg.n_windows], np.float64), cfg.start_ns, WINDOW_NS, ins.strike[o].astype(np.float64),
            ins.klass[o] == "C", ins.expiration_ns[o], np.ascontiguousarray(smile), ins.instrument_id[o],
            ins.wall_index[o], ws, cfg.rate, 0.6 * s, 0.35 * s, 0.08 * s, WALL_ORDERS_PER_STRENGTH,
            (int(cfg.seed) + 7919) % (2**32 - 1), cap)
        if n <= cap:
            break
        cap = int(n * 1.1) + 1000
    names = ("requotes", "stale_pulls", "adds", "pulls", "trades", "wall_adds", "wall_pulls")
    return OptionsTape(ev[:, :n], {k: int(v) for k, v in zip(names, counts)})
