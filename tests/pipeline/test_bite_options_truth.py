"""Options end to end against the generator's truth, with every expectation computed here.

A one-minute synthetic day (generator: Black-76 quotes on a known smile) goes through the real
build. The options stage's Black-76 calls are observed (not altered), and checked against:
- T: (expiration − window end) / (365.25 days), from the definitions' expiry and the lake's
  window ends — a 365-day year or T in days cannot match;
- IV: the truth's smile vol at (K, F), within the quote grid's rounding;
- gex_abs per strike: Σ Γ·OI·multiplier·F²·0.01 with Γ = φ(d1)/(F σ √T) (scipy), OI from the
  statistics file and the multiplier from the definitions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from marketphys.pipeline import black76
from marketphys.pipeline.build import Settings, build_day
from marketphys.pipeline.fanout import plan_days
from marketphys.pipeline.lake import read_partition
from marketphys.pipeline.options_input import read_open_interest, read_option_definitions
from marketphys.synth.config import SynthConfig
from marketphys.synth.session import file_names, generate_session
from marketphys.synth.truth import GroundTruth

YEAR_NS = 365.25 * 86_400 * 1e9          # ACT/365.25, the pipeline's documented convention
CFG = SynthConfig(minutes=1, seed=5, date="2024-05-13")


@pytest.fixture(scope="module")
def day(tmp_path_factory):
    root = tmp_path_factory.mktemp("opt-truth")
    generate_session(CFG, root / "raw", progress=False)
    calls = {"iv": [], "gamma": []}
    real_iv, real_gamma = black76.implied_vol, black76.gamma

    def spy_iv(price, F, K, T, is_call, r=0.0):
        out = real_iv(price, F, K, T, is_call, r)
        calls["iv"].append((np.array(price, float), np.array(F, float), np.array(K, float), np.array(T, float),
                            np.array(is_call, bool), float(r), out[0].copy(), out[1].copy()))
        return out

    def spy_gamma(F, K, T, sigma, r=0.0):
        calls["gamma"].append(np.array(sigma, float))
        return real_gamma(F, K, T, sigma, r)

    mp = pytest.MonkeyPatch()
    mp.setattr(black76, "implied_vol", spy_iv)
    mp.setattr(black76, "gamma", spy_gamma)
    try:
        days, _ = plan_days([root / "raw"])
        build_day(days[0], root / "lake", Settings(progress=False, option_rate=CFG.rate))
    finally:
        mp.undo()
    names = file_names(CFG.date_compact)
    defs = read_option_definitions(root / "raw" / names["definition"])
    oi = read_open_interest(root / "raw" / names["statistics"])
    truth = GroundTruth.read(root / "raw" / names["truth_json"], root / "raw" / names["truth_parquet"])
    gex = read_partition(root / "lake", "silver.future_option_mbo.gex_surface_1s", "ES", CFG.date).to_pandas()
    assert len(calls["iv"]) == len(calls["gamma"]) > 0
    cat = [np.concatenate(x) for x in zip(*[c[:5] + c[6:] for c in calls["iv"]])]
    obs = pd.DataFrame({"mid": cat[0], "F": cat[1], "K": cat[2], "T": cat[3], "is_call": cat[4], "iv_raw": cat[5],
                        "status": cat[6], "iv": np.concatenate(calls["gamma"])})
    assert {c[5] for c in calls["iv"]} == {CFG.rate}
    return defs, oi, truth, gex, obs


def _match(defs, gex, obs):
    """Each observed element -> (instrument, window end): the only expiry of its strike and class whose
    expiry − T·year lands on a window end of the lake (to the microsecond)."""
    ends = np.unique(gex["window_end_ts_ns"].to_numpy())
    inst = np.full(len(obs), -1, np.int64)
    end = np.full(len(obs), -1, np.int64)
    key_k = np.round(obs["K"].to_numpy() * 1e9).astype(np.int64)
    for _, d in defs.iterrows():
        sel = np.flatnonzero((key_k == d.strike_price_int) & (obs["is_call"].to_numpy() == d.is_call))
        if not len(sel):
            continue
        est = d.expiration_ns - obs["T"].to_numpy()[sel] * YEAR_NS
        j = np.clip(np.searchsorted(ends, est), 1, len(ends) - 1)
        near = np.where(np.abs(ends[j] - est) < np.abs(ends[j - 1] - est), ends[j], ends[j - 1])
        ok = np.abs(near - est) < 1_000   # 1 µs
        assert not (inst[sel[ok]] >= 0).any(), "two expiries fit one element"
        inst[sel[ok]], end[sel[ok]] = d.instrument_id, near[ok]
    return inst, end


def test_time_to_expiry_is_act_365_25_from_the_window_end(day):
    defs, _, _, gex, obs = day
    inst, end = _match(defs, gex, obs)
    assert (inst >= 0).all(), f"{(inst < 0).sum()} of {len(inst)} elements have a T that fits no window end"
    exp = defs.set_index("instrument_id").loc[inst, "expiration_ns"].to_numpy()
    np.testing.assert_allclose(obs["T"], (exp - end) / YEAR_NS, rtol=1e-12, atol=0)
    # a whole session: every lake window saw its options, both expiries (0DTE: hours; quarterly: weeks)
    assert set(np.unique(end)) == set(gex["window_end_ts_ns"])
    assert obs["T"].min() < 1 / 365 and obs["T"].max() > 20 / 365


def test_implied_vol_recovers_the_smile(day):
    defs, _, truth, gex, obs = day
    inst, _ = _match(defs, gex, obs)
    d = defs.set_index("instrument_id").loc[inst]
    series = np.where(d["raw_symbol"].str.startswith("ES").to_numpy(), "quarterly", "0dte")
    par = np.array([truth.smiles["params"][s] for s in series])
    k = np.log(obs["K"] / obs["F"]).to_numpy()
    smile = np.maximum(par[:, 0] + par[:, 1] * k + par[:, 2] * k * k, 0.05)
    T, F, K = obs["T"].to_numpy(), obs["F"].to_numpy(), obs["K"].to_numpy()
    d1 = (np.log(F / K) + 0.5 * smile ** 2 * T) / (smile * np.sqrt(T))
    vega = np.exp(-CFG.rate * T) * F * norm.pdf(d1) * np.sqrt(T)
    good = np.isfinite(obs["iv_raw"].to_numpy()) & (vega > 0.5)   # quotes worth inverting
    assert good.sum() > 1000
    err = np.abs(obs["iv_raw"].to_numpy()[good] - smile[good])
    # the quote grid (0.05) and the gap between the generator's F (window start) and the book's F
    # (window end) move a price by well under a point: |Δσ| <= ~1 point / vega
    assert np.median(err) < 0.003 and np.quantile(err, 0.9) < 0.02, (np.median(err), np.quantile(err, 0.9))
    assert np.median(err / smile[good]) < 0.02


def test_gex_abs_is_gamma_oi_multiplier_f2_by_strike(day):
    defs, oi, _, gex, obs = day
    inst, end = _match(defs, gex, obs)
    F, K, T, sigma = (obs[c].to_numpy() for c in ("F", "K", "T", "iv"))
    assert np.isfinite(sigma).all() and (sigma > 0).all()
    d1 = (np.log(F / K) + 0.5 * sigma ** 2 * T) / (sigma * np.sqrt(T))
    gamma = np.exp(-CFG.rate * T) * norm.pdf(d1) / (F * sigma * np.sqrt(T))
    oi_last = oi.sort_values("ts_recv").groupby("instrument_id")["open_interest"].last()
    dd = defs.set_index("instrument_id")
    g_opt = gamma * oi_last.reindex(inst).fillna(0).to_numpy() * dd.loc[inst, "multiplier"].to_numpy() * F ** 2 * 0.01
    want = (pd.DataFrame({"window_end_ts_ns": end, "strike_price_int": dd.loc[inst, "strike_price_int"].to_numpy(),
                          "gex_abs": g_opt, "call": np.where(dd.loc[inst, "is_call"].to_numpy(), g_opt, 0.0)})
            .groupby(["window_end_ts_ns", "strike_price_int"]).sum())
    got = gex.set_index(["window_end_ts_ns", "strike_price_int"])
    exp = want.reindex(got.index).fillna(0.0)
    assert (got["gex_abs"] > 0).mean() > 0.5
    np.testing.assert_allclose(got["gex_abs"], exp["gex_abs"], rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(got["gex_call_abs"], exp["call"], rtol=1e-9, atol=1e-6)
