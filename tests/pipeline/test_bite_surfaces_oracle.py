"""Every surface the SHA-256 goldens pin, recomputed from the pure-Python reference book.

test_pipeline_surfaces_equivalence pins snap, wall, vacuum, physics and bucket_radar by digests
computed from an earlier version of the same code; test_pipeline_book checks snap and wall against
the reference book (fixtures_pipeline.oracle_windows). Here vacuum, physics (all but the
event-level OFI) and bucket_radar are derived from the reference book's windows with the formulas
of the contracts (marketphys/pipeline/contracts_futures.py), on the digests' streams.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from marketphys.pipeline import bronze
from marketphys.pipeline.book import FuturesBook
from marketphys.pipeline.silver_futures import surfaces_from_batch

from fixtures_pipeline import living_book_stream, moving_sessions_stream, oracle_windows
from test_bite_book import ValidBook
from test_pipeline_book import compare

TICK = 250_000_000
BAND, NEAR = 400, 10
ES_FILE = "glbx/orderbooks_mbo_2024-05-08T00-00-00_2024-05-08T00-00-02.dbn.zst"


def reference_surfaces(msgs, allow_partial=False):
    """vacuum rows {(T, rel): (score, d2_pal, erosion, pal)}, bucket rows {(T, bucket): (...)}, physics per window."""
    wins = oracle_windows(msgs, TICK, allow_partial=allow_partial)
    vac_rows, buck_rows, phys = {}, {}, []
    pal_hist: list[dict] = []       # per window: level tick -> log1p(pull) − log1p(add)
    last_mid = 0.0
    for w, win in enumerate(wins):
        lv = {}
        for (side, px), (a, p, f) in win["flows"].items():
            x = lv.setdefault(px // TICK, [0, 0, 0])
            x[0] += a
            x[1] += p
            x[2] += f
        pal_now = {t: math.log1p(p) - math.log1p(a) for t, (a, p, _) in lv.items()}
        pal_hist.append(pal_now)
        buy, sell = win["buy"], win["sell"]
        trade_imb = (buy - sell) / (buy + sell) if buy + sell > 0 else 0.0
        if not win["valid"]:
            phys.append({"mid": last_mid, "book_imbalance": 0.0, "above": 0.5, "below": 0.5, "trade": trade_imb})
            continue
        prev = wins[w - 1] if w > 0 else {"depth": {}, "rest": {}}
        spot = (win["bb"] // TICK + win["ba"] // TICK) // 2
        last_mid = 0.5 * (win["bb"] + win["ba"]) * 1e-9

        def at(d, side, t):
            return d.get((side, t * TICK), 0)

        buckets = {b: [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0] for b in range(-BAND // 2, BAND // 2 + 1)}
        bid_near = ask_near = vac_above = vac_below = 0.0
        for rel in range(-BAND, BAND + 1):
            t = spot + rel
            db, da = at(win["depth"], "B", t), at(win["depth"], "A", t)
            depth = db + da
            rest = at(win["rest"], "B", t) + at(win["rest"], "A", t)
            prev_depth = at(prev["depth"], "B", t) + at(prev["depth"], "A", t)
            prev_rest = at(prev["rest"], "B", t) + at(prev["rest"], "A", t)
            a, p, f = lv.get(t, (0, 0, 0))
            pal = pal_now.get(t, 0.0)
            r1 = pal_hist[w - 1].get(t, 0.0) if w >= 1 else 0.0
            r2 = pal_hist[w - 2].get(t, 0.0) if w >= 2 else 0.0
            d2pal = pal - 2.0 * r1 + r2
            vac = math.tanh((p - a) / (prev_depth + 1.0)) if p > a else 0.0
            ero = (prev_rest - rest) / (prev_rest + 1.0) if prev_rest > rest else 0.0
            if depth or p or a or d2pal != 0.0 or ero != 0.0:
                vac_rows[(win["T"], rel)] = (vac, d2pal, ero, pal)
            b = buckets.get(rel // 2)
            if b is not None:
                b[0] += depth
                b[1] += rest
                b[2] += p + f
                b[3] += a
                b[4] = max(b[4], vac)
                b[5] += db
                b[6] += da
            if 0 < rel <= NEAR:
                ask_near += da
                vac_above += vac
            elif -NEAR <= rel <= 0:
                bid_near += db
                if rel < 0:
                    vac_below += vac
        for k, (d, r, dep, rein, vmax, bd, ad) in buckets.items():
            imb = (bd - ad) / (bd + ad) if bd + ad > 0 else 0.0
            buck_rows[(win["T"], k)] = (d, r, dep, rein, imb, vmax, math.log1p(d))
        tot = bid_near + ask_near
        ask_share = ask_near / tot if tot > 0 else 0.5
        phys.append({"mid": last_mid, "book_imbalance": (bid_near - ask_near) / tot if tot > 0 else 0.0,
                     "above": 0.5 * (1.0 - ask_share) + 0.5 * vac_above / NEAR,
                     "below": 0.5 * ask_share + 0.5 * vac_below / NEAR, "trade": trade_imb})
    return wins, vac_rows, buck_rows, phys


def built_surfaces(msgs, iid, allow_partial=False):
    book = FuturesBook(iid, TICK, windows_per_batch=64, allow_partial=allow_partial)
    batches = book.feed(msgs) + book.finish()
    tabs = [surfaces_from_batch(b, iid, TICK) for b in batches]
    cat = {k: {c: np.concatenate([getattr(t, k).column(c).to_numpy(zero_copy_only=False) for t in tabs])
               for c in getattr(tabs[0], k).column_names} for k in ("vacuum", "physics", "bucket_radar", "snap")}
    return batches, cat


def check_against_reference(msgs, iid, allow_partial=False):
    batches, got = built_surfaces(msgs, iid, allow_partial)
    compare(msgs, batches, allow_partial)                           # snap and wall: the reference book's own check
    wins, vac, buck, phys = reference_surfaces(msgs, allow_partial)
    # vacuum: the same rows, the same values
    v = got["vacuum"]
    keys = list(zip(v["window_end_ts_ns"].tolist(), v["rel_ticks"].tolist()))
    assert len(keys) == len(set(keys)) and set(keys) == set(vac)
    want = np.array([vac[k] for k in keys]).reshape(-1, 4)
    for j, c in enumerate(("vacuum_score", "d2_pull_add_log", "wall_erosion", "pull_add_log")):
        np.testing.assert_allclose(v[c], want[:, j], rtol=1e-12, atol=1e-15, err_msg=c)
    # bucket radar: 401 rows per valid window
    k = got["bucket_radar"]
    keys = list(zip(k["window_end_ts_ns"].tolist(), k["bucket"].tolist()))
    assert set(keys) == set(buck) and len(keys) == len(buck)
    assert (k["rel_ticks"] == 2 * k["bucket"]).all()
    want = np.array([buck[x] for x in keys]).reshape(-1, 7)
    for j, c in enumerate(("depth_qty", "depth_qty_rest", "depletion_qty", "reinforcement_qty", "imbalance",
                           "vacuum_score", "depth_log")):
        np.testing.assert_allclose(k[c], want[:, j], rtol=1e-12, atol=1e-15, err_msg=c)
    # physics: one row per window
    p = got["physics"]
    assert p["window_end_ts_ns"].tolist() == [w["T"] for w in wins]
    assert p["book_valid"].tolist() == [w["valid"] for w in wins]
    for c, key in (("mid_price", "mid"), ("book_imbalance", "book_imbalance"), ("above_score", "above"),
                   ("below_score", "below"), ("trade_imbalance", "trade")):
        np.testing.assert_allclose(p[c], [x[key] for x in phys], rtol=1e-12, atol=1e-15, err_msg=c)
    assert p["buy_volume"].tolist() == [w["buy"] for w in wins] and p["sell_volume"].tolist() == [w["sell"] for w in wins]
    return wins, vac


def test_es_conformance_surfaces_match_the_reference(conformance_dir):
    es = np.concatenate(list(bronze.iter_mbo(conformance_dir / ES_FILE)))
    wins, _ = check_against_reference(es, int(es["instrument_id"][0]))
    assert sum(w["valid"] for w in wins) == 5


@pytest.mark.parametrize("name", ["living_book_20000_seed3", "moving_sessions"])
def test_generated_digest_streams_match_the_reference(name):
    msgs = living_book_stream(20000, seed=3) if name.startswith("living") else moving_sessions_stream()
    # the generated books start empty with no snapshot: known whole only by opting in to it, as the
    # digest tests (test_pipeline_surfaces_equivalence) build them
    wins, vac = check_against_reference(msgs, 7, allow_partial=True)
    scores = np.array([x[0] for x in vac.values()])
    assert (scores > 0).sum() > 100 and sum(w["valid"] for w in wins) > 0.6 * len(wins)


def test_valid_random_books_surfaces_match_the_reference():
    rng = np.random.default_rng(7)
    kinds = ("add", "add", "cancel", "cancel_best", "partial", "modify", "modify_away", "fill", "fill_best")
    for _ in range(20):
        gen = ValidBook()
        for _ in range(int(rng.integers(40, 150))):
            gen.step(kinds[rng.integers(len(kinds))], int(rng.integers(2)), int(rng.integers(1000)),
                     int(rng.choice([0, 5, 40, 120, 300, 700])))
        check_against_reference(gen.records(), 7)
