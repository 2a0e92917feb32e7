"""The engine's wiring against its pieces assembled by hand (numpy backend, the float64 reference).

Each frame's medium is rebuilt in the test from the producers' formulas and the wall recursion,
the forecast from a direct ``rollout`` on it, v0 from the spots, the first learning step from a
learner fed by hand, and the ensemble the head receives from ``ensemble_bands`` at the frame's stream.
"""

from __future__ import annotations

import numpy as np
import pytest

from marketphys.core.engine import Engine, EngineConfig, Forecast
from marketphys.core.fields import Fields
from marketphys.core.frame import FrameError, MarketFrame
from marketphys.core.grid import Grid
from marketphys.core.integrator import IntegratorConfig, ensemble_bands, rollout
from marketphys.core.learner import GaussNewtonLearner
from marketphys.core.producers import (ConstantDiffusion, ConstantViscosity, FunctionProducer, ProfileProducer,
                                       PushProducer, SoftWallProducer)
from marketphys.core.theta import Theta
from marketphys.core.walls import obstacle_field

GRID = Grid(n=16, dx=2.0)
INTEG = IntegratorConfig(horizons=3, substeps=4)
DT_NS = 500_000_000
TICK = 0.25
SPOTS = [5000.0, 5000.5, 5000.25, 5001.0, 5000.75, 5000.75]


def frames():
    rng = np.random.default_rng(1)
    return [MarketFrame(ts_ns=10 + i * DT_NS, spot=s, tick_size=TICK, scalars={"push": float(rng.normal())},
                        profiles={"depth": rng.random(GRID.size)}) for i, s in enumerate(SPOTS)]


def extra_reinforcement(frame, grid):
    return {"w": {"reinforcement": 0.2}}


def wall_shape(frame, grid):
    return {"w": {"width": 5.0}}                     # an update with no reinforcement: it adds nothing


def medium_producers(extra_first=False):
    wall = SoftWallProducer(center_price=5002.0, reinforcement=0.3, width_ticks=5.0, decay=0.8, name="w")
    extra = FunctionProducer(extra_reinforcement, "walls", name="extra")
    shape = FunctionProducer(wall_shape, "walls", name="shape")
    walls = [shape, extra, wall] if extra_first else [wall, extra, shape]
    return [PushProducer(gain=2.0), ConstantViscosity(0.5), ProfileProducer("depth", "U", gain=-1.5), *walls,
            ConstantDiffusion(0.7), FunctionProducer(lambda f, g: np.full(g.size, 0.1), "D", name="more_d")]


def test_each_forecast_is_the_rollout_of_the_medium_built_by_hand():
    eng = Engine(medium_producers(), EngineConfig(grid=GRID, integrator=INTEG, n_paths=0, backend="numpy"))
    assert eng.backend == "numpy" and eng.kernels is None
    strength = 0.0
    for i, fr in enumerate(frames()[:3]):           # θ is θ0 until the first origin resolves (frame 3)
        fc = eng.step(fr)
        strength = 0.8 * strength + 0.3 + 0.2       # both wall producers reinforce wall "w": the sum
        O = obstacle_field(GRID, np.array([(5002.0 - fr.spot) / TICK]), np.array([strength]), np.array([5.0]))
        f = eng.fields
        np.testing.assert_allclose(f.U, -1.5 * fr.profiles["depth"], rtol=1e-15)
        np.testing.assert_allclose(f.C, 2.0 * fr.scalars["push"], rtol=1e-15)
        np.testing.assert_allclose(f.G, 0.5)
        np.testing.assert_allclose(f.O, O, rtol=1e-12)
        np.testing.assert_allclose(f.D, 0.8, rtol=1e-15)          # 0.7 + 0.1, no head D without paths
        assert eng.walls.get("w").strength == pytest.approx(strength)
        v0 = 0.0 if i == 0 else (fr.spot - SPOTS[i - 1]) / TICK / 0.5
        hand = Fields.from_arrays(GRID, U=-1.5 * fr.profiles["depth"], C=2.0 * fr.scalars["push"], G=0.5, O=O, D=0.8)
        ref = rollout(hand, Theta().values, v0, INTEG)
        assert fc.v0 == pytest.approx(v0) and fc.x0 == 0.0
        np.testing.assert_array_equal(fc.theta, Theta().values)
        np.testing.assert_allclose(fc.x_hat, ref.x[0], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(fc.jac, ref.jac[0], rtol=1e-10, atol=1e-12)
        assert fc.a0 == pytest.approx(ref.a0[0], rel=1e-10)
        assert (fc.origin_ts_ns, fc.spot, fc.tick_size, fc.dt) == (fr.ts_ns, fr.spot, TICK, 0.5)
        assert fc.stats == ref.stats.to_dict()
        assert eng.n_frames == i + 1 and eng.last_frame is fr and eng.last_forecast is fc


def test_producer_order_does_not_matter_for_a_shared_wall():
    """A producer that only reinforces wall "w" may come before the one that places it."""
    a = Engine(medium_producers(), EngineConfig(grid=GRID, integrator=INTEG, n_paths=0, backend="numpy"))
    b = Engine(medium_producers(extra_first=True), EngineConfig(grid=GRID, integrator=INTEG, n_paths=0, backend="numpy"))
    for fr in frames():
        fa, fb = a.step(fr), b.step(fr)
        np.testing.assert_array_equal(fa.x_hat, fb.x_hat)
        assert a.walls.get("w") == b.walls.get("w")


def test_the_first_resolved_origin_teaches_theta_like_a_learner_fed_by_hand():
    """Non-default learner settings and Δt = 0.25 s, so each must reach the learner and the ledger."""
    from marketphys.core.theta import ThetaBounds

    integ = IntegratorConfig(dt=0.25, horizons=3, substeps=4)
    bounds = ThetaBounds(lo=[0.0, 0.0, 0.0, 0.0, -5.0], hi=[0.8, 3.0, 3.0, 3.0, 5.0])   # θ0's wU = 1 is out
    cfg = EngineConfig(grid=GRID, integrator=integ, n_paths=0, backend="numpy", alpha=(1.0, 2.0, 0.5),
                       huber_delta=1.0, forgetting=0.9, damping=0.3, prior_strength=2.0, bounds=bounds)
    eng = Engine(medium_producers(), cfg)
    fcs = [eng.step(MarketFrame(ts_ns=10 + i * 250_000_000, spot=s, tick_size=TICK,
                                scalars={"push": 0.3 * i}, profiles={"depth": np.linspace(0, 1, GRID.size)}))
           for i, s in enumerate(SPOTS[:4])]
    assert fcs[0].dt == 0.25 and fcs[0].theta[0] == 0.8
    lrn = GaussNewtonLearner(Theta().values, bounds=bounds, cfg=integ, alpha=[1.0, 2.0, 0.5], huber_delta=1.0,
                             forgetting=0.9, damping=0.3, prior_strength=2.0)
    actual = (np.array(SPOTS[1:4]) - SPOTS[0]) / TICK
    lrn.learn_one(fcs[0].x_hat, fcs[0].jac, fcs[0].theta, actual, np.ones(3, bool))
    assert not np.array_equal(lrn.theta, Theta().values)
    np.testing.assert_allclose(fcs[3].theta, lrn.theta, rtol=1e-12)
    np.testing.assert_allclose(eng.theta.values, lrn.theta, rtol=1e-12)
    frozen = Engine(medium_producers(), EngineConfig(grid=GRID, integrator=integ, n_paths=0, backend="numpy",
                                                     learn=False))
    for i, s in enumerate(SPOTS):
        frozen.step(MarketFrame(ts_ns=10 + i * 250_000_000, spot=s, tick_size=TICK))
    np.testing.assert_array_equal(frozen.theta.values, Theta().values)


def test_the_head_receives_the_seeded_ensemble_of_this_frame():
    levels = (0.05, 0.1, 0.5, 0.95)                  # 0.1 is not a default level
    cfg = EngineConfig(grid=GRID, integrator=INTEG, n_paths=24, seed=7, quantiles=levels, backend="numpy",
                       start="latent")
    assert cfg.head.quantiles == levels
    eng = Engine(medium_producers(), cfg)
    seen = []
    real = eng.head.step

    def spy(ts, spot, tick, x_point, spread, d_run):
        seen.append((ts, spot, tick, np.array(x_point), spread, d_run, float(eng.head.D[0])))
        return real(ts, spot, tick, x_point, spread, d_run)

    eng.head.step = spy
    for k, fr in enumerate(frames()[:3]):
        fr.scalars["latent_offset"] = 0.3 * (k + 1)
        fc = eng.step(fr)
        ts, spot, tick, xp, spread, d_run, head_d = seen[-1]
        assert (ts, spot, tick) == (fr.ts_ns, fr.spot, TICK)
        np.testing.assert_array_equal(xp, fc.x_hat)
        np.testing.assert_allclose(eng.fields.D, 0.8 + head_d, rtol=1e-15)   # the paths diffuse with the head's D
        assert d_run == pytest.approx(float(np.mean(eng.fields.D)))
        assert (fc.v0, fc.x0) == (0.0, 0.3 * (k + 1))
        qs, _ = ensemble_bands(eng.fields, fc.theta, 0.0, INTEG, 24, 7, levels, stream=k, x0=0.3 * (k + 1))
        np.testing.assert_allclose(spread, np.stack([qs[q] for q in levels]) - qs[0.5], rtol=1e-12, atol=1e-12)
        assert set(fc.bands) == set(levels)
        assert fc.mean is fc.head.mean and fc.median is fc.head.median          # what is scored is the head's
        for q in levels:
            np.testing.assert_array_equal(fc.bands[q], fc.head.bands[q])


def test_initial_velocity_and_position_by_hand():
    def eng(**kw):
        return Engine([], EngineConfig(grid=GRID, integrator=INTEG, n_paths=0, backend="numpy", **kw))

    e = eng(max_v0_gap_s=2.0)
    assert (e.fields, e.last_frame, e.last_forecast, e.last_rejection, e.n_frames) == (None, None, None, None, 0)
    f0 = MarketFrame(ts_ns=0, spot=100.0)
    assert e.step(f0).v0 == 0.0                                     # no previous frame
    # exactly the largest gap allowed: 2 ticks in 2 s
    assert e.step(MarketFrame(ts_ns=2_000_000_000, spot=100.5)).v0 == pytest.approx(1.0)
    assert e.step(MarketFrame(ts_ns=4_000_000_001, spot=100.0)).v0 == 0.0   # a gap just over 2 s
    assert e.step(MarketFrame(ts_ns=4_250_000_001, spot=99.75)).v0 == pytest.approx(-4.0)
    assert e.step(MarketFrame(ts_ns=4_500_000_001, spot=99.75, scalars={"velocity": 3.5})).v0 == 3.5
    lat = eng(start="latent")
    lat.step(f0)
    fc = lat.step(MarketFrame(ts_ns=DT_NS, spot=101.0, scalars={"latent_offset": -0.4}))
    assert (fc.v0, fc.x0) == (0.0, -0.4)
    np.testing.assert_allclose(fc.x_hat, [-0.4] * 3, rtol=1e-15)          # the particle starts (and rests) there
    np.testing.assert_array_equal(lat.fields.O, 0.0)                      # no walls: no obstacle
    assert lat.step(MarketFrame(ts_ns=2 * DT_NS, spot=101.0)).x0 == 0.0
    assert lat.step(MarketFrame(ts_ns=3 * DT_NS, spot=101.0, scalars={"velocity": -2.0})).v0 == -2.0
    # the mid start ignores a latent offset
    assert eng().step(MarketFrame(ts_ns=0, spot=1.0, scalars={"latent_offset": 0.3})).x0 == 0.0


@pytest.mark.parametrize("kw,msg", [({"mode": "batch"}, r"EngineConfig\.mode must be one of .*got 'batch'"),
                                    ({"backend": "cuda"}, r"EngineConfig\.backend must be one of .*got 'cuda'"),
                                    ({"start": "open"}, r"EngineConfig\.start must be one of .*got 'open'"),
                                    ({"n_paths": -1}, r"EngineConfig\.n_paths must be >= 0, got -1"),
                                    ({"grid": Grid(n=1, dx=0.5)}, r"EngineConfig\.grid is too small")])
def test_config_rejects_bad_settings(kw, msg):
    with pytest.raises(ValueError, match="^" + msg + "$" if msg.endswith("small") else "^" + msg):
        EngineConfig(**kw)


def test_config_edges_dt_ns_and_dict():
    EngineConfig(grid=Grid(n=1, dx=1.0), n_paths=0)
    assert EngineConfig(integrator=IntegratorConfig(dt=0.3)).dt_ns == 300_000_000
    assert EngineConfig(integrator=IntegratorConfig(dt=1.0000000004)).dt_ns == 1_000_000_000
    cfg = EngineConfig(grid=GRID, seed=3, n_paths=5, alpha=(1.0, 2.0, 3.0), integrator=INTEG, mode="live",
                       start="latent", backend="numpy", learn=False, huber_delta=2.0, forgetting=0.99, damping=0.3,
                       prior_strength=4.0)
    d = cfg.to_dict()
    assert d["grid"] == {"n": 16, "dx": 2.0} and d["integrator"] == INTEG.to_dict()
    assert {k: d[k] for k in ("mode", "seed", "n_paths", "learn", "huber_delta", "forgetting", "damping",
                              "prior_strength", "alpha", "backend", "start")} == {
        "mode": "live", "seed": 3, "n_paths": 5, "learn": False, "huber_delta": 2.0, "forgetting": 0.99, "damping": 0.3,
        "prior_strength": 4.0, "alpha": [1.0, 2.0, 3.0], "backend": "numpy", "start": "latent"}
    assert d["quantiles"] == [0.05, 0.25, 0.5, 0.75, 0.95] and d["head"]["quantiles"] == d["quantiles"]
    assert d["bounds"] == cfg.bounds.to_dict()
    assert EngineConfig().to_dict()["alpha"] is None


def test_constructor_rejects_duplicate_names_and_unknown_targets():
    with pytest.raises(ValueError, match=r"producer names must be unique; duplicated: \['a', 'b'\]"):
        Engine([PushProducer(name="b"), PushProducer(name="a"), PushProducer(name="a"), ConstantViscosity(name="b")])

    class Odd(PushProducer):
        target = "Q"

    with pytest.raises(ValueError, match=r"has target 'Q'; expected one of \('U', 'C', 'G', 'O', 'D', 'walls'\)$"):
        Engine([Odd()])

    class NoTarget:
        name = "nt"

    with pytest.raises(ValueError, match=r"has target None"):
        Engine([NoTarget()])
    e = Engine([], EngineConfig(backend="numpy"), theta0=[0.5, 1.0, 1.5, 2.0, 0.25])
    assert isinstance(e.theta0, Theta)
    np.testing.assert_array_equal(e.learner.theta, [0.5, 1.0, 1.5, 2.0, 0.25])
    t = Theta(np.array([1.0, 2.0, 3.0, 4.0, 5.0]))
    assert Engine([], EngineConfig(backend="numpy"), theta0=t).theta0 is t


def test_live_mode_counts_rejections_by_kind_and_replay_raises():
    e = Engine([], EngineConfig(grid=GRID, integrator=INTEG, n_paths=0, mode="live", backend="numpy"))
    assert e.step(MarketFrame(ts_ns=100, spot=10.0)) is not None
    assert e.step(MarketFrame(ts_ns=100, spot=10.0)) is None                 # same ts: not increasing
    assert e.step(MarketFrame(ts_ns=99, spot=10.0)) is None
    assert e.step(MarketFrame(ts_ns=200, spot=-1.0)) is None
    assert e.rejected == {"FrameError: ts": 2, "FrameError: value": 1}
    assert "spot" in e.last_rejection and e.n_frames == 1
    r = Engine([], EngineConfig(grid=GRID, integrator=INTEG, n_paths=0, backend="numpy"))
    r.step(MarketFrame(ts_ns=100, spot=10.0))
    with pytest.raises(FrameError, match=r"ts_ns must increase: got 100 after 100"):
        r.step(MarketFrame(ts_ns=100, spot=10.0))


def test_forecast_views():
    fc = Forecast(origin_ts_ns=0, spot=100.0, tick_size=0.5, x_hat=np.array([1.0, -2.0]), v0=0.0, a0=0.0,
                  theta=Theta().values, jac=np.zeros((2, 5)), bands={0.5: np.array([0.0, 4.0])}, stats={}, dt=0.25)
    np.testing.assert_array_equal(fc.mean, [1.0, -2.0])
    np.testing.assert_array_equal(fc.median, [1.0, -2.0])
    np.testing.assert_array_equal(fc.mean_prices, [100.5, 99.0])
    np.testing.assert_array_equal(fc.prices, [100.5, 99.0])
    np.testing.assert_array_equal(fc.horizons_s, [0.25, 0.5])
    np.testing.assert_array_equal(fc.band_prices()[0.5], [100.0, 102.0])
    fc.bands = None
    assert fc.band_prices() is None


def test_bad_producer_output_is_named_with_its_frame():
    cfg = EngineConfig(grid=GRID, integrator=INTEG, n_paths=0, backend="numpy")
    bad_field = FunctionProducer(lambda f, g: float("nan"), "U", name="bad_u")
    with pytest.raises(ValueError, match=r"producer 'bad_u' \(target U\) .* \(ts_ns=10\)"):
        Engine([bad_field], cfg).step(frames()[0])
    bad_wall = FunctionProducer(lambda f, g: {"x": {"reinforcement": float("inf")}}, "walls", name="bad_w")
    with pytest.raises(ValueError, match=r"wall producer 'bad_w': .* at ts_ns=10$"):
        Engine([bad_wall], cfg).step(frames()[0])


def test_a_frame_late_by_more_than_a_quarter_step_expires_its_horizon_and_learns_from_the_rest():
    """Δt = 0.25 s, so the tolerance is 62.5 ms: the fourth frame, 100 ms late, expires origin 0's third horizon.
    θ then equals a learner fed by hand with horizons 1 and 2 only."""
    integ = IntegratorConfig(dt=0.25, horizons=3, substeps=4)
    eng = Engine([], EngineConfig(grid=GRID, integrator=integ, n_paths=0, backend="numpy"))
    ts = [0, 250_000_000, 500_000_000, 850_000_000]
    fcs = [eng.step(MarketFrame(ts_ns=t, spot=s, tick_size=TICK)) for t, s in zip(ts, SPOTS)]
    lrn = GaussNewtonLearner(Theta().values, cfg=integ)
    actual = np.array([(SPOTS[1] - SPOTS[0]) / TICK, (SPOTS[2] - SPOTS[0]) / TICK, np.nan])
    lrn.learn_one(fcs[0].x_hat, fcs[0].jac, fcs[0].theta, actual, np.array([True, True, False]))
    assert not np.array_equal(lrn.theta, Theta().values)
    np.testing.assert_allclose(fcs[3].theta, lrn.theta, rtol=1e-12)
