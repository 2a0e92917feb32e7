"""LOBSTER test helpers: a small generated ticker-day (written as a real message/orderbook pair) and an
independent top-N book rebuilt from MBO records, the oracle the orderbook file is compared with."""

from __future__ import annotations

import heapq
import zipfile
from pathlib import Path

import numpy as np

DUMMY_ASK, DUMMY_BID = 9_999_999_999, -9_999_999_999


def _top(book: dict, side: int, n: int) -> list[tuple[int, int]]:
    return heapq.nlargest(n, book.items()) if side == 0 else heapq.nsmallest(n, book.items())


def _row(bids: dict, asks: dict, n: int) -> list[int]:
    b, a = _top(bids, 0, n), _top(asks, 1, n)
    row = []
    for k in range(n):
        row += list(a[k]) if k < len(a) else [DUMMY_ASK, 0]
        row += list(b[k]) if k < len(b) else [DUMMY_BID, 0]
    return row


def generate_day(seed: int = 1, n_events: int = 3000, levels: int = 5, start_s: float = 34_200.0,
                 halt_at: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A LOBSTER day from a full-depth simulated book: (messages (n, 6) as objects, orderbook (n, 4N)).

    Only events that change the visible top N (plus hidden executions and halts) are written, as LOBSTER
    does, so deeper levels change unseen and levels enter the top N with no message. The book before the
    first written message has resting orders (a start book the message file never shows).
    """
    rng = np.random.default_rng(seed)
    orders: dict[int, list] = {}
    books = ({}, {})  # side -> price -> qty (0 bid, 1 ask), prices dollars x 10000
    next_id = [1000]

    def add(side, px, q):
        oid = next_id[0]
        next_id[0] += int(rng.integers(1, 50))
        orders[oid] = [side, px, q]
        books[side][px] = books[side].get(px, 0) + q
        return oid

    def take(oid, q):
        side, px, size = orders[oid]
        q = min(q, size)
        books[side][px] -= q
        if books[side][px] == 0:
            del books[side][px]
        if size - q == 0:
            del orders[oid]
        else:
            orders[oid][2] = size - q
        return q

    mid = 1_000_000  # $100.00, tick 100 (= $0.01)
    for _ in range(60):  # start book, 20+ levels deep on each side
        side = int(rng.integers(0, 2))
        off = int(rng.integers(1, 25)) * 100
        add(side, mid - off if side == 0 else mid + off, int(rng.integers(1, 10)) * 10)
    msgs, rows = [], []
    t = start_s
    prev = _row(books[0], books[1], levels)
    for k in range(n_events):
        t += float(rng.exponential(0.05))
        t = round(t, 9)
        bb = max(books[0]) if books[0] else mid - 100
        ba = min(books[1]) if books[1] else mid + 100
        u = rng.random()
        msg = None
        if halt_at is not None and k in (halt_at, halt_at + 5):
            msg = [t, 7, 0, 0, -1 if k == halt_at else 1, -1]
        elif u < 0.45 or len(orders) < 10:
            side = int(rng.integers(0, 2))
            off = int(rng.geometric(0.25)) - 1  # mostly near the touch, sometimes 10+ ticks deep
            px = (ba - 100 - off * 100) if side == 0 else (bb + 100 + off * 100)
            px = min(px, ba - 100) if side == 0 else max(px, bb + 100)
            q = int(rng.integers(1, 20)) * 10
            oid = add(side, px, q)
            msg = [t, 1, oid, q, px, 1 if side == 0 else -1]
        elif u < 0.85:
            ids = list(orders)
            if rng.random() < 0.5:  # half the time an order at the touch: levels empty, deeper ones move up
                side = int(rng.integers(0, 2))
                ids = [o for o, v in orders.items() if v[1] == (bb if side == 0 else ba)] or ids
            oid = ids[int(rng.integers(0, len(ids)))]
            side, px, size = orders[oid]
            if rng.random() < 0.2 and size > 10:
                q = take(oid, 10)
                msg = [t, 2, oid, q, px, 1 if side == 0 else -1]
            else:
                q = take(oid, size)
                msg = [t, 3, oid, q, px, 1 if side == 0 else -1]
        elif u < 0.95:
            side = int(rng.integers(0, 2))
            px = bb if side == 0 else ba
            if px in books[side]:
                oid = next(o for o, v in orders.items() if v[0] == side and v[1] == px)
                q = take(oid, int(min(orders[oid][2], rng.integers(1, 4) * 10)))
                msg = [t, 4, oid, q, px, 1 if side == 0 else -1]
        else:
            side = int(rng.integers(0, 2))
            msg = [t, 5, 0, int(rng.integers(1, 5)) * 10, bb if side == 0 else ba, 1 if side == 0 else -1]
        if msg is None:
            continue
        row = _row(books[0], books[1], levels)
        if row != prev or msg[1] in (5, 7):
            msgs.append(msg)
            rows.append(row)
            prev = row
    return np.array(msgs, dtype=object), np.array(rows, dtype=np.int64)


def write_pair(folder: Path, msgs, rows, ticker: str = "TEST", date: str = "2024-01-16", levels: int = 5,
               as_zip: bool = False) -> list[Path]:
    """Write the two CSVs with LOBSTER's names (times as LOBSTER prints them); optionally zipped."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{ticker}_{date}_34200000_57600000"
    mtxt = "".join(f"{m[0]:.9f},{m[1]},{m[2]},{m[3]},{m[4]},{m[5]}\n" for m in msgs)
    btxt = "".join(",".join(str(int(v)) for v in r) + "\n" for r in rows)
    names = {f"{stem}_message_{levels}.csv": mtxt, f"{stem}_orderbook_{levels}.csv": btxt}
    if as_zip:
        z = folder / f"LOBSTER_{ticker}_{date}_{levels}.zip"
        with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
            for n, txt in names.items():
                zf.writestr(n, txt)
        return [z]
    out = []
    for n, txt in names.items():
        (folder / n).write_text(txt)
        out.append(folder / n)
    return out


def _sub(book: dict, px: int, q: int) -> None:
    left = book[px] - q
    if left:
        book[px] = left
    else:
        del book[px]


def top_n_after_each_message(records: np.ndarray, msg_end: np.ndarray, levels: int) -> np.ndarray:
    """Rebuild a per-order book from MBO records (A/C/M/R; F and T leave it alone); the LOBSTER-layout
    top-N row after every message (``records[:msg_end[k]]``)."""
    orders: dict[int, tuple] = {}
    books = ({}, {})
    out = np.empty((len(msg_end), 4 * levels), np.int64)
    i = 0
    act, side_c = records["action"], records["side"]
    oid_a, px_a, sz_a = records["order_id"].tolist(), (records["price"] // 100_000).tolist(), records["size"].tolist()
    for k, end in enumerate(msg_end.tolist()):
        while i < end:
            a = chr(act[i])
            oid, px, q = oid_a[i], px_a[i], sz_a[i]
            s = 0 if side_c[i] == ord("B") else 1
            if a == "R":
                orders.clear()
                books[0].clear()
                books[1].clear()
            elif a in "AM":
                if oid in orders:
                    os_, op, oq = orders.pop(oid)
                    _sub(books[os_], op, oq)
                orders[oid] = (s, px, q)
                books[s][px] = books[s].get(px, 0) + q
            elif a == "C":
                os_, op, oq = orders[oid]
                q = min(q, oq)
                _sub(books[os_], op, q)
                if oq - q:
                    orders[oid] = (os_, op, oq - q)
                else:
                    del orders[oid]
            i += 1
        out[k] = _row(books[0], books[1], levels)
    return out
