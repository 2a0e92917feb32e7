"""The real ES book in the snapshot forms Databento sends: no F_LAST, no clear, and a snapshot re-sent
mid-stream. Each builds valid windows whose best bid/ask equal a flag-blind reference book written here
(plain dicts: adds replace, cancels take size off, modifies set, clears empty)."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest

from marketphys.pipeline import bronze
from marketphys.pipeline import contracts_futures as cf
from marketphys.pipeline.bronze import F_BAD_TS_RECV, F_LAST, F_SNAPSHOT
from marketphys.pipeline.build import build
from marketphys.pipeline.lake import read_partition
from marketphys.synth import dbn as D

ES_FILE = "glbx/orderbooks_mbo_2024-05-08T00-00-00_2024-05-08T00-00-02.dbn.zst"
DEFS = "glbx/orderbooks_definition.dbn.zst"
DATE = "2024-05-08"


def reference_bbo(recs: np.ndarray, times) -> list[tuple[int | None, int | None]]:
    """(best bid, best ask) after every record with ts_recv <= T, for each T; flags are not read."""
    orders: dict[int, list] = {}
    out, i, n = [], 0, len(recs)
    ts, act, side = recs["ts_recv"], recs["action"], recs["side"]
    oid, px, size = recs["order_id"], recs["price"], recs["size"]
    for T in times:
        while i < n and ts[i] <= T:
            a = chr(act[i])
            if a in "AM" and chr(side[i]) in "AB":
                orders[int(oid[i])] = [chr(side[i]), int(px[i]), int(size[i])]
            elif a == "C" and int(oid[i]) in orders:
                o = orders[int(oid[i])]
                o[2] -= int(size[i])
                if o[2] <= 0:
                    del orders[int(oid[i])]
            elif a == "R":
                orders.clear()
            i += 1
        depth = defaultdict(int)
        for s, p, q in orders.values():
            depth[(s, p)] += q
        bids = [p for (s, p), q in depth.items() if s == "B" and q > 0]
        asks = [p for (s, p), q in depth.items() if s == "A" and q > 0]
        out.append((max(bids) if bids else None, min(asks) if asks else None))
    return out


@pytest.fixture(scope="module")
def es_records(conformance_dir):
    recs = np.concatenate(list(bronze.iter_mbo(conformance_dir / ES_FILE)))
    snap = (recs["flags"] & F_SNAPSHOT) != 0
    assert snap[:8000].all() and (recs["action"][snap] == ord("R")).sum() == 1  # the file: clear + F_LAST
    return recs


def databento_day_form(recs: np.ndarray) -> np.ndarray:
    """The file as Databento's 2024 day files send it: the snapshot has no clear and no F_LAST."""
    snap = (recs["flags"] & F_SNAPSHOT) != 0
    out = recs[~(snap & (recs["action"] == ord("R")))].copy()
    s = (out["flags"] & F_SNAPSHOT) != 0
    out["flags"][s] = (out["flags"][s] & np.uint8(0xFF ^ F_LAST)) | F_BAD_TS_RECV
    return out


def with_resent_snapshot(recs: np.ndarray, at_ns: int) -> np.ndarray:
    """A copy of the resting orders re-sent at ``at_ns`` (no clear, no F_LAST), as the next day's file opens."""
    i = int(np.searchsorted(recs["ts_recv"], at_ns))
    orders: dict[int, np.void] = {}
    for r in recs[:i]:
        a, o = chr(r["action"]), int(r["order_id"])
        if a in "AM":
            orders[o] = r.copy()
        elif a == "C" and o in orders:
            orders[o]["size"] -= r["size"]
            if orders[o]["size"] <= 0:
                del orders[o]
        elif a == "R":
            orders.clear()
    snap = np.array(list(orders.values()), dtype=recs.dtype)
    snap["action"], snap["ts_recv"], snap["flags"] = ord("A"), at_ns, F_SNAPSHOT | F_BAD_TS_RECV
    return np.concatenate([recs[:i], snap, recs[i:]])


def build_form(recs, conformance_dir, tmp_path):
    info = bronze.read_info(conformance_dir / ES_FILE)
    f = tmp_path / "in" / "es.mbo.dbn.zst"
    f.parent.mkdir(parents=True)
    D.write_dbn_zst(f, D.metadata_bytes("mbo", info.start_ns, info.end_ns, {"ESM4": 5602}, DATE), [recs.tobytes()])
    s = build([f, conformance_dir / DEFS], tmp_path / "lake", progress=False)
    return s, read_partition(tmp_path / "lake", cf.SNAP.name, "ES", DATE).to_pandas()


def assert_bbo_is_reference(snap, recs):
    ref = reference_bbo(recs, snap.window_end_ts_ns.tolist())
    for (_, row), (bb, ba) in zip(snap.iterrows(), ref):
        if row.book_valid:
            assert (row.best_bid_price_int, row.best_ask_price_int) == (bb, ba), row.window_end_ts_ns


def test_snapshot_without_last_or_clear_builds_valid_windows(es_records, conformance_dir, tmp_path):
    recs = databento_day_form(es_records)
    s, snap = build_form(recs, conformance_dir, tmp_path)
    # the snapshot (all at 00:00:00.000) is known to have ended at the next record, in the second window
    assert snap.book_valid.tolist() == [False, True, True, True, True]
    assert_bbo_is_reference(snap, recs)
    assert snap.unknown_order_events.sum() == 0 and s.futures[0].counters["snapshots"] == 1
    assert s.futures[0].start == "snapshot" and s.futures[0].instrument_id == 5602
    last = snap.iloc[-1]
    print(f"last window: {last.best_bid_price_int / 1e9:.2f} x {last.best_ask_price_int / 1e9:.2f}")


def test_same_surfaces_as_the_clear_and_last_form_after_the_snapshot(es_records, conformance_dir, tmp_path):
    _, day_form = build_form(databento_day_form(es_records), conformance_dir, tmp_path / "a")
    _, textbook = build_form(es_records, conformance_dir, tmp_path / "b")
    assert textbook.book_valid.all()
    assert not day_form.book_valid.iloc[0]
    assert day_form.iloc[1:].equals(textbook.iloc[1:])  # every column of every later window


def test_resent_snapshot_mid_stream_replaces_the_book(es_records, conformance_dir, tmp_path):
    recs = databento_day_form(es_records)
    at = int(recs["ts_recv"][0]) + 1_000_000_001  # inside the window ending at 00:00:01.5, amid records
    again = with_resent_snapshot(recs, at)
    assert len(again) > len(recs) + 5000
    s, snap = build_form(again, conformance_dir, tmp_path)
    assert snap.book_valid.tolist()[1:] == [True] * 4
    assert_bbo_is_reference(snap, again)
    assert s.futures[0].counters["snapshots"] == 2 and s.futures[0].counters["unknown_order_ids"] == 0
    _, plain = build_form(recs, conformance_dir, tmp_path / "plain")
    # the same book: the best bid/ask and their sizes do not move
    same = ["best_bid_price_int", "best_bid_qty", "best_ask_price_int", "best_ask_qty"]
    assert snap[same].equals(plain[same])
