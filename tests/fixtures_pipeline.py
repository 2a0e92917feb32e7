"""A slow, obviously-correct MBO book for tests: dicts of orders, depth summed from scratch per window."""

from __future__ import annotations

from collections import defaultdict

F_LAST, F_SNAPSHOT, F_MAYBE_BAD_BOOK = 0x80, 0x20, 0x04


def oracle_windows(msgs, tick_int, window_ns=500_000_000, rest_ns=500_000_000):
    """Replay ``msgs`` (MBO_DTYPE records of one instrument); return one dict per closed window."""
    orders = {}  # order_id -> {side, px, size, ts, rested, fill}
    flows = defaultdict(lambda: [0, 0, 0])  # (side, px) -> [add, pull, fill]
    state = {"snap": False, "bad": False, "vol": 0, "buy": 0, "sell": 0}
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
        valid = not state["snap"] and not state["bad"] and bb is not None and ba is not None and bb < ba
        out.append({"T": T, "valid": valid, "bb": bb, "ba": ba,
                    "qb": depth[("B", bb)] if bb is not None else 0, "qa": depth[("A", ba)] if ba is not None else 0,
                    "depth": {k: v for k, v in depth.items() if v}, "rest": {k: v for k, v in rest.items() if v},
                    "flows": {k: tuple(v) for k, v in flows.items()},
                    "volume": state["vol"], "buy": state["buy"], "sell": state["sell"]})
        flows.clear()
        state["vol"] = state["buy"] = state["sell"] = 0

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
            state["snap"] = True
        if fl & F_MAYBE_BAD_BOOK:
            state["bad"] = True
        counted = not state["snap"]
        oid, px, q = int(m["order_id"]), int(m["price"]) // tick_int * tick_int, int(m["size"])
        if act in "AM" and side in "AB":
            o = orders.get(oid)
            if act == "M" and o is not None and o["side"] == side and o["px"] == px and q <= o["size"]:
                remove(o, o["size"] - q, counted)
            else:
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
        elif act == "F" and oid in orders:
            o = orders[oid]
            o["fill"] = min(o["fill"] + q, o["size"])
        elif act == "T":
            state["vol"] += q
            state["buy" if side == "B" else "sell" if side == "A" else "vol"] += q if side in "AB" else 0
        elif act == "R":
            orders.clear()
            state["bad"] = False
        if fl & F_SNAPSHOT and fl & F_LAST:
            state["snap"] = False
    if pending:
        close(win_end)
    return out
