"""GEX on a hand-computable chain: sums, sign convention, units, IV fallback, grid rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from marketphys.pipeline import black76, gex
from marketphys.pipeline.silver_options import (CHAIN_DATASET, GEX_DATASET, GEX_FLOW_DATASET, FLOW_DATASET, WALL_DATASET,
                                                DEFAULT_IV, OpenInterest, OptionChain, SilverComputeGexSurface1s,
                                                SpotSeries)
from options_helpers import P, mbo, quote_rows

S = 1_000_000_000
T0 = 1_700_000_000 * S
EXP = T0 + int(30 * 86400 * S)          # 30 days out
SIGMA = 0.2
F0 = 5001.0                              # spot 5001 -> strike-grid centre 5000


def _chain(extra=()):
    rows = [(1, True, 5000), (2, False, 5000), (3, True, 5010), (4, False, 4990), (5, True, 5100)] + list(extra)
    defs = pd.DataFrame({"instrument_id": [r[0] for r in rows], "is_call": [r[1] for r in rows],
                         "strike_price_int": [r[2] * P for r in rows], "expiration_ns": [EXP] * len(rows),
                         "multiplier": [50.0] * len(rows)})
    return OptionChain.from_definitions(defs)


def _stage(chain, oi_map, **kw):
    stats = pd.DataFrame({"ts_recv": [T0 - S] * len(oi_map), "instrument_id": list(oi_map),
                          "open_interest": list(oi_map.values())})
    spot = SpotSeries(np.array([T0 - S]), np.array([int(F0 * P)]), np.array([F0]), np.array([True]))
    return SilverComputeGexSurface1s(chain, OpenInterest(chain, stats), spot, **kw)


def _theo(K, call, t_ns):
    T = (EXP - t_ns) / black76.YEAR_NS
    return float(black76.price(F0, K, T, SIGMA, call)), T


def _collect(stage, chunks):
    out = {}
    for batch in stage.run(chunks):
        for k, t in batch.items():
            out.setdefault(k, []).append(t.to_pandas())
    return {k: pd.concat(v, ignore_index=True) for k, v in out.items()}


def test_gex_hand_computed_chain_sign_and_units():
    chain = _chain()
    oi = {1: 1000, 2: 3000, 3: 500, 4: 200, 5: 9999}
    rows = []
    for inst, call, K in [(1, True, 5000), (2, False, 5000), (3, True, 5010), (4, False, 4990), (5, True, 5100)]:
        p, _ = _theo(K, call, T0 + S)
        rows += quote_rows(T0 + 100_000_000, inst, round(p, 2), oid_base=inst * 10)
    rows.sort(key=lambda r: r[0])
    out = _collect(_stage(chain, oi), [mbo(rows)])
    g = out[GEX_DATASET]
    assert len(g) == 25 and (g["window_end_ts_ns"] == T0 + S).all()
    assert g["rel_ticks"].tolist() == list(range(-240, 241, 20))
    assert (g["spot_ref_price_int"] == 5000 * P).all() and (g["underlying_spot_ref"] == F0).all()

    def expect(K, call, n):
        p, T = _theo(K, call, T0 + S)
        mid = round(p, 2)
        iv, st = black76.implied_vol(mid, F0, K, T, call)
        assert st == black76.IV_OK
        return float(black76.gamma(F0, K, T, iv)) * n * 50 * F0 ** 2 * 0.01

    at = g.set_index("strike_points")
    c5000, p5000 = expect(5000, True, 1000), expect(5000, False, 3000)
    assert at.loc[5000.0, "gex_call_abs"] == pytest.approx(c5000, rel=1e-9)
    assert at.loc[5000.0, "gex_put_abs"] == pytest.approx(p5000, rel=1e-9)
    assert at.loc[5000.0, "gex"] == pytest.approx(c5000 - p5000, rel=1e-9)     # calls +, puts -
    assert at.loc[5000.0, "gex"] < 0                                             # more put OI -> net negative
    assert at.loc[5010.0, "gex"] == pytest.approx(expect(5010, True, 500), rel=1e-9)
    assert at.loc[4990.0, "gex"] == pytest.approx(-expect(4990, False, 200), rel=1e-9)
    assert at.loc[4990.0, "gex_imbalance_ratio"] == -1.0 and at.loc[5010.0, "gex_imbalance_ratio"] == 1.0
    quiet = ~g["strike_points"].isin([5000.0, 5010.0, 4990.0])
    assert (g.loc[quiet, ["gex", "gex_abs", "gex_imbalance_ratio"]] == 0).all().all()   # zeros, not missing rows
    # units: USD of underlying exposure per 1% move of F = change of the position's dollar
    # delta (delta * OI * multiplier * F) over a 1% move, checked by finite differences
    T = (EXP - (T0 + S)) / black76.YEAR_NS
    iv = black76.implied_vol(round(_theo(5000, True, T0 + S)[0], 2), F0, 5000, T, True)[0]
    h = 1e-5
    dd = [float(black76.greeks(F0 * (1 + s), 5000, T, iv, True)["delta"]) for s in (-h, h)]
    assert c5000 == pytest.approx((dd[1] - dd[0]) / (2 * h) * 0.01 * 1000 * 50 * F0, rel=1e-6)
    assert set(out) == {GEX_DATASET, GEX_FLOW_DATASET, FLOW_DATASET, WALL_DATASET, CHAIN_DATASET}   # validated
    ch = out[CHAIN_DATASET]                              # the default band is the 25 rows: the same total
    assert len(ch) == 1 and ch["gex_total"][0] == pytest.approx(g["gex"].sum(), rel=1e-12)
    assert ch["gex_abs_total"][0] == pytest.approx(g["gex_abs"].sum(), rel=1e-12) and ch["options_priced"][0] == 4   # 5100: off the band


def test_iv_fallback_carries_last_good_then_window_median_then_default():
    chain = _chain()
    oi = {1: 100, 2: 100, 3: 100, 4: 100}
    p1, _ = _theo(5000, True, T0 + S)
    p3, _ = _theo(5010, True, T0 + S)
    rows = quote_rows(T0 + 1, 1, round(p1, 2), oid_base=10) + quote_rows(T0 + 1, 3, round(p3, 2), oid_base=30)
    rows += [(T0 + 2, 4, "A", "B", 1.0, 5, 41)]                          # one-sided: never inverts
    rows += [(T0 + S + 5, 1, "C", "A", 0.0, 10, 12)]                     # window 2: call 5000 loses its ask
    out_stage = _stage(chain, oi, batch_windows=1)
    out = _collect(out_stage, [mbo(rows)])
    g = out[GEX_DATASET].set_index(["window_end_ts_ns", "strike_points"])
    # window 2: instrument 1 carries window 1's IV, so its gamma barely moves (spot is fixed)
    assert g.loc[(T0 + 2 * S, 5000.0), "gex_call_abs"] == pytest.approx(g.loc[(T0 + S, 5000.0), "gex_call_abs"], rel=1e-4)
    c = out_stage.iv.counts
    assert c["carried"] >= 1 and c["window_median"] >= 1
    # instrument 2 (no quotes) and 4 (one-sided) use the window median in window 1
    assert g.loc[(T0 + S, 5000.0), "gex_put_abs"] > 0


def test_default_iv_when_nothing_inverts():
    chain = _chain()
    stage = _stage(chain, {1: 100})
    out = _collect(stage, [mbo([(T0 + 1, 1, "A", "B", 1.0, 1, 1)])])
    T = (EXP - (T0 + S)) / black76.YEAR_NS
    expect = float(black76.gamma(F0, 5000.0, T, DEFAULT_IV)) * 100 * 50 * F0 ** 2 * 0.01
    assert out[GEX_DATASET].set_index("strike_points").loc[5000.0, "gex"] == pytest.approx(expect, rel=1e-12)
    assert stage.iv.counts["default"] == 4          # the 4 grid options, none inverted


def test_grid_helpers():
    assert gex.snap_to_strike_grid([5002.49 * P, 5002.5 * P, 4997.6 * P]).tolist() == [5000 * P, 5005 * P, 5000 * P]
    assert gex.grid_row([4940 * P, 5000 * P, 5060 * P, 5065 * P, 5001 * P], 5000 * P).tolist() == [0, 12, 24, -1, -1]
    assert gex.imbalance_ratio(np.array([0.0, 1.0]), np.array([0.0, 3.0])).tolist() == [0.0, -0.5]


def test_derivatives_per_strike_follow_recentring():
    d = gex.StrikeDerivatives()
    k = np.arange(25) * 5
    d.step(0, k, np.zeros(25))
    r = d.step(1, k, np.arange(25.0))
    assert r[:, 0].tolist() == list(np.arange(25.0))
    r2 = d.step(2, k + 5, np.arange(25.0))                # grid moved up one strike: row j is strike 5(j+1)
    assert r2[:24, 0].tolist() == [-1.0] * 24 and r2[24, 0] == 0.0     # (j) - (j+1); strike 125 is new: zero
    assert r2[0, 1] == -2.0                                              # d2 = -1 - previous d1 of strike 5 (= 1)
    r3 = d.step(5, k + 5, np.zeros(25))                   # windows 3-4 missing: continuity broken
    assert (r3 == 0).all()


def test_call_and_put_at_a_strike_share_the_out_of_the_money_vol():
    from marketphys.pipeline.silver_options import otm_iv

    # window 0, strike 100, spot 101: the put is OTM; its vol goes to the call (whose ITM quote failed)
    iv = otm_iv(np.array([0, 0, 0]), np.array([100, 100, 105]), np.array([1, 1, 1]), np.array([True, False, True]),
                np.array([False, False, True]), np.array([np.nan, 0.25, 0.3]))
    assert iv.tolist() == [0.25, 0.25, 0.3]
    # the OTM side failed: each keeps its own
    iv = otm_iv(np.array([0, 0]), np.array([100, 100]), np.array([1, 1]), np.array([True, False]),
                np.array([False, False]), np.array([0.21, np.nan]))
    assert iv[0] == 0.21 and np.isnan(iv[1])


def test_bad_inputs_are_named():
    from marketphys.pipeline.silver_options import OptionsInputError

    chain = _chain()
    with pytest.raises(OptionsInputError, match="mid_price: length 1 != ts_ns length 2"):
        SpotSeries(np.array([1, 2]), np.array([1, 2]), np.array([1.0]), np.array([True, True]))
    with pytest.raises(OptionsInputError, match="ts_ns must be non-decreasing"):
        SpotSeries(np.array([2, 1]), np.array([1, 2]), np.array([1.0, 1.0]), np.array([True, True]))
    with pytest.raises(OptionsInputError, match="open_interest must be >= 0, got -5 for instrument_id 1"):
        OpenInterest(chain, pd.DataFrame({"ts_recv": [0], "instrument_id": [1], "open_interest": [-5]}))
    with pytest.raises(OptionsInputError, match="window_ns must be > 0"):
        _stage(chain, {1: 1}, window_ns=0)
    stage = _stage(chain, {1: 1})
    with pytest.raises(OptionsInputError, match="sorted by ts_recv"):
        list(stage.run([mbo([(T0 + 5, 1, "A", "B", 1.0, 1, 1), (T0 + 1, 1, "A", "B", 1.0, 1, 2)])]))


def test_quiet_windows_are_emitted_with_zero_flow_and_session_breaks_skipped():
    chain = _chain()
    rows = [(T0 + 1, 1, "A", "B", 50.0, 1, 1), (T0 + 3 * S + 1, 1, "C", "B", 50.0, 1, 1)]
    out = _collect(_stage(chain, {1: 10}), [mbo(rows)])
    f = out[GEX_FLOW_DATASET]
    assert sorted(f["window_end_ts_ns"].unique()) == [T0 + k * S for k in (1, 2, 3, 4)]   # 2 and 3 were quiet
    per = f.groupby("window_end_ts_ns")[["add_qty_sum", "pull_qty_sum"]].sum()
    assert per.loc[T0 + S].tolist() == [1, 0] and per.loc[T0 + 4 * S].tolist() == [0, 1]
    assert (per.loc[[T0 + 2 * S, T0 + 3 * S]] == 0).all().all()
    out = _collect(_stage(chain, {1: 10}, max_gap_windows=1), [mbo(rows)])      # a 2-window gap is a break
    assert sorted(out[GEX_DATASET]["window_end_ts_ns"].unique()) == [T0 + S, T0 + 4 * S]
