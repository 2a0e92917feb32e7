"""chain_gex: a hand-computed chain, parity forwards, signs, Black-76 vs Black-Scholes, zero gamma,
bad rows, the CBOE CSV round trip and the CLI, against an independent library (vollib)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import marketphys
from marketphys.chain import ChainError, chain_gex, read_cboe_quotedata, write_cboe_quotedata
from marketphys.chain.synthetic import synthetic_chain
from marketphys.cli import main as cli_main
from marketphys.pipeline import black76

vbsm = pytest.importorskip("vollib.black_scholes_merton.greeks.analytical",
                           reason="vollib is a dev dependency (pyproject [dev])")
from vollib.black.greeks.analytical import gamma as vb_gamma  # noqa: E402

ASOF = "2024-06-21 16:00"          # expiry 2024-07-21 at 16:00 New York: T = 30/365 exactly (ACT/365)
EXPIRY = "2024-07-21"
T30 = 30 / 365


def _gamma_by_hand(F, K, T, sigma, r):
    d1 = (math.log(F / K) + 0.5 * sigma * sigma * T) / (sigma * math.sqrt(T))
    return math.exp(-r * T) * math.exp(-0.5 * d1 * d1) / math.sqrt(2 * math.pi) / (F * sigma * math.sqrt(T))


def _four():
    return pd.DataFrame({"strike": [95.0, 100.0, 100.0, 110.0], "expiry": EXPIRY, "type": ["P", "C", "P", "C"],
                         "open_interest": [1000, 2000, 1500, 3000], "iv": [0.25, 0.20, 0.22, 0.18]})


def test_exported_at_the_package_top_level():
    assert marketphys.gex is chain_gex and "gex" in marketphys.__all__


def test_hand_computed_four_option_chain():
    r, q, S = 0.05, 0.01, 100.0
    res = chain_gex(_four(), multiplier=100, spot=S, rate=r, div_yield=q, asof=ASOF)
    F = S * math.exp((r - q) * T30)
    sign = {"C": 1, "P": -1}
    want = [sign[t] * _gamma_by_hand(F, K, T30, s, r) * oi * 100 * F * F * 0.01
            for K, t, oi, s in _four()[["strike", "type", "open_interest", "iv"]].itertuples(index=False)]
    assert res.rows["T"].to_numpy() == pytest.approx([T30] * 4, rel=1e-15)
    assert res.forwards["source"].tolist() == ["carry"] and res.forwards["forward"][0] == pytest.approx(F, rel=1e-15)
    assert res.rows["gex"].to_numpy() == pytest.approx(want, rel=1e-12)
    ps = res.per_strike.set_index("strike")
    assert ps.loc[95.0, "put_gex"] == pytest.approx(want[0], rel=1e-12) and ps.loc[95.0, "call_gex"] == 0
    assert ps.loc[100.0, "net_gex"] == pytest.approx(want[1] + want[2], rel=1e-12)
    assert ps.loc[100.0, "abs_gex"] == pytest.approx(abs(want[1]) + abs(want[2]), rel=1e-12)
    assert res.total == pytest.approx(sum(want), rel=1e-12)
    assert res.total_abs == pytest.approx(sum(abs(w) for w in want), rel=1e-12)
    # the profile's middle level is the spot itself: it equals the total
    mid = len(res.profile) // 2
    assert res.profile["spot"][mid] == pytest.approx(S) and res.profile["net_gex"][mid] == pytest.approx(res.total,
                                                                                                          rel=1e-12)


def test_multiplier_has_no_default_and_bad_settings_are_named():
    with pytest.raises(TypeError):
        chain_gex(_four(), spot=100, asof=ASOF)                      # keyword required
    with pytest.raises(ChainError, match="multiplier: required"):
        chain_gex(_four(), multiplier=None, spot=100, asof=ASOF)
    with pytest.raises(ChainError, match="multiplier: must be > 0"):
        chain_gex(_four(), multiplier=0, spot=100, asof=ASOF)
    with pytest.raises(ChainError, match=r"missing column\(s\) \['open_interest'\]"):
        chain_gex(_four().drop(columns="open_interest"), multiplier=100, spot=100, asof=ASOF)
    with pytest.raises(ChainError, match="asof"):
        chain_gex(_four(), multiplier=100, spot=100)
    with pytest.raises(ChainError, match="day_count"):
        chain_gex(_four(), multiplier=100, spot=100, asof=ASOF, day_count="30/360")
    with pytest.raises(ChainError, match="dealer"):
        chain_gex(_four(), multiplier=100, spot=100, asof=ASOF, dealer="customers_long")
    with pytest.raises(ChainError, match="spot: not given"):
        chain_gex(_four(), multiplier=100, asof=ASOF)


def test_day_count_and_expiry_time_set_T():
    a = chain_gex(_four(), multiplier=100, spot=100, asof=ASOF, day_count="ACT/360")
    assert a.rows["T"].iloc[0] == pytest.approx(30 / 360, rel=1e-15)
    b = chain_gex(_four(), multiplier=100, spot=100, asof=ASOF, expiry_time="09:30")   # AM-settled
    assert b.rows["T"].iloc[0] == pytest.approx((30 - 6.5 / 24) / 365, rel=1e-12)


def test_put_call_parity_recovers_each_expiry_forward():
    c = synthetic_chain(rate=0.05, div=0.013, seed=1)
    res = chain_gex(c, multiplier=100, rate=0.05)                  # spot and asof from attrs
    truth = {pd.Timestamp(k): v for k, v in c.attrs["forwards"].items()}
    assert (res.forwards["source"] == "parity").all() and (res.forwards["parity_strikes"] == 3).all()
    got = dict(zip(res.forwards["expiry"].dt.tz_localize(None).dt.normalize(), res.forwards["forward"]))
    for e, f in truth.items():
        assert got[e] == pytest.approx(f, rel=1e-9)
    assert res.forwards["forward"].iloc[-1] / res.spot > 1.004     # far expiries carry: one forward would be wrong
    # no quotes: carry S exp((r - q) T), recorded as such; a given forward wins over both
    nq = c.drop(columns=["bid", "ask"])
    nq.attrs = c.attrs
    carry = chain_gex(nq, multiplier=100, rate=0.05, div_yield=0.013)
    assert (carry.forwards["source"] == "carry").all()
    assert carry.forwards["forward"].to_numpy() == pytest.approx(
        res.spot * np.exp(0.037 * carry.forwards["T"].to_numpy()), rel=1e-14)
    # open interest does not matter for parity: the quotes do
    no_oi = c.assign(open_interest=np.where(c["type"] == "C", 0.0, c["open_interest"]))
    no_oi.attrs = c.attrs
    assert chain_gex(no_oi, multiplier=100, rate=0.05).forwards["forward"].to_numpy() == pytest.approx(
        res.forwards["forward"].to_numpy(), rel=1e-15)
    e0 = next(iter(c.attrs["forwards"]))
    giv = chain_gex(c, multiplier=100, rate=0.05, forwards={e0: 5100.0})
    assert giv.forwards["source"].tolist() == ["given", "parity", "parity"] and giv.forwards["forward"][0] == 5100.0


def test_spot_defaults_to_the_front_forward_discounted():
    c = synthetic_chain(rate=0.05, div=0.013, seed=2)
    c.attrs.pop("spot")
    res = chain_gex(c, multiplier=100, rate=0.05, div_yield=0.013)
    assert res.spot_source.startswith("forward:") and res.spot == pytest.approx(5000.0, rel=1e-9)


def test_sign_conventions():
    one = _four()
    calls = one[one["type"] == "C"]
    puts = one[one["type"] == "P"]
    kw = dict(multiplier=100, spot=100, asof=ASOF)
    assert chain_gex(calls, **kw).total > 0 and chain_gex(puts, **kw).total < 0
    base = chain_gex(one, **kw)
    flipped = chain_gex(one, dealer="short_calls_long_puts", **kw)
    assert flipped.total == pytest.approx(-base.total, rel=1e-14)
    short = chain_gex(one, dealer="short_both", **kw)
    assert short.total == pytest.approx(-base.total_abs, rel=1e-14) and (short.per_strike["net_gex"] < 0).all()
    assert chain_gex(one, dealer=(1, 1), **kw).total == pytest.approx(base.total_abs, rel=1e-14)
    assert (base.per_strike["call_gex"] >= 0).all() and (base.per_strike["put_gex"] <= 0).all()


@settings(max_examples=60, deadline=None)
@given(S=st.floats(50, 8000), k=st.floats(0.7, 1.3), T=st.floats(1 / 365, 2.0), sigma=st.floats(0.05, 1.0),
       r=st.floats(-0.01, 0.08), q=st.floats(0.0, 0.05))
def test_black76_gamma_times_F2_equals_black_scholes_spot_gamma_times_S2(S, k, T, sigma, r, q):
    F = S * math.exp((r - q) * T)
    K = S * k
    g_f = float(black76.gamma(F, K, T, sigma, r))
    g_s = vbsm.gamma("c", S, K, T, r, sigma, q)                # independent: vollib's Black-Scholes-Merton
    assert g_f * F * F == pytest.approx(g_s * S * S, rel=1e-9)


def test_chain_gex_per_option_matches_vollib_spot_gamma_on_real_looking_inputs():
    r, q = 0.0525, 0.0135
    c = synthetic_chain(spot=5432.1, rate=r, div=q, days=(1, 8, 35, 182), strike_step=5, seed=3)
    res = chain_gex(c, multiplier=100, rate=r, div_yield=q)
    rows = res.rows.sample(200, random_state=0)
    S = res.spot
    for row in rows.itertuples():
        # the forward comes from parity on the quotes; vollib's BSM at the S it implies
        s_eq = row.forward * math.exp(-(r - q) * row.T)
        want = vbsm.gamma("c", s_eq, row.strike, row.T, r, row.iv, q) * s_eq ** 2 * row.open_interest * 100 * 0.01
        want *= 1 if row.type == "C" else -1
        assert row.gex == pytest.approx(want, rel=1e-8)
        assert row.gamma == pytest.approx(vb_gamma("c", row.forward, row.strike, row.T, r, row.iv), rel=1e-9)
    assert abs(s_eq / S - 1) < 1e-6


def test_iv_inverted_from_mids_recovers_the_smile_and_counts_sources():
    c = synthetic_chain(rate=0.05, div=0.013, half_spread=0.0, seed=4)
    truth = c["iv"].to_numpy()
    nc = c.drop(columns="iv")
    nc.attrs = c.attrs
    res = chain_gex(nc, multiplier=100, rate=0.05)
    ok = res.rows.index
    assert res.counts["iv"]["inverted"] == len(ok) and res.counts["iv"]["from_column"] == 0
    assert res.rows["iv"].to_numpy() == pytest.approx(truth[ok], rel=1e-6)
    with_col = chain_gex(c, multiplier=100, rate=0.05)
    assert with_col.total == pytest.approx(res.total, rel=1e-5)


def _flip_chain(K1=4900.0, K2=5100.0, sigma=0.2):
    return pd.DataFrame({"strike": [K1, K2], "expiry": EXPIRY, "type": ["P", "C"], "open_interest": [5000, 5000],
                         "iv": [sigma, sigma]})


def test_zero_gamma_root_of_a_chain_built_to_flip_at_a_known_level():
    # a put at K1 and a call at K2 with equal OI and vol: gamma*F^2 equal where |d1(K1)| = |d1(K2)|,
    # i.e. at F* = sqrt(K1 K2) exp(-sigma^2 T / 2) (r = q = 0, so spot = forward)
    K1, K2, s = 4900.0, 5100.0, 0.2
    want = math.sqrt(K1 * K2) * math.exp(-0.5 * s * s * T30)
    for spot in (4950.0, 5050.0):
        res = chain_gex(_flip_chain(K1, K2, s), multiplier=100, spot=spot, asof=ASOF, profile_points=41)
        assert res.zero_gamma == pytest.approx(want, rel=1e-10)
        assert res.zero_gamma_levels == [pytest.approx(want, rel=1e-10)]
        below = res.profile[res.profile["spot"] < want]["net_gex"]
        above = res.profile[res.profile["spot"] > want]["net_gex"]
        assert (below < 0).all() and (above > 0).all()
    # no sign change in range: None, not a guess
    assert chain_gex(_four().iloc[[1, 3]], multiplier=100, spot=100, asof=ASOF).zero_gamma is None


def test_sticky_moneyness_equals_sticky_strike_on_a_flat_smile_and_differs_on_a_skew():
    flat = _flip_chain()
    a = chain_gex(flat, multiplier=100, spot=5000, asof=ASOF)
    b = chain_gex(flat, multiplier=100, spot=5000, asof=ASOF, sticky="moneyness")
    assert b.profile["net_gex"].to_numpy() == pytest.approx(a.profile["net_gex"].to_numpy(), rel=1e-12)
    c = synthetic_chain(seed=5)
    s1 = chain_gex(c, multiplier=100, rate=0.05)
    s2 = chain_gex(c, multiplier=100, rate=0.05, sticky="moneyness")
    mid = len(s1.profile) // 2
    assert s2.profile["net_gex"][mid] == pytest.approx(s1.profile["net_gex"][mid], rel=1e-9)
    assert abs(s2.profile["net_gex"].iloc[0] - s1.profile["net_gex"].iloc[0]) > 1e-3 * s1.total_abs


def test_expired_zero_vol_no_oi_and_unpriced_rows_are_set_aside_and_counted():
    good = _four()
    bad = pd.DataFrame({
        "strike": [100.0, 100.0, 105.0, 105.0, 90.0, -5.0, 100.0, 100.0],
        "expiry": ["2024-06-21", "2024-06-20", EXPIRY, EXPIRY, EXPIRY, EXPIRY, "not a date", EXPIRY],
        "type": ["C", "P", "C", "P", "C", "P", "C", "X"],
        "open_interest": [10, 10, 10, 0, 10, 10, 10, 10], "iv": [0.2, 0.2, 0.0, 0.2, np.nan, 0.2, 0.2, 0.2]})
    # 2024-06-21 16:00 == asof: T = 0 (expired); sigma 0 with no quote: no_iv; NaN iv, no quote: no_price
    res = chain_gex(pd.concat([good, bad], ignore_index=True), multiplier=100, spot=100, asof=ASOF)
    ref = chain_gex(good, multiplier=100, spot=100, asof=ASOF)
    assert res.counts["reasons"] == {"bad_type": 1, "bad_strike": 1, "bad_expiry": 1, "expired": 2,
                                     "no_open_interest": 1, "no_price": 1, "no_iv": 1}
    assert res.counts["priced"] == 4 and res.counts["set_aside"] == 8 and res.counts["iv"]["no_usable_iv"] == 2
    assert res.total == ref.total and res.zero_gamma == ref.zero_gamma
    assert sorted(res.set_aside.index) == list(range(4, 12))
    for df in (res.per_strike, res.profile, res.rows[["T", "forward", "iv", "gamma", "gex"]]):
        assert np.isfinite(df.to_numpy(float)).all()
    # black76 itself takes such rows: limits, never an exception
    g = black76.greeks([100, 100, 100, 100], [90, 110, 100, 100], [0.0, -0.5, 0.1, 1e-320], [0.2, 0.2, 0.0, 0.2],
                       [True, False, True, True])
    assert g["gamma"][:3].tolist() == [0.0, 0.0, 0.0] and np.isfinite(g["gamma"]).all()
    assert g["delta"][:3].tolist() == [1.0, -1.0, 0.5]
    assert black76.price([100, 100], [90, 110], [-1.0, 0.1], [0.2, 0.0], [True, False]).tolist() == [10.0, 10.0]


def test_cboe_csv_round_trip(tmp_path):
    c = synthetic_chain(rate=0.05, div=0.013, seed=6)
    path = write_cboe_quotedata(c, tmp_path / "quotedata.csv", spot=5000.0, asof=c.attrs["asof"])
    back = read_cboe_quotedata(path)
    assert back.attrs["spot"] == 5000.0 and back.attrs["asof"] == c.attrs["asof"] and back.attrs["symbol"] == "SPX"
    key = ["expiry", "strike", "type"]
    a = c.sort_values(key).reset_index(drop=True)
    b = back.assign(expiry=back["expiry"]).sort_values(key).reset_index(drop=True)
    assert b["expiry"].tolist() == a["expiry"].tolist() and b["type"].tolist() == a["type"].tolist()
    for col in ("strike", "open_interest", "iv", "bid", "ask"):
        assert b[col].to_numpy() == pytest.approx(a[col].to_numpy(), rel=1e-15), col
    r1 = chain_gex(c, multiplier=100, rate=0.05)
    r2 = chain_gex(back, multiplier=100, rate=0.05)
    assert r2.total == pytest.approx(r1.total, rel=1e-12) and r2.zero_gamma == pytest.approx(r1.zero_gamma, rel=1e-12)


def test_cli_prints_total_zero_gamma_and_writes_tables(tmp_path, capsys):
    c = synthetic_chain(rate=0.05, div=0.013, seed=7)
    path = write_cboe_quotedata(c, tmp_path / "q.csv", spot=5000.0, asof=c.attrs["asof"])
    out = tmp_path / "out"
    assert cli_main(["gex", "--chain", str(path), "--rate", "0.05", "--json", str(tmp_path / "s.json"),
                     "--out", str(out)]) == 0
    text = capsys.readouterr().out
    ref = chain_gex(read_cboe_quotedata(path), multiplier=100, rate=0.05)
    assert f"{ref.total / 1e9:+,.3f} bn" in text and f"zero gamma {ref.zero_gamma:,.2f}" in text
    assert "multiplier 100 (CBOE standard contract" in text and "parity 3" in text
    doc = json.loads((tmp_path / "s.json").read_text())
    assert doc["total"] == pytest.approx(ref.total) and len(doc["per_strike"]) == len(ref.per_strike)
    per = pd.read_csv(out / "per_strike.csv")
    assert per["net_gex"].sum() == pytest.approx(ref.total, rel=1e-9)
    assert len(pd.read_csv(out / "profile.csv")) == 201
    assert cli_main(["gex", "--chain", str(path), "--multiplier", "50", "--out", str(out)]) == 0
    assert "multiplier 50;" in capsys.readouterr().out


@pytest.mark.parametrize("mutate, message, cli_message", [
    (lambda t: t.replace(",5000.0,SPX", ",abc,SPX", 1), "column 'Strike'", "column 'Strike', line "),
    (lambda t: t.replace("Open Interest,Strike", "OI,Strike", 1), "column 11 should be 'Open Interest'", "got 'OI'"),
    (lambda t: t.replace("Fri Jun 28 2024", "2024-06-28", 1), "column 'Expiration Date'", "'2024-06-28'"),
    # no CBOE header at all: the CLI reads it as a tidy chain and names what it lacks
    (lambda t: "\n".join(t.splitlines()[3:]), "Expiration Date", "missing column(s) ['strike', 'expiry'"),
])
def test_bad_csv_errors_name_the_column(tmp_path, capsys, mutate, message, cli_message):
    c = synthetic_chain(seed=8)
    path = write_cboe_quotedata(c, tmp_path / "q.csv", spot=5000.0, asof=c.attrs["asof"])
    path.write_text(mutate(path.read_text()))
    with pytest.raises(ChainError, match=message):
        read_cboe_quotedata(path)
    assert cli_main(["gex", "--chain", str(path), "--multiplier", "100", "--asof", "2024-06-21",
                     "--out", str(tmp_path / "o")]) == 2
    assert cli_message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("cmd", ["build", "build-days"])
def test_build_gex_band_flag_is_checked(tmp_path, capsys, cmd):
    assert cli_main([cmd, "--input", str(tmp_path), "--lake", str(tmp_path / "l"), "--gex-band", "5"]) == 2
    assert "--gex-band must be >= 12" in capsys.readouterr().err
    assert cli_main([cmd, "--input", str(tmp_path), "--lake", str(tmp_path / "l"), "--gex-band", "wide"]) == 2
    assert "--gex-band: expected a number of strikes or 'all'" in capsys.readouterr().err
    assert not (tmp_path / "l").exists()


def test_zero_gamma_is_the_crossing_nearest_the_spot():
    # puts at 4800 and 5200 around calls at 5000: negative, positive, negative -> two flips
    ch = pd.DataFrame({"strike": [4800.0, 5000.0, 5200.0], "expiry": EXPIRY, "type": ["P", "C", "P"],
                       "open_interest": [8000, 8000, 8000], "iv": 0.1})
    lo = chain_gex(ch, multiplier=100, spot=4950, asof=ASOF)
    hi = chain_gex(ch, multiplier=100, spot=5050, asof=ASOF)
    assert len(lo.zero_gamma_levels) == 2
    a, b = sorted(lo.zero_gamma_levels)
    assert a < 5000 < b and lo.zero_gamma == a and hi.zero_gamma == pytest.approx(b, rel=1e-12)
    # each is a root of the net GEX computed by hand (r = q = 0: the forward is the level)
    for root in (a, b):
        terms = [sg * _gamma_by_hand(root, K, T30, 0.1, 0.0) * 8000 * 100 * root ** 2 * 0.01
                 for K, sg in ((4800.0, -1), (5000.0, 1), (5200.0, -1))]
        assert abs(sum(terms)) < 1e-12 * sum(abs(t) for t in terms)


def test_iv_fallback_fills_unpriced_rows_only_when_asked():
    ch = _four().assign(iv=[0.25, 0.20, np.nan, 0.18])
    none = chain_gex(ch, multiplier=100, spot=100, asof=ASOF)
    fixed = chain_gex(ch, multiplier=100, spot=100, asof=ASOF, iv_fallback=0.22)
    med = chain_gex(ch, multiplier=100, spot=100, asof=ASOF, iv_fallback="median")
    assert none.counts["reasons"]["no_price"] == 1 and fixed.counts["iv"]["fallback"] == 1
    assert fixed.total == pytest.approx(chain_gex(_four(), multiplier=100, spot=100, asof=ASOF).total, rel=1e-14)
    assert med.rows.loc[2, "iv"] == 0.20 and med.rows.loc[2, "iv_source"] == "fallback"
    with pytest.raises(ChainError, match="iv_fallback"):
        chain_gex(ch, multiplier=100, spot=100, asof=ASOF, iv_fallback="mean")
