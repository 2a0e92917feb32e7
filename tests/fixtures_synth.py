"""Fixtures for the synthetic market tests: one 10-minute sample per test session, and a
slow, obviously-correct order book to replay its MBO records against."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from marketphys.synth import SynthConfig, generate_session
from marketphys.synth.dbn import read_mbo_array

SAMPLE = SynthConfig(minutes=10, seed=11)


@pytest.fixture(scope="session")
def synth_sample(tmp_path_factory):
    """(SynthResult, out_dir) of the 10-minute test sample."""
    out = tmp_path_factory.mktemp("synth10")
    return generate_session(SAMPLE, out, progress=False), out


@pytest.fixture(scope="session")
def futures_records(synth_sample):
    res, _ = synth_sample
    return read_mbo_array(res.files["futures_mbo"])


@pytest.fixture(scope="session")
def options_records(synth_sample):
    res, _ = synth_sample
    return read_mbo_array(res.files["options_mbo"])


class OracleBook:
    """Per instrument, per order: dict book with FIFO queues per (side, price), in plain Python.

    ``apply`` enforces Databento MBO semantics: A adds a new id; C removes a live id with its
    full size; M changes a live id (price change or size increase loses priority); T and F
    leave the book alone (the C/M that follow do the work), but F must name a live resting
    order with at least the filled size, at the head of its queue. R clears the instrument.
    """

    def __init__(self):
        self.orders: dict[int, tuple] = {}                   # oid -> (inst, side, price, size)
        self.levels = defaultdict(dict)                       # (inst, side) -> {price: [oid, ... FIFO]}
        self.errors: list[str] = []
        self.fills_in_event: list[int] = []

    def _err(self, i, msg):
        if len(self.errors) < 20:
            self.errors.append(f"record {i}: {msg}")

    def apply(self, i, inst, action, side, price, size, oid):
        if action == "R":
            for o in [o for o, v in self.orders.items() if v[0] == inst]:
                self._remove(o)
            return
        if action == "A":
            if oid in self.orders:
                self._err(i, f"add of an id already live {oid}")
                return
            self.orders[oid] = (inst, side, price, size)
            self.levels[(inst, side)].setdefault(price, []).append(oid)
        elif action == "C":
            v = self.orders.get(oid)
            if v is None:
                self._err(i, f"cancel of unknown id {oid}")
                return
            if v[3] != size or v[2] != price or v[1] != side:
                self._err(i, f"cancel {oid} says {side}{size}@{price}, book has {v[1]}{v[3]}@{v[2]}")
            self._remove(oid)
        elif action == "M":
            v = self.orders.get(oid)
            if v is None:
                self._err(i, f"modify of unknown id {oid}")
                return
            if v[1] != side:
                self._err(i, f"modify {oid} changes side")
            if v[2] != price or size > v[3]:
                self._remove(oid)
                self.orders[oid] = (inst, side, price, size)
                self.levels[(inst, side)].setdefault(price, []).append(oid)
            else:
                self.orders[oid] = (inst, side, price, size)
        elif action == "F":
            v = self.orders.get(oid)
            if v is None:
                self._err(i, f"fill of unknown id {oid}")
                return
            if v[3] < size or v[2] != price or v[1] != side:
                self._err(i, f"fill {oid} {side}{size}@{price} but book has {v[1]}{v[3]}@{v[2]}")
            q = self.queue(inst, side, price)
            k = len(self.fills_in_event)
            if k >= len(q) or q[k] != oid:
                self._err(i, f"fill {oid} is not next in the FIFO queue at {side}@{price} (queue head {q[:3]})")
            self.fills_in_event.append(oid)
        elif action == "T":
            self.fills_in_event = []
        else:
            self._err(i, f"unknown action {action!r}")

    def _remove(self, oid):
        inst, side, price, _ = self.orders.pop(oid)
        lv = self.levels[(inst, side)]
        lv[price].remove(oid)
        if not lv[price]:
            del lv[price]

    def queue(self, inst, side, price) -> list:
        return self.levels[(inst, side)].get(price, [])

    def bbo(self, inst):
        bids, asks = self.levels[(inst, "B")], self.levels[(inst, "A")]
        return (max(bids) if bids else None), (min(asks) if asks else None)

    def depth(self, inst, side, price):
        return sum(self.orders[o][3] for o in self.queue(inst, side, price))


def replay(records: np.ndarray, check_every_event=True, on_event=None) -> OracleBook:
    """Replay MBO records through the oracle; after each F_LAST, check no instrument is crossed."""
    book = OracleBook()
    acts = [chr(c) for c in records["action"].tolist()]     # DBN action/side byte codes -> "A", "B", ...
    sides = [chr(c) for c in records["side"].tolist()]
    inst = records["instrument_id"].astype(np.int64)
    price = records["price"].astype(np.int64)
    size = records["size"].astype(np.int64)
    oid = records["order_id"].astype(np.int64)
    flags = records["flags"].astype(np.int64)
    touched = set()
    for i in range(records.shape[0]):
        a = acts[i]
        book.apply(i, int(inst[i]), a, sides[i], int(price[i]), int(size[i]), int(oid[i]))
        touched.add(int(inst[i]))
        if flags[i] & 128:
            if check_every_event:
                for ins in touched:
                    b, k = book.bbo(ins)
                    if b is not None and k is not None and b >= k:
                        book._err(i, f"crossed book on instrument {ins}: bid {b} >= ask {k}")
            touched.clear()
            book.fills_in_event = []
            if on_event is not None:
                on_event(i, book)
    return book


def out_path(res, kind) -> Path:
    return Path(res.files[kind])
