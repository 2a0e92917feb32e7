"""Scorecard and DM numbers vs hand computation; honesty guards (leaks, contemporaneous fit)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from marketphys.baselines import (ConstantVelocity, LookaheadError, OfiRegression, OnlineAR, RandomWalk,
                                  diebold_mariano, no_lookahead_check, score_histories)
from marketphys.baselines.rls import RLS
from marketphys.baselines.scorecard import ScorecardError
from marketphys.core.frame import MarketFrame
from marketphys.synth.engine_world import WorldConfig, make_world

DT = 500_000_000


def hist(x_hat, actual, horizon=1, origins=None):
    n = len(x_hat)
    o = np.arange(n) * DT if origins is None else np.asarray(origins)
    return pd.DataFrame({"origin_ts_ns": o, "horizon": horizon, "x_hat": np.asarray(x_hat, float),
                         "actual": np.asarray(actual, float), "status": "resolved"})


def test_dm_matches_the_hand_formula_with_overlap_lags():
    ea = np.array([1.0, -2.0, 0.5, 3.0, -1.0, 0.0, 2.0, -0.5])
    eb = np.array([2.0, -1.0, 1.5, 1.0, -2.5, 1.0, 0.5, -1.5])
    d = ea**2 - eb**2
    n, c = len(d), d - d.mean()
    g0 = (c @ c) / n
    g1 = (c[1:] @ c[:-1]) / n
    g2 = (c[2:] @ c[:-2]) / n
    v = g0 + 2 * (g1 + g2)                   # rectangular kernel, lags h-1 = 2
    assert v > 0
    stat = d.mean() / np.sqrt(v / n)
    from scipy.stats import norm
    r = diebold_mariano(ea, eb, horizon=3)
    assert r.stat == pytest.approx(stat, rel=1e-12)
    assert r.p_value == pytest.approx(2 * norm.sf(abs(stat)), rel=1e-12)
    assert r.kernel == "rectangular" and r.lags == 2
    # h = 1: no autocovariance terms, the plain t-statistic of the mean differential (with 1/n variance)
    r1 = diebold_mariano(ea, eb, horizon=1)
    assert r1.stat == pytest.approx(d.mean() / np.sqrt(g0 / n), rel=1e-12)


def test_dm_hln_correction_and_falls_back_to_bartlett_when_variance_is_not_positive():
    ea = np.array([1.0, -1.0] * 10)
    eb = np.array([0.5, -2.0] * 10)        # alternating differential: strong negative lag-1 autocovariance
    r = diebold_mariano(ea, eb, horizon=2)
    assert r.kernel == "bartlett" and np.isfinite(r.stat)
    r_hln = diebold_mariano(ea, eb, horizon=2, hln=True)
    n, h = 20, 2
    assert r_hln.stat == pytest.approx(r.stat * np.sqrt((n + 1 - 2 * h + h * (h - 1) / n) / n))


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(-50, 50), min_size=5, max_size=40), st.integers(1, 4))
def test_dm_is_antisymmetric(errs, h):
    a = np.array(errs)
    b = a[::-1] * 0.7 + 0.3
    r1, r2 = diebold_mariano(a, b, h), diebold_mariano(b, a, h)
    if np.isfinite(r1.stat):
        assert r1.stat == pytest.approx(-r2.stat, abs=1e-9)
        assert r1.p_value == pytest.approx(r2.p_value, abs=1e-9)


def test_scorecard_numbers_by_hand():
    actual = np.array([1.0, -2.0, 0.0, 3.0, -1.0])
    eng = np.array([0.5, -1.0, 1.0, 2.0, 1.0])
    card = score_histories({"engine": hist(eng, actual), "random_walk": hist(np.zeros(5), actual)})
    row = card.table[(card.table.forecaster == "engine")].iloc[0]
    e = actual - eng
    assert row.n == 5
    assert row.mae == pytest.approx(np.mean(np.abs(e)))
    assert row.rmse == pytest.approx(np.sqrt(np.mean(e**2)))
    # moves that happened: 4 (the 0.0 is excluded); signs right on 1, -2, 3; wrong on -1
    assert row.hit_rate == pytest.approx(3 / 4)
    assert row.skill == pytest.approx(1 - np.mean(e**2) / np.mean(actual**2))
    rw = card.table[(card.table.forecaster == "random_walk")].iloc[0]
    assert rw.hit_rate == 0.0 and rw.skill == 0.0
    d = card.dm.iloc[0]
    assert d.stat == pytest.approx(diebold_mariano(e, actual, 1).stat)
    js = card.to_dict()
    assert js["horizons"]["1"]["engine"]["dm"]["random_walk"]["p_value"] == pytest.approx(d.p_value)
    assert set(js["horizons"]["1"]["random_walk"]) >= {"n", "mae", "rmse", "hit_rate"}


def test_scorecard_uses_only_targets_every_forecaster_resolved():
    a = hist([1.0, 1.0, 1.0], [1.0, 2.0, 3.0])
    b = hist([0.0, 0.0], [2.0, 3.0], origins=[DT, 2 * DT])
    card = score_histories({"engine": a, "random_walk": b})
    assert set(card.table.n) == {2}
    with pytest.raises(ScorecardError, match="disagree"):
        score_histories({"engine": a, "random_walk": hist([0, 0, 0], [1.0, 2.0, 4.0])})


def test_a_horizon_zero_fit_is_refused_as_forecast_skill():
    with pytest.raises(ScorecardError, match="contemporaneous"):
        score_histories({"engine": hist([1.0, 2.0], [1.0, 2.0], horizon=0)})


def _flow_frames(n=600, seed=3):
    """ofi at t equals the move INTO t (contemporaneous), and says nothing about moves after t."""
    rng = np.random.default_rng(seed)
    moves = rng.integers(-3, 4, n).astype(float)
    spot = 5000 + np.cumsum(moves) * 0.25
    return [MarketFrame(ts_ns=i * DT, spot=float(spot[i]), scalars={"ofi": float(moves[i])}) for i in range(n)], moves


def test_contemporaneous_fit_is_not_forecast_skill():
    frames, moves = _flow_frames()
    # in-sample, ofi explains the same-window move perfectly ...
    assert np.corrcoef([f.scalars["ofi"] for f in frames], moves)[0, 1] == pytest.approx(1.0)
    # ... but the OFI forecaster, learning only from the past, shows no significant skill at any horizon
    from marketphys.replay.session import Session
    s = Session.from_frames(frames, producers=[], baselines=[RandomWalk(), OfiRegression(channels=("ofi",))])
    s.run(progress=False)
    card = score_histories({k: v for k, v in s.histories().items() if k not in ("engine", "physics")}, primary="ofi")
    assert (card.metric("skill")["ofi"] < 0.02).all()
    assert (card.dm["p_value"] > 0.01).all()


class Leaky:
    """Deliberately reads the next frame's spot: a forecast 'from the future'."""

    name = "leaky"

    def __init__(self, frames):
        self.by_ts = {f.ts_ns: i for i, f in enumerate(frames)}
        self.frames = frames

    def step(self, frame):
        i = self.by_ts[frame.ts_ns]
        nxt = self.frames[min(i + 1, len(self.frames) - 1)]
        return np.full(4, (nxt.spot - frame.spot) / frame.tick_size)


def test_a_forecaster_fed_the_future_is_flagged():
    frames = make_world(WorldConfig(n_frames=40)).frames
    with pytest.raises(LookaheadError, match="lookahead"):
        no_lookahead_check(Leaky, frames, cut=20)
    rep = no_lookahead_check(Leaky, frames, cut=20, raise_on_leak=False)
    assert rep["leaks"] >= 1


@pytest.mark.parametrize("make", [lambda fr: RandomWalk(), lambda fr: ConstantVelocity(), lambda fr: OnlineAR(),
                                  lambda fr: OfiRegression(channels=("push",))])
def test_baselines_pass_the_no_lookahead_check(make):
    frames = make_world(WorldConfig(n_frames=60)).frames
    rep = no_lookahead_check(make, frames, cut=30)
    assert rep["leaks"] == 0


def test_the_engine_passes_the_no_lookahead_check():
    w = make_world(WorldConfig(n_frames=40))
    rep = no_lookahead_check(lambda fr: w.engine(), w.frames, cut=25)
    assert rep["leaks"] == 0 and rep["future_mattered"]


def test_rls_recovers_a_linear_model_and_ar_learns_momentum():
    rng = np.random.default_rng(0)
    m = RLS(3, forgetting=1.0, ridge=1e-6)
    w = np.array([0.5, -1.0, 2.0])
    for _ in range(300):
        x = rng.standard_normal(3)
        m.update(x, w @ x)
    np.testing.assert_allclose(m.w, w, atol=1e-6)
    # AR(1) moves with φ = 0.8: the online AR learns φ for h = 1
    r, spot, frames = 0.0, 5000.0, []
    for i in range(1500):
        r = 0.8 * r + rng.standard_normal() * 2
        spot += r * 0.25
        frames.append(MarketFrame(ts_ns=i * DT, spot=spot))
    ar = OnlineAR(order=2)
    for f in frames:
        ar.step(f)
    assert ar.weights[0, 0] == pytest.approx(0.8, abs=0.08)
