"""A slow, obviously-correct MBO book for tests: dicts of orders, depth summed from scratch per window."""

from __future__ import annotations

from collections import defaultdict

F_LAST, F_SNAPSHOT, F_MAYBE_BAD_BOOK = 0x80, 0x20, 0x04


def oracle_windows(msgs, tick_int, window_ns=500_000_000, rest_ns=500_000_000, allow_partial=False):
    """Replay ``msgs`` (MBO_DTYPE records of one instrument); return one dict per closed window.

    Snapshots as Databento sends them: one ends at F_LAST or at the first record without
    F_SNAPSHOT; one that starts while a book exists replaces it. The book is valid only once
    known whole (a snapshot ended, or a clear), unless ``allow_partial``.
    """
    orders = {}  # order_id -> {side, px, size, ts, rested, fill}
    flows = defaultdict(lambda: [0, 0, 0])  # (side, px) -> [add, pull, fill]
    state = {"snap": False, "bad": False, "known": allow_partial, "vol": 0, "buy": 0, "sell": 0, "unknown": 0}
    out = []

    def remove(o, amt, counted):
        amt = min(amt, o["size"])
        f = min(amt, o["fill"])
        o["fill"] -= f
        if counted:
            flows[(o["side"], o["px"])][2] += f
            flows[(o["side"], o["px"])][1] += amt - f
        o["size"] -= amt

    def close(T):
        depth, rest = defaultdict(int), defaultdict(int)
        for o in orders.values():
            depth[(o["side"], o["px"])] += o["size"]
            if o["rested"] or o["ts"] <= T - rest_ns:
                rest[(o["side"], o["px"])] += o["size"]
        bids = [p for (s, p), q in depth.items() if s == "B" and q > 0]
        asks = [p for (s, p), q in depth.items() if s == "A" and q > 0]
        bb, ba = (max(bids) if bids else None), (min(asks) if asks else None)
        valid = not state["snap"] and not state["bad"] and state["known"] and bb is not None and ba is not None and bb < ba
        out.append({"T": T, "valid": valid, "bb": bb, "ba": ba,
                    "qb": depth[("B", bb)] if bb is not None else 0, "qa": depth[("A", ba)] if ba is not None else 0,
                    "depth": {k: v for k, v in depth.items() if v}, "rest": {k: v for k, v in rest.items() if v},
                    "flows": {k: tuple(v) for k, v in flows.items()},
                    "volume": state["vol"], "buy": state["buy"], "sell": state["sell"], "unknown": state["unknown"]})
        flows.clear()
        state["vol"] = state["buy"] = state["sell"] = state["unknown"] = 0

    win_end = None
    pending = False
    for m in msgs:
        ts = int(m["ts_recv"])
        if win_end is None:
            win_end = -(-ts // window_ns) * window_ns
        while ts > win_end:
            close(win_end)
            pending = False
            win_end += window_ns
        pending = True
        fl, act, side = int(m["flags"]), chr(m["action"]), chr(m["side"])
        if fl & F_SNAPSHOT:
            if not state["snap"]:  # a new snapshot replaces the book
                orders.clear()
                state["bad"] = False
            state["snap"] = True
        elif state["snap"]:  # a snapshot without F_LAST ends at the first record without F_SNAPSHOT
            state["snap"] = False
            state["known"] = True
        if fl & F_MAYBE_BAD_BOOK:
            state["bad"] = True
        counted = not state["snap"]
        oid, px, q = int(m["order_id"]), int(m["price"]) // tick_int * tick_int, int(m["size"])
        if act in "AM" and side in "AB":
            o = orders.get(oid)
            if act == "M" and o is not None and o["side"] == side and o["px"] == px and q <= o["size"]:
                remove(o, o["size"] - q, counted)
            else:
                if act == "M" and o is None:
                    state["unknown"] += 1
                if act == "M" and o is not None and o["side"] == side and o["px"] == px:
                    if counted:
                        flows[(side, px)][0] += q - o["size"]
                    o["size"] = q
                else:
                    if o is not None:
                        o["fill"] = 0
                        remove(o, o["size"], counted)
                    o = orders[oid] = {"side": side, "px": px, "size": q, "fill": 0}
                    if counted:
                        flows[(side, px)][0] += q
                o["ts"], o["rested"] = ts, not counted
            if o["size"] <= 0:
                del orders[oid]
        elif act == "C" and oid in orders:
            remove(orders[oid], q, counted)
            if orders[oid]["size"] <= 0:
                del orders[oid]
        elif act == "C":
            state["unknown"] += 1
        elif act == "F" and oid in orders:
            o = orders[oid]
            o["fill"] = min(o["fill"] + q, o["size"])
        elif act == "F" and oid != 0:
            state["unknown"] += 1
        elif act == "T":
            state["vol"] += q
            state["buy" if side == "B" else "sell" if side == "A" else "vol"] += q if side in "AB" else 0
        elif act == "R":
            orders.clear()
            state["bad"] = False
            if not state["snap"]:
                state["known"] = True
        if fl & F_SNAPSHOT and fl & F_LAST:
            state["snap"] = False
            state["known"] = True
    if pending:
        close(win_end)
    return out


def living_book_stream(n: int, seed: int = 0, tick_int: int = 250_000_000, instrument_id: int = 7):
    """A deterministic MBO stream whose book stays valid and moves: adds around a drifting mid,
    cancels/modifies/fills of live orders, trades, quiet spells, one clear + snapshot rebuild.

    Exercises every path of the window emit (quiet and active levels, resting graduation,
    erosion, second differences, empty windows) on many windows in a fraction of a second.
    """
    import numpy as np

    from marketphys.pipeline.bronze import MBO_DTYPE

    rng = np.random.default_rng(seed)
    recs = np.zeros(n, MBO_DTYPE)
    recs["length"], recs["rtype"], recs["instrument_id"] = 14, 0xA0, instrument_id
    live: dict[int, list] = {}  # order id -> [side, tick, size]
    ts = 1_715_160_000_000_000_000
    mid = 20_000
    next_id = 1
    cleared = False
    i = 0
    while i < n:
        ts += int(rng.choice([0, 1_000_000, 30_000_000, 400_000_000, 2_500_000_000], p=[.3, .4, .25, .04, .01]))
        u = rng.random()
        if u < 0.02:  # the mid moves; orders left on the wrong side of it are pulled (no crossed book)
            mid += int(rng.choice([-1, 1]))
            gone = [oid for oid, (side, tick, _) in live.items() if (tick >= mid if side == 0 else tick <= mid)]
            rows = [(ord("C"), ord("BA"[live[o][0]]), live[o][1] * tick_int, live[o][2], o, 0x80) for o in gone]
            for o in gone:
                del live[o]
        elif not cleared and i >= n // 2 and n - i > 40:  # a clear, then a snapshot of a fresh book
            cleared = True
            rows = [(ord("R"), ord("N"), 0, 0, 0, 0x20)]
            live.clear()
            for k in range(30):
                side = k % 2
                tick = mid - 1 - k // 2 if side == 0 else mid + 1 + k // 2
                live[next_id] = [side, tick, 5 + k]
                rows.append((ord("A"), ord("BA"[side]), tick * tick_int, 5 + k, next_id, 0x20 | (0x80 if k == 29 else 0)))
                next_id += 1
        elif u < 0.47 or len(live) < 20:
            side = int(rng.integers(0, 2))
            tick = mid - int(rng.geometric(0.2)) if side == 0 else mid + int(rng.geometric(0.2))
            q = int(rng.integers(1, 30))
            live[next_id] = [side, tick, q]
            rows = [(ord("A"), ord("BA"[side]), tick * tick_int, q, next_id, 0x80)]
            next_id += 1
        else:
            oid = list(live)[int(rng.integers(0, len(live)))]
            side, tick, q = live[oid]
            sc, px = ord("BA"[side]), tick * tick_int
            if u < 0.75:
                rows = [(ord("C"), sc, px, q, oid, 0x80)]
                del live[oid]
            elif u < 0.85:
                if rng.random() < 0.5 and q > 1:  # size down, keeps priority
                    nq, ntick = q - 1, tick
                else:  # one tick away from the mid, loses priority
                    nq, ntick = q + 1, tick - 1 if side == 0 else tick + 1
                live[oid] = [side, ntick, nq]
                rows = [(ord("M"), sc, ntick * tick_int, nq, oid, 0x80)]
            else:  # aggressor trade, fill, then the resting order's reduction
                f = int(rng.integers(1, q + 1))
                rows = [(ord("T"), ord("AB"[side]), px, f, 0, 0), (ord("F"), sc, px, f, oid, 0)]
                if f == q:
                    rows.append((ord("C"), sc, px, f, oid, 0x80))
                    del live[oid]
                else:
                    live[oid][2] = q - f
                    rows.append((ord("M"), sc, px, q - f, oid, 0x80))
        for act, sc, px, q, oid, fl in rows[: n - i]:
            recs[i]["ts_recv"] = recs[i]["ts_event"] = ts
            recs[i]["action"], recs[i]["side"], recs[i]["price"] = act, sc, px
            recs[i]["size"], recs[i]["order_id"], recs[i]["flags"] = q, oid, fl
            i += 1
    return recs


def moving_sessions_stream(tick_int: int = 250_000_000):
    """Three living books one after another, 6000 ticks down then 15000 up: the book's level
    arrays are re-based (shifted) while orders from before are still live."""
    import numpy as np

    a = living_book_stream(8000, 5, tick_int)
    b = living_book_stream(8000, 6, tick_int)
    b["ts_recv"] += int(a["ts_recv"][-1] - b["ts_recv"][0]) + 10**9
    b["price"] = np.where(b["price"] > 0, b["price"] - 6000 * tick_int, b["price"])
    c = living_book_stream(8000, 7, tick_int)
    c["ts_recv"] += int(b["ts_recv"][-1] - c["ts_recv"][0]) + 10**9
    c["price"] = np.where(c["price"] > 0, c["price"] + 9000 * tick_int, c["price"])
    return np.concatenate([a, b, c])
