"""The synthetic writer's snapshot forms (marketphys.synth.snapshots): each is the form it claims, and a
correct book reads every form to the same book as the generator's textbook snapshot."""

from __future__ import annotations

import numpy as np
import pytest

from marketphys.pipeline.book import FuturesBook
from marketphys.pipeline.bronze import MBO_DTYPE
from marketphys.synth import SynthConfig
from marketphys.synth import dbn as D
from marketphys.synth import events as E
from marketphys.synth.snapshots import databento_form, opening_snapshot, resend_snapshot, resting_orders, split_at

TICK = 250_000_000


@pytest.fixture(scope="module")
def session():
    from marketphys.synth.futures import generate_futures
    from marketphys.synth.instruments import build_instruments
    from marketphys.synth.medium import build_medium
    from marketphys.synth.path import simulate_path

    cfg = SynthConfig(minutes=1, seed=9)
    med = build_medium(cfg)
    ins = build_instruments(cfg, med)
    fut = generate_futures(cfg, med, simulate_path(cfg, med).sub_ticks, int(ins.instrument_id[0]))
    return cfg, D.sort_events(fut.events), int(ins.instrument_id[0])


def snaps(ev, iid):
    book = FuturesBook(iid, TICK)
    out = book.feed(D.to_mbo_records(ev).view(MBO_DTYPE)) + book.finish()  # same bytes, action/side as codes
    return {k: np.concatenate([b.snap[k] for b in out]) for k in out[0].snap}, book


def test_databento_form_has_no_clear_and_no_last(session):
    cfg, ev, _ = session
    sl = opening_snapshot(ev)
    assert ev[E.ACTION, sl][0] == E.A_CLEAR and ev[E.FLAGS, sl][-1] & E.F_LAST
    db = databento_form(ev)
    s2 = opening_snapshot(db)
    assert s2.stop == sl.stop - 1 and (db[E.ACTION, s2] == E.A_ADD).all()
    assert not (db[E.FLAGS, s2] & E.F_LAST).any() and (db[E.FLAGS, s2] & E.F_BAD_TS_RECV).all()
    assert np.array_equal(db[:, s2.stop:], ev[:, sl.stop:])


def test_every_form_reads_to_the_same_book(session):
    cfg, ev, iid = session
    want, _ = snaps(ev, iid)
    assert want["book_valid"].all()
    at = cfg.start_ns + 30 * 10**9 + 1
    forms = {"databento": databento_form(ev), "resent": resend_snapshot(databento_form(ev), at),
             "resent_clear_last": resend_snapshot(ev, at, clear=True, last=True)}
    for name, form in forms.items():
        got, book = snaps(form, iid)
        assert book.counters["unknown_order_ids"] == 0, name
        assert book.counters["snapshots"] == (2 if "resent" in name else 1), name
        assert got["book_valid"][1:].all(), name
        for k in ("best_bid_price_int", "best_bid_qty", "best_ask_price_int", "best_ask_qty", "volume"):
            assert np.array_equal(got[k][1:], want[k][1:]), (name, k)


def test_resent_snapshot_is_the_resting_book(session):
    cfg, ev, _ = session
    at = cfg.start_ns + 20 * 10**9
    again = resend_snapshot(ev, at)
    i = int(np.searchsorted(ev[E.TS_RECV], at))
    n = again.shape[1] - ev.shape[1]
    inserted = again[:, i:i + n]
    assert (inserted[E.FLAGS] & E.F_SNAPSHOT).all() and (inserted[E.TS_RECV] == at).all()
    book = resting_orders(ev, at)
    assert n == len(book) > 50
    assert {int(o): (int(s), int(p), int(q)) for o, s, p, q in zip(inserted[E.OID], inserted[E.SIDE],
                                                                   inserted[E.PRICE], inserted[E.SIZE])} \
        == {o: v[:3] for o, v in book.items()}
    a, b = split_at(again, at)
    assert a.shape[1] == i and np.array_equal(np.concatenate([a, b], axis=1), again)
