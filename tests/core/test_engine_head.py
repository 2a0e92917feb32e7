"""The forecast head (core/head.py): no harm, learned blend, calibrated bands, causality, the particle's start."""

from __future__ import annotations

import numpy as np
import pytest

from marketphys.baselines.scorecard import score_histories
from marketphys.core.engine import Engine, EngineConfig
from marketphys.core.frame import MarketFrame
from marketphys.core.head import ForecastHead, HeadConfig, head_over_day, qcol

DT_NS = 500_000_000


def _walk(n, seed, signal=0.0):
    """A lattice random walk (ticks) whose next moves follow a known AR signal s_t with weight ``signal``."""
    rng = np.random.default_rng(seed)
    s = np.zeros(n)
    for i in range(1, n):
        s[i] = 0.9 * s[i - 1] + rng.normal(0, 0.3)
    moves = np.round(signal * s + rng.normal(0, 0.6, n))
    x = np.concatenate([[0.0], np.cumsum(moves[1:])])
    ts = np.arange(n, dtype=np.int64) * DT_NS
    return ts, 5000.0 + 0.25 * x, np.full(n, 0.25), s


def _point(s, H=4, scale=1.0):
    return scale * np.stack([s * (1 - 0.9 ** (h + 1)) / (1 - 0.9) * 0.9 for h in range(H)], axis=1)


def _card(ts, spot, tick, x, cfg=None):
    hist, head = head_over_day(ts, spot, tick, x, 0.5, cfg)
    rw, _ = head_over_day(ts, spot, tick, np.zeros_like(x), 0.5, HeadConfig(shrink=False, gate=False))
    return score_histories({"engine": hist, "random_walk": rw}), head


def test_pure_noise_forecaster_does_no_harm():
    ts, spot, tick, _ = _walk(6000, 1)
    junk = np.random.default_rng(2).normal(0, 1.5, (6000, 4))     # confident forecasts with no signal
    card, head = _card(ts, spot, tick, junk)
    rm, ma = card.metric("rmse"), card.metric("mae")
    assert (rm["engine"] <= rm["random_walk"] * 1.0 + 1e-12).all()
    assert (ma["engine"] <= ma["random_walk"] * 1.0 + 1e-12).all()
    # the passthrough head (the bug the head fixes) is far worse
    raw, _ = _card(ts, spot, tick, junk, HeadConfig(shrink=False, gate=False))
    assert (raw.metric("rmse")["engine"] > 1.3 * rm["random_walk"]).all()
    assert not head.gate_mean.any()


def test_signal_is_kept_and_the_blend_recovers_the_scale():
    ts, spot, tick, s = _walk(8000, 3, signal=1.0)
    # the physics forecast is the truth's conditional mean, overstated 2x: β must learn ~0.5
    truth = _point(s)
    card, head = _card(ts, spot, tick, 2.0 * truth)
    v = card.verdicts()
    assert (v["verdict"] == "better").all(), v
    assert np.allclose(head.beta, 0.5, atol=0.08), head.beta
    assert head.gate_mean.all()


@pytest.mark.parametrize("scale", [0.3, 3.0])
def test_ninety_percent_band_covers_about_ninety(scale):
    ts, spot, tick, s = _walk(8000, 4, signal=1.0)
    ts2, spot2 = ts, 5000.0 + scale * (spot - 5000.0)       # any volatility: D and k adapt
    card, head = _card(ts2, spot2, tick, _point(s) * scale)
    cov = card.metric("cover90")["engine"]
    assert ((cov > 0.85) & (cov < 0.95)).all(), cov
    # D per horizon tracks the residual variance: σ² = 2·D·h·Δt
    assert np.allclose(head.var, 2 * head.D * 0.5 * np.arange(1, 5))


def test_head_is_causal_by_truncation():
    ts, spot, tick, s = _walk(1500, 5, signal=1.0)
    x = _point(s)
    full = ForecastHead(4, 0.5)
    outs = [full.step(ts[i], spot[i], tick[i], x[i]) for i in range(1500)]
    spot2 = spot.copy()
    spot2[1000:] += 100.0                         # a different future
    cut = ForecastHead(4, 0.5)
    outs2 = [cut.step(ts[i], spot2[i], tick[i], x[i]) for i in range(1500)]
    for a, b in zip(outs[:1000], outs2[:1000]):
        assert np.array_equal(a.mean, b.mean) and np.array_equal(a.quantiles, b.quantiles)
    assert not np.array_equal(outs[1200].quantiles, outs2[1200].quantiles)


def test_history_columns_and_quantile_order():
    ts, spot, tick, s = _walk(600, 6, signal=1.0)
    hist, _ = head_over_day(ts, spot, tick, _point(s), 0.5)
    assert {"x_hat", "q50", "q05", "q25", "q75", "q95", "x_point"} <= set(hist.columns)
    q = hist[["q05", "q25", "q50", "q75", "q95"]].to_numpy()
    assert np.all(np.diff(q, axis=1) >= -1e-12)
    assert qcol(0.05) == "q05" and qcol(0.5) == "q50" and qcol(0.975) == "q97.5"


def test_head_config_rejects_bad_settings():
    with pytest.raises(ValueError, match="forgetting"):
        HeadConfig(forgetting=1.5)
    with pytest.raises(ValueError, match="0.05"):
        HeadConfig(quantiles=(0.25, 0.5, 0.75))


def _frames(n=12):
    mids = 5000.0 + 0.25 * np.array([0, 1, 1, 2, 1, 1, 0, 2, 3, 3, 2, 2][:n])
    return [MarketFrame(ts_ns=i * DT_NS, spot=float(m), scalars={"latent_offset": -0.3}) for i, m in enumerate(mids)]


def test_particle_starts_at_the_mid_with_the_last_ticks_motion():
    eng = Engine([], EngineConfig(n_paths=0))
    fr = _frames()
    eng.step(fr[0])
    fc = eng.step(fr[1])
    assert fc.x0 == 0.0
    assert fc.v0 == pytest.approx(1 / 0.5)          # one tick up in 0.5 s
    fc = eng.step(fr[2])
    assert fc.v0 == 0.0


def test_latent_start_is_the_documented_ablation():
    eng = Engine([], EngineConfig(n_paths=0, start="latent"))
    fr = _frames()
    eng.step(fr[0])
    fc = eng.step(fr[1])
    assert fc.x0 == pytest.approx(-0.3) and fc.v0 == 0.0
    with pytest.raises(ValueError, match="start"):
        EngineConfig(start="ema")


def test_engine_emits_bands_by_default():
    eng = Engine([], EngineConfig())
    for f in _frames():
        fc = eng.step(f)
    assert eng.config.n_paths > 0
    b = fc.bands
    assert b[0.05][-1] < b[0.5][-1] < b[0.95][-1]
    assert np.all(np.asarray(eng.fields.D) > 0)       # the learned D is in the medium the paths diffuse in


def test_session_shows_the_head():
    from marketphys.replay.session import Session

    s = Session.from_frames(_frames(), producers=[], baselines=[])
    s.run(progress=False)
    hf = s.head_frame()
    assert list(hf.horizon) == [1, 2, 3, 4] and not hf.gate_mean.any()
    assert np.allclose(hf.D, s.engine.head.D) and "head gates open" in s.summary()
