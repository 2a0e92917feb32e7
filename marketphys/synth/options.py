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

The MM prices with the package's one Black-76 and one year (``marketphys.pipeline.black76``,
ACT/365.25), so the pipeline's implied vol of its fair value is the smile's vol
(``mm_theo``; tests/synth/test_synth_iv_roundtrip.py).

Compiled with numba, in named phases over one ``OptionBooks`` of arrays: ``_expire``,
``_requote`` (``_mm_quote``, ``_pull_stale``, ``_move_mm``), ``_draw_flow`` and the
participants' ``_participant_add`` / ``_participant_pull`` / ``_participant_trade``.

Order ids: MM orders from 7.1e12, participant orders from 7.2e12, aggressors from 7.3e12.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numba as nb
import numpy as np

from marketphys.pipeline.black76 import YEAR_NS, price_one
from marketphys.synth.config import SynthConfig, WINDOW_NS
from marketphys.synth.events import F_LAST, N_COLS, close_group, emit
from marketphys.synth.instruments import Instruments
from marketphys.synth.medium import Medium
from marketphys.synth.smile import smile_scalar

MM_OID0 = 7_100_000_000_000
PART_OID0 = 7_200_000_000_000
AGGR_OID0 = 7_300_000_000_000
UNIT = 50_000_000  # 0.05 in 1e-9 fixed point
A_ADD, A_CANCEL, A_MODIFY, A_TRADE, A_FILL = 65, 67, 77, 84, 70
S_ASK, S_BID = 65, 66
N_SLOTS = 48
WALL_ORDERS_PER_STRENGTH = 4.0
"""Resting wall-liquidity orders per unit of wall strength at each wall-strike option (plus 2)."""


class OptionBooks(NamedTuple):
    """One small book per option (row i), mutated in place by the compiled phases.

    Order slots ``(i, j)``: ``side`` (0 empty, 1 bid, 2 ask), ``price`` (0.05 units), ``size``,
    ``prio`` (time priority), ``kind`` (0 participant, 1 market maker, 2 wall liquidity), ``oid``.
    ``mm[i]`` = the MM's (bid, ask) slots (-1 none), ``last_quote[i]`` = its last (bid_u, ask_u);
    ``n_part``/``n_wall`` count live participant/wall orders; ``next_oid`` = next (MM, participant,
    aggressor) order id; ``slots``/``prios`` are scratch for picking orders."""

    side: np.ndarray
    price: np.ndarray
    size: np.ndarray
    prio: np.ndarray
    kind: np.ndarray
    oid: np.ndarray
    mm: np.ndarray
    last_quote: np.ndarray
    n_part: np.ndarray
    n_wall: np.ndarray
    next_oid: np.ndarray
    slots: np.ndarray
    prios: np.ndarray


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


@nb.njit(cache=True, inline="always")
def _free_slot(sd, i):
    for j in range(sd.shape[1]):
        if sd[i, j] == 0:
            return j
    return -1


@nb.njit(cache=True)
def _new_books(ni):
    return OptionBooks(np.zeros((ni, N_SLOTS), np.int8), np.zeros((ni, N_SLOTS), np.int64),
                       np.zeros((ni, N_SLOTS), np.int64), np.zeros((ni, N_SLOTS), np.int64),
                       np.zeros((ni, N_SLOTS), np.int8), np.zeros((ni, N_SLOTS), np.int64),
                       np.full((ni, 2), -1, np.int64), np.full((ni, 2), -1, np.int64), np.zeros(ni, np.int64),
                       np.zeros(ni, np.int64), np.array([MM_OID0, PART_OID0, AGGR_OID0], np.int64),
                       np.empty(N_SLOTS, np.int64), np.empty(N_SLOTS, np.int64))


@nb.njit(cache=True, inline="always")
def _forget(bk, i, j):
    """Slot j of option i leaves the book: free it and keep the live counts."""
    sides, kinds, n_part, n_wall = bk.side, bk.kind, bk.n_part, bk.n_wall
    sides[i, j] = 0
    if kinds[i, j] == 0:
        n_part[i] -= 1
    elif kinds[i, j] == 2:
        n_wall[i] -= 1


# -- phases --------------------------------------------------------------------------------

@nb.njit(cache=True, inline="always")
def _expire(ev, n, bk, i, tq, tr, inst):
    """At expiry every resting order of the option is cancelled, as one event."""
    sides, prices, sizes, oids, mm, n_part, n_wall = bk.side, bk.price, bk.size, bk.oid, bk.mm, bk.n_part, bk.n_wall
    n0 = n
    for j in range(N_SLOTS):
        if sides[i, j] != 0:
            n = emit(ev, n, tq, tr, inst, oids[i, j], prices[i, j] * UNIT, sizes[i, j], 0, A_CANCEL,
                     _sc(sides[i, j]))
            sides[i, j] = 0
    n_part[i] = 0
    n_wall[i] = 0
    mm[i, 0] = -1
    mm[i, 1] = -1
    if n > n0:
        close_group(ev, n)
    return n


@nb.njit(cache=True, inline="always")
def _years_left(expiration_ns, now_ns, year_ns):
    """Years to expiry in the pipeline's convention (``year_ns`` is ``black76.YEAR_NS``, passed in so a
    numba cache compiled against another year can never be reused)."""
    return (expiration_ns - now_ns) / year_ns


@nb.njit(cache=True, inline="always")
def _theo(F, K, T, smile, rate, is_call):
    """The MM's fair value: Black-76 at the smile's vol for (K, F)."""
    return price_one(F, K, T, smile_scalar(K, F, smile[0], smile[1], smile[2]), is_call, rate)


@nb.njit(cache=True, inline="always")
def _mm_quote(F, K, T, smile, rate, is_call):
    """The MM's (bid, ask) in 0.05 units: the theo rounded down to the tick, plus one tick."""
    theo_u = _theo(F, K, T, smile, rate, is_call) / 0.05
    bid_u = int(np.floor(theo_u)) if theo_u < 100.0 else int(np.floor(theo_u / 5.0)) * 5
    ask_u = _tick_up(bid_u)
    if ask_u < 1:
        ask_u = 1
    return bid_u, ask_u


@nb.njit(cache=True, inline="always")
def _pull_stale(ev, n, bk, i, bid_u, ask_u, tq, tr, inst, counts):
    """Cancel the resting orders (not the MM's) that the new quote would cross or better."""
    sides, prices, sizes, kinds, oids = bk.side, bk.price, bk.size, bk.kind, bk.oid
    for j in range(N_SLOTS):
        if sides[i, j] == 0 or kinds[i, j] == 1:
            continue
        if (sides[i, j] == 1 and prices[i, j] > bid_u) or (sides[i, j] == 2 and prices[i, j] < ask_u):
            n = emit(ev, n, tq, tr, inst, oids[i, j], prices[i, j] * UNIT, sizes[i, j], 0, A_CANCEL,
                     _sc(sides[i, j]))
            _forget(bk, i, j)
            counts[1] += 1
    return n


@nb.njit(cache=True, inline="always")
def _move_mm(ev, n, bk, i, bid_u, ask_u, size, tq, tr, inst):
    """Move the MM's two orders to (bid_u, ask_u): the side moving away from the other first, so the
    book never crosses; a price change is ``M`` (loses priority), a missing side is added."""
    sides, prices, sizes, prios = bk.side, bk.price, bk.size, bk.prio
    kinds, oids, mm, next_oid = bk.kind, bk.oid, bk.mm, bk.next_oid
    jb = mm[i, 0]
    old_bid = prices[i, jb] if jb >= 0 else -1
    for step in range(2):
        side = 2 if (bid_u > old_bid) == (step == 0) else 1
        want = ask_u if side == 2 else bid_u
        j = mm[i, 0 if side == 1 else 1]
        if want <= 0:
            if j >= 0:
                n = emit(ev, n, tq, tr, inst, oids[i, j], prices[i, j] * UNIT, sizes[i, j], 0, A_CANCEL, _sc(side))
                sides[i, j] = 0
                mm[i, 0 if side == 1 else 1] = -1
        elif j >= 0:
            if prices[i, j] != want:
                prices[i, j] = want
                sizes[i, j] = size
                prios[i, j] = tq
                n = emit(ev, n, tq, tr, inst, oids[i, j], want * UNIT, size, 0, A_MODIFY, _sc(side))
        else:
            j = _free_slot(sides, i)
            if j >= 0:
                sides[i, j] = side
                prices[i, j] = want
                sizes[i, j] = size
                prios[i, j] = tq
                kinds[i, j] = 1
                oids[i, j] = next_oid[0]
                next_oid[0] += 1
                mm[i, 0 if side == 1 else 1] = j
                n = emit(ev, n, tq, tr, inst, oids[i, j], want * UNIT, size, 0, A_ADD, _sc(side))
    return n


@nb.njit(cache=True, inline="always")
def _requote(ev, n, bk, i, bid_u, ask_u, tq, tr, inst, counts):
    """The MM's requote at the window start, as one event: stale pulls, then the MM's move."""
    mm, last_quote, n_part, n_wall = bk.mm, bk.last_quote, bk.n_part, bk.n_wall
    n0 = n
    quote_same = (bid_u == last_quote[i, 0] and ask_u == last_quote[i, 1]
                  and (mm[i, 0] >= 0 or bid_u <= 0) and mm[i, 1] >= 0)
    last_quote[i, 0] = bid_u
    last_quote[i, 1] = ask_u
    if not quote_same and n_part[i] + n_wall[i] > 0:
        n = _pull_stale(ev, n, bk, i, bid_u, ask_u, tq, tr, inst, counts)
    size = 20 + np.random.randint(0, 80)
    if not quote_same:
        n = _move_mm(ev, n, bk, i, bid_u, ask_u, size, tq, tr, inst)
    if n > n0:
        close_group(ev, n)
        counts[0] += 1
    return n


@nb.njit(cache=True, inline="always")
def _draw_flow(n_add, n_pull, n_fill, n_wall_add, n_wall_pull, span):
    """The window's participant events (0 add, 1 pull, 2 trade, 3 wall add, 4 wall pull) in random
    order, and their sorted time offsets within ``span``."""
    ne = n_add + n_pull + n_fill + n_wall_add + n_wall_pull
    types = np.empty(ne, np.int64)
    types[:n_add] = 0
    types[n_add:n_add + n_pull] = 1
    types[n_add + n_pull:n_add + n_pull + n_fill] = 2
    types[n_add + n_pull + n_fill:n_add + n_pull + n_fill + n_wall_add] = 3
    types[n_add + n_pull + n_fill + n_wall_add:] = 4
    np.random.shuffle(types)
    return types, np.sort(np.random.randint(0, span, ne))


@nb.njit(cache=True, inline="always")
def _participant_add(ev, n, bk, i, typ, ts, tre, inst, counts):
    """A participant (typ 0: 0-3 ticks behind the MM, a few lots) or wall-liquidity order (typ 3:
    1-3 ticks behind, dealer-sized)."""
    sides, prices, sizes, prios, kinds = bk.side, bk.price, bk.size, bk.prio, bk.kind
    oids, mm, n_part, n_wall, next_oid = bk.oid, bk.mm, bk.n_part, bk.n_wall, bk.next_oid
    side = 1 if np.random.random() < 0.5 else 2
    jm = mm[i, 0 if side == 1 else 1]
    if jm < 0 and typ == 3:
        side = 3 - side
        jm = mm[i, 0 if side == 1 else 1]
    if jm < 0:
        return n
    u = np.random.random()
    if typ == 0:
        depth = 0 if u < 0.35 else (1 if u < 0.65 else (2 if u < 0.85 else 3))
    else:
        depth = 1 + int(u * 3.0)
    price = prices[i, jm]
    for _ in range(depth):
        price = _tick_down(price) if side == 1 else _tick_up(price)
    if price < 1:
        return n
    j = _free_slot(sides, i)
    if j < 0:
        return n
    sides[i, j] = side
    prices[i, j] = price
    # participants trade a few lots; wall liquidity is dealer-sized
    sizes[i, j] = 1 + int(-np.log(1.0 - np.random.random()) * (10.0 if typ == 0 else 40.0))
    prios[i, j] = ts
    kinds[i, j] = 0 if typ == 0 else 2
    oids[i, j] = next_oid[1]
    next_oid[1] += 1
    if typ == 0:
        n_part[i] += 1
        counts[2] += 1
    else:
        n_wall[i] += 1
        counts[5] += 1
    return emit(ev, n, ts, tre, inst, oids[i, j], price * UNIT, sizes[i, j], F_LAST, A_ADD, _sc(side))


@nb.njit(cache=True, inline="always")
def _participant_pull(ev, n, bk, i, typ, ts, tre, inst, counts):
    """Cancel a random live participant (typ 1) or wall-liquidity (typ 4) order."""
    sides, prices, sizes, kinds, oids, picks = bk.side, bk.price, bk.size, bk.kind, bk.oid, bk.slots
    kind = 0 if typ == 1 else 2
    m = 0
    for j in range(N_SLOTS):
        if sides[i, j] != 0 and kinds[i, j] == kind:
            picks[m] = j
            m += 1
    if m == 0:
        return n
    j = picks[np.random.randint(0, m)]
    n = emit(ev, n, ts, tre, inst, oids[i, j], prices[i, j] * UNIT, sizes[i, j], F_LAST, A_CANCEL, _sc(sides[i, j]))
    _forget(bk, i, j)
    counts[3 if kind == 0 else 6] += 1
    return n


@nb.njit(cache=True, inline="always")
def _participant_trade(ev, n, bk, i, ts, tre, inst, counts):
    """An aggressor on a random side: ``T``, then ``F`` per resting order at the best price in
    time priority, then ``C`` per filled order and ``M`` for the partly filled one."""
    sides, prices, sizes, prios, kinds = bk.side, bk.price, bk.size, bk.prio, bk.kind
    oids, mm, next_oid, picks, pick_prios = bk.oid, bk.mm, bk.next_oid, bk.slots, bk.prios
    rest = 2 if np.random.random() < 0.5 else 1  # resting side hit
    best = -1
    for j in range(N_SLOTS):
        p = prices[i, j]
        if sides[i, j] == rest and (best < 0 or (rest == 2 and p < best) or (rest == 1 and p > best)):
            best = p
    if best < 0:
        return n
    m = 0
    tot = 0
    for j in range(N_SLOTS):
        if sides[i, j] == rest and prices[i, j] == best:
            picks[m] = j
            pick_prios[m] = prios[i, j]
            tot += sizes[i, j]
            m += 1
    order = np.argsort(pick_prios[:m], kind="mergesort")
    q = min(1 + int(-np.log(1.0 - np.random.random()) * 5.0), tot)
    n = emit(ev, n, ts, tre, inst, next_oid[2], best * UNIT, q, 0, A_TRADE, _sc(3 - rest))
    next_oid[2] += 1
    rem = q
    for r in range(m):
        if rem <= 0:
            break
        j = picks[order[r]]
        f = min(rem, sizes[i, j])
        n = emit(ev, n, ts, tre, inst, oids[i, j], best * UNIT, f, 0, A_FILL, _sc(rest))
        rem -= f
    rem = q
    for r in range(m):
        if rem <= 0:
            break
        j = picks[order[r]]
        f = min(rem, sizes[i, j])
        if f == sizes[i, j]:
            n = emit(ev, n, ts, tre, inst, oids[i, j], best * UNIT, f, 0, A_CANCEL, _sc(rest))
            if kinds[i, j] == 1:
                mm[i, 0 if rest == 1 else 1] = -1
            _forget(bk, i, j)
        else:
            sizes[i, j] -= f
            n = emit(ev, n, ts, tre, inst, oids[i, j], best * UNIT, sizes[i, j], 0, A_MODIFY, _sc(rest))
        rem -= f
    close_group(ev, n)
    counts[4] += 1
    return n


@nb.njit(cache=True)
def _generate(F_w, t0, win_ns, strike, is_call, exp_ns, year_ns, smile, inst_ids, wall_idx, wall_strength, rate,
              base_add, base_pull, base_fill, wall_orders_per_strength, seed, cap_ev):
    """Per window and option: expire, or requote the MM and run the participants' flow."""
    np.random.seed(seed)
    ni = strike.shape[0]
    ev = np.zeros((N_COLS, cap_ev), np.int64)
    n = 0
    bk = _new_books(ni)
    counts = np.zeros(7, np.int64)  # requotes, stale pulls, adds, pulls, trades, wall adds, wall pulls
    for w in range(F_w.shape[0]):
        t_w = t0 + np.int64(w) * win_ns
        F = F_w[w]
        for i in range(ni):
            inst = inst_ids[i]
            T = _years_left(exp_ns[i], t_w, year_ns)
            tq = t_w + 1_000_000 + i * 2_000
            tr = tq + 20_000 + np.random.randint(0, 20_000)
            if T <= 0.0:
                n = _expire(ev, n, bk, i, tq, tr, inst)
                continue
            K = strike[i]
            bid_u, ask_u = _mm_quote(F, K, T, (smile[i, 0], smile[i, 1], smile[i, 2]), rate, is_call[i])
            n = _requote(ev, n, bk, i, bid_u, ask_u, tq, tr, inst, counts)
            # the resting stock at a wall strike follows the wall's strength
            n_wall_add = 0
            n_wall_pull = 0
            if wall_idx[i] >= 0:
                target = min(int(round(2.0 + wall_orders_per_strength * wall_strength[w, wall_idx[i]])), 30)
                n_wall_add = max(target - bk.n_wall[i], 0)
                n_wall_pull = max(bk.n_wall[i] - target, 0)
            # participant flow for the rest of the window: adds and trades near the money, pulls per order
            atm = np.exp(-0.5 * (np.log(K / F) / 0.012) ** 2)
            span = win_ns - 1_100_000 - i * 2_000
            dt = span * 1e-9
            n_add = np.random.poisson(base_add * atm * dt)
            n_pull = np.random.poisson(base_pull * bk.n_part[i] * dt)
            n_fill = np.random.poisson(base_fill * atm * dt)
            if n_add + n_pull + n_fill + n_wall_add + n_wall_pull == 0:
                continue
            types, offs = _draw_flow(n_add, n_pull, n_fill, n_wall_add, n_wall_pull, span)
            for e in range(types.shape[0]):
                ts = tq + 1_000 + offs[e]
                tre = ts + 20_000 + np.random.randint(0, 20_000)
                if types[e] == 0 or types[e] == 3:
                    n = _participant_add(ev, n, bk, i, types[e], ts, tre, inst, counts)
                elif types[e] == 1 or types[e] == 4:
                    n = _participant_pull(ev, n, bk, i, types[e], ts, tre, inst, counts)
                else:
                    n = _participant_trade(ev, n, bk, i, ts, tre, inst, counts)
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
            ins.klass[o] == "C", ins.expiration_ns[o], YEAR_NS, np.ascontiguousarray(smile), ins.instrument_id[o],
            ins.wall_index[o], ws, cfg.rate, 0.6 * s, 0.35 * s, 0.08 * s, WALL_ORDERS_PER_STRENGTH,
            (int(cfg.seed) + 7919) % (2**32 - 1), cap)
        if n <= cap:
            break
        cap = int(n * 1.1) + 1000
    names = ("requotes", "stale_pulls", "adds", "pulls", "trades", "wall_adds", "wall_pulls")
    return OptionsTape(ev[:, :n], {k: int(v) for k, v in zip(names, counts)})


def mm_theo(F, K, expiration_ns, now_ns, smile, rate, is_call, year_ns: float = YEAR_NS) -> np.ndarray:
    """The market maker's Black-76 fair values, through the generator's own compiled path and year.

    Arrays broadcast; ``smile`` holds (atm, skew, curv) in its last axis. The quotes on the tape are
    these values rounded to the option tick; tests invert them with the pipeline's IV.
    """
    F, K, exp, now, call = np.broadcast_arrays(np.asarray(F, float), np.asarray(K, float),
                                               np.asarray(expiration_ns, np.int64), np.asarray(now_ns, np.int64),
                                               np.asarray(is_call, bool))
    sm = np.broadcast_to(np.asarray(smile, float), F.shape + (3,))
    out = np.empty(F.shape)
    for ix in np.ndindex(F.shape):
        T = _years_left(exp[ix], now[ix], year_ns)
        out[ix] = _theo(F[ix], K[ix], T, (float(sm[ix][0]), float(sm[ix][1]), float(sm[ix][2])), float(rate),
                        bool(call[ix]))
    return out
