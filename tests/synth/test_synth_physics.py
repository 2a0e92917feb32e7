"""The synthetic market moves through a known medium, and its files show it."""

from __future__ import annotations

import numpy as np
import pytest
from vollib.black import black

from fixtures_synth import SAMPLE, futures_records, options_records, synth_sample  # noqa: F401
from marketphys.core.integrator import rollout
from marketphys.dbn import ADD, ASK, BID, CANCEL, MODIFY, TRADE
from marketphys.synth import GroundTruth, SynthConfig
from marketphys.synth import dbn as D
from marketphys.pipeline import black76 as b76
from marketphys.synth.smile import smile_vol
from marketphys.synth.config import TICK
from marketphys.synth.medium import build_medium
from marketphys.synth.options import AGGR_OID0, MM_OID0, PART_OID0
from marketphys.synth.path import integrator_config, simulate_path


def test_truth_round_trips_through_its_files(synth_sample):
    res, _ = synth_sample
    back = GroundTruth.read(res.files["truth_json"], res.files["truth_parquet"])
    t = res.truth
    assert back.theta == t.theta and back.n_windows == t.n_windows == SAMPLE.n_windows
    for name in ("latent_mid", "velocity", "book_mid", "ofi", "drift", "wall_strike", "wall_strength", "wall_phase",
                 "vacuum_level", "vacuum_amp"):
        np.testing.assert_array_equal(getattr(back, name), getattr(t, name), err_msg=name)


@pytest.mark.parametrize("w", [0, 1, 137, 600, 1199])
def test_latent_path_is_the_engine_rollout_through_the_true_fields(synth_sample, w):
    """One window of the path == core.integrator.rollout on GroundTruth.fields_at(w) with the same Philox noise."""
    res, _ = synth_sample
    truth = GroundTruth.read(res.files["truth_json"], res.files["truth_parquet"])
    fields = truth.fields_at(w)
    r = rollout(fields, truth.theta_array, truth.velocity[w], integrator_config(SAMPLE), seed=SAMPLE.seed, stream=w)
    nxt = truth.latent_mid[w + 1] if w + 1 < truth.n_windows else None
    if nxt is not None:
        assert r.x[0, 0] * TICK == pytest.approx(nxt - truth.latent_mid[w], abs=1e-9)
        assert r.v[0, 0] == pytest.approx(truth.velocity[w + 1], abs=1e-9)
    assert r.stats.clamp_a == r.stats.clamp_v == r.stats.off_grid == 0


def test_book_mid_tracks_the_latent_mid(synth_sample):
    t = synth_sample[0].truth
    gap = np.abs(t.book_mid - t.latent_mid) / TICK
    # the touch follows floor(latent); a pulled touch level can briefly widen the spread
    assert np.quantile(gap, 0.95) <= 1.0 and gap.max() <= 3.0 and gap.mean() < 0.6
    assert np.all(np.round(t.book_mid / (TICK / 2)) == t.book_mid / (TICK / 2))  # mids on the half tick


def test_walls_are_strongest_where_the_schedule_says(synth_sample):
    t = synth_sample[0].truth
    frac = np.arange(t.n_windows) / t.n_windows
    for k, sch in enumerate(t.wall_schedule):
        s = t.wall_strength[:, k]
        top = (frac >= sch["on"] + sch["rise"]) & (frac < sch["on"] + sch["rise"] + sch["hold"])
        assert s[top].min() == pytest.approx(sch["peak"])
        assert s[~top].max() <= sch["peak"] + 1e-12
        assert s[frac < sch["on"]].max(initial=0.3) == pytest.approx(0.3)
        thick = t.wall_phase[:, k] == 1
        erode = t.wall_phase[:, k] == -1
        assert (np.diff(s)[thick[:-1] & thick[1:]] >= 0).all() and (np.diff(s)[erode[:-1] & erode[1:]] <= 0).all()


def test_walls_sit_on_the_highest_open_interest_strikes(synth_sample):
    res, _ = synth_sample
    defs = {d.instrument_id: d for d in D.read_dbn(res.files["definition"])[1:]}
    oi: dict[float, int] = {}
    for s in D.read_dbn(res.files["statistics"])[1:]:
        d = defs[s.instrument_id]
        if str(d.instrument_class) in ("C", "P"):
            k = d.strike_price / 1e9
            oi[k] = oi.get(k, 0) + s.quantity
    walls = set(res.truth.wall_strike.tolist())
    top = set(sorted(oi, key=oi.get)[-len(walls):])
    assert top == walls


def _crossings(path, level, mask):
    side = np.sign(path - level)
    return int(((side[1:] != side[:-1]) & mask).sum())


def test_strong_walls_repel_the_price():
    """Crossings of a wall's strike while it is strong, against the same noise with walls off."""
    on = off = 0
    for seed in (0, 2):
        runs = {}
        for walls in (True, False):
            cfg = SynthConfig(minutes=60, seed=seed, walls_enabled=walls)
            med = build_medium(cfg)
            runs[walls] = (med, simulate_path(cfg, med))
        med, p_on = runs[True]
        ref = build_medium(SynthConfig(minutes=60, seed=seed))  # the schedule the walls would have
        strength = np.repeat(ref.wall_strength, 8, axis=0)[1:]
        for k, w in enumerate(ref.walls):
            strong = strength[:, k] > 0.5 * w.peak
            on += _crossings(p_on.sub_ticks, w.strike / TICK, strong)
            off += _crossings(runs[False][1].sub_ticks, w.strike / TICK, strong)
    assert off >= 50, f"baseline crosses the wall levels too rarely ({off}) for a fair comparison"
    assert on <= 0.2 * off, f"walls on: {on} crossings, walls off: {off}"


def _wall_instruments(res):
    defs = D.read_dbn(res.files["definition"])[1:]
    strikes = res.truth.wall_strike
    return {d.instrument_id: int(np.flatnonzero(strikes == d.strike_price / 1e9)[0])
            for d in defs if str(d.instrument_class) in ("C", "P") and d.strike_price / 1e9 in set(strikes.tolist())}


def test_options_flow_at_wall_strikes_follows_the_schedule(synth_sample, options_records):
    """More quantity added while a wall thickens, more pulled while it erodes (non-MM orders at its strike)."""
    res, _ = synth_sample
    r = options_records
    t = res.truth
    inst_wall = _wall_instruments(res)
    win = ((r["ts_event"].astype(np.int64) - SAMPLE.start_ns) // 500_000_000).clip(0, t.n_windows - 1)
    group = np.concatenate([[0], np.cumsum((r["flags"][:-1] & 128) != 0)])
    trade_groups = np.unique(group[r["action"] == TRADE])
    in_trade = np.isin(group, trade_groups)
    oid = r["order_id"].astype(np.int64)
    part = (oid >= PART_OID0) & (oid < AGGR_OID0)
    iid = r["instrument_id"].astype(np.int64)
    wall_of = np.array([inst_wall.get(int(i), -1) for i in iid])
    sel = part & (wall_of >= 0)
    phase = np.where(sel, t.wall_phase[win, np.maximum(wall_of, 0)], 0)
    n_inst = {k: sum(1 for v in inst_wall.values() if v == k) for k in range(len(t.wall_strike))}
    exposure = {ph: sum(n_inst[k] * int((t.wall_phase[:, k] == ph).sum()) for k in n_inst) for ph in (1, -1)}
    qty = r["size"].astype(np.int64)
    adds = {ph: int(qty[sel & (r["action"] == ADD) & (phase == ph)].sum()) / exposure[ph] for ph in (1, -1)}
    pulls = {ph: int(qty[sel & (r["action"] == CANCEL) & ~in_trade & (phase == ph)].sum()) / exposure[ph] for ph in (1, -1)}
    assert adds[1] > 1.5 * adds[-1], adds
    assert pulls[-1] > 1.5 * pulls[1], pulls


def test_option_quotes_are_black76_within_a_tick(synth_sample, options_records):
    """Replay the MM orders; right after each sampled window's requote, bid <= theo <= ask, one tick apart,
    with theo from an independent Black-76 (vollib) at the futures mid the truth records."""
    res, _ = synth_sample
    t = res.truth
    defs = {d.instrument_id: d for d in D.read_dbn(res.files["definition"])[1:]}
    smiles = t.smiles["params"]
    r = options_records
    oid = r["order_id"].astype(np.int64)
    mm = (oid >= MM_OID0) & (oid < PART_OID0)
    sample_w = list(range(3, t.n_windows, 97))
    cut = [SAMPLE.start_ns + w * 500_000_000 + 400_000_000 for w in sample_w]
    quotes: dict[int, tuple] = {}
    checked = 0
    k = 0
    ts = r["ts_event"].astype(np.int64)
    for i in np.flatnonzero(mm):
        while k < len(cut) and ts[i] >= cut[k]:
            checked += _check_quotes(quotes, defs, smiles, t, sample_w[k])
            k += 1
        a = r["action"][i]
        key = int(oid[i])
        if a in (ADD, MODIFY):
            quotes[key] = (int(r["instrument_id"][i]), int(r["side"][i]), int(r["price"][i]))
        elif a == CANCEL:
            quotes.pop(key, None)
    assert checked > 1000


def _check_quotes(quotes, defs, smiles, t, w):
    by_inst: dict[int, dict] = {}
    for inst, side, price in quotes.values():
        by_inst.setdefault(inst, {})[side] = price / 1e9
    F = t.book_mid[w]
    now = t.window_start_ns[w]
    n = 0
    for inst, q in by_inst.items():
        if BID not in q or ASK not in q:
            continue
        d = defs[inst]
        series = "quarterly" if d.raw_symbol.startswith("ES") else "0dte"
        atm, skew, curv = smiles[series]
        K = d.strike_price / 1e9
        T = (d.expiration - now) / b76.YEAR_NS
        sig = float(smile_vol(K, F, atm, skew, curv))
        flag = "c" if str(d.instrument_class) == "C" else "p"
        theo = black(flag, F, K, T, t.config["rate"], sig)
        assert theo == pytest.approx(float(b76.price(F, K, T, sig, flag == "c", t.config["rate"])), rel=1e-9, abs=1e-9)
        bid, ask = q[BID], q[ASK]
        tick = 0.05 if bid < 5.0 else 0.25
        assert bid - 1e-9 <= theo <= ask + 1e-9, (d.raw_symbol, bid, theo, ask)
        assert ask - bid <= 0.25 + 1e-9 and (ask - bid) == pytest.approx(tick if bid + 1e-9 < 4.95 or bid >= 5.0 else ask - bid)
        n += 1
    return n


def test_vacuum_levels_hold_little_resting_liquidity(synth_sample, futures_records):
    """While a vacuum is active its level holds far less resting depth than the same level otherwise."""
    from fixtures_synth import replay

    res, _ = synth_sample
    t = res.truth
    r = futures_records
    rows = []

    def on_event(i, book):
        if i % 50:
            return
        w = min(int((int(r["ts_event"][i]) - SAMPLE.start_ns) // 500_000_000), t.n_windows - 1)
        b, a = book.bbo(5602)
        for j, level in enumerate(t.vacuum_level):
            p = int(round(level * 1e9))
            side, d = ("B", (b - p) // 250_000_000) if p <= b else ("A", (p - a) // 250_000_000)
            if 1 <= d <= 8 and (p <= b or p >= a):
                rows.append((t.vacuum_amp[w, j] > 0.5 * t.vacuum_amp[:, j].max(), book.depth(5602, side, p)))

    replay(r, check_every_event=False, on_event=on_event)
    rows = np.array(rows, dtype=float)
    active = rows[:, 0] == 1
    assert active.sum() >= 50 and (~active).sum() >= 50
    assert rows[active, 1].mean() < 0.5 * rows[~active, 1].mean()
