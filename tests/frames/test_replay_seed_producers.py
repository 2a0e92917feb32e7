"""The seed's producers for lake/live data, each on a hand-made frame (replay/producers.py)."""

from __future__ import annotations

import numpy as np
import pytest

from marketphys.core.engine import Engine, EngineConfig
from marketphys.core.frame import MarketFrame
from marketphys.core.grid import Grid
from marketphys.frames.producers import (DepthVacuumProducer, DepthViscosity, FlowCurrentProducer,
                                         FlowGexWallProducer, GexWallProducer, seed_producers)

GRID = Grid()


def _frame(ts=0, depth=None, strikes=None, scalars=None):
    prof = {} if depth is None else {"depth_log": depth}
    rel = None
    if strikes is not None:
        rel = np.array([-40.0, -20.0, 0.0, 20.0, 40.0])
    return MarketFrame(ts_ns=ts, spot=5000.0, scalars=scalars or {}, profiles=prof, strike_rel_ticks=rel,
                       strikes=strikes or {})


def test_depth_vacuum_is_a_valley_where_depth_thinned_against_its_recent_level():
    p = DepthVacuumProducer(gain=2.0, halflife_s=0.5)
    base = np.full(GRID.size, 3.0)
    assert np.all(p.produce(_frame(0, base), GRID) == 0.0)         # first frame: nothing to compare with
    thin = base.copy()
    thin[GRID.n + 5] = 0.0                                         # the book at +10 ticks emptied
    u = p.produce(_frame(1, thin), GRID)
    assert u[GRID.n + 5] == pytest.approx(-2.0 * 3.0 / 3.5)       # −gain·(L − d)/(L + ε), L = 3
    assert np.count_nonzero(u) == 1
    # a level that stays thin becomes the new normal: the valley fills in as the EMA catches up
    for t in range(2, 14):
        u = p.produce(_frame(t, thin), GRID)
    assert abs(u[GRID.n + 5]) < 0.01
    # thicker than usual is no valley (never a ridge)
    assert np.all(p.produce(_frame(20, base + 5.0), GRID) <= 0.0)


def test_depth_vacuum_attracts_the_particle():
    eng = Engine([DepthVacuumProducer(gain=4.0)], EngineConfig(n_paths=0))
    base = np.full(GRID.size, 3.0)
    eng.step(_frame(0, base))
    thin = base.copy()
    thin[GRID.n + 1: GRID.n + 4] = 0.0                               # valley 2-6 ticks above spot
    fc = eng.step(_frame(500_000_000, thin))
    assert fc.a0 > 0 and fc.x_hat[-1] > 0


def test_depth_viscosity_is_thick_where_the_book_is_deep():
    d = np.full(GRID.size, 1.0)
    d[GRID.n] = 2.0
    g = DepthViscosity(gamma=1.5).produce(_frame(0, d), GRID)
    m = d.mean()
    assert g[GRID.n] == pytest.approx(1.5 * 2.0 / m)
    assert g[0] == pytest.approx(1.5 * 1.0 / m)
    assert DepthViscosity(gamma=1.5).produce(_frame(0), GRID) == 1.5      # no profile: uniform
    assert np.all(DepthViscosity(lo=0.2, hi=3.0).produce(_frame(0, np.r_[np.zeros(GRID.size - 1), 50.0]), GRID) >= 0.2)


def test_ofi_current_follows_the_flow():
    p = FlowCurrentProducer("ofi", gain=0.1, halflife_s=0.5)
    c = p.produce(_frame(0, scalars={"ofi": 10.0}), GRID)
    assert c == pytest.approx(0.1 * 10.0 * 0.5)          # EMA step a = 1 − 0.5^(Δt/h) = 0.5
    assert p.produce(_frame(1, scalars={"ofi": -10.0}), GRID) < c


def _gex(flow=0.0, d1=0.0, pull=0.0):
    g = np.array([0.1, 1.0, 0.2, 0.8, 0.1]) * 1e9
    z = np.zeros(5)
    return {"gex_abs": g, "flow_reinforce_norm": z + np.array([0, flow, 0, 0, 0]),
            "d1_gex_abs": z + np.array([0, d1, 0, 0, 0]) * 1e9, "pull_rest_intensity_norm": z + np.array([0, pull, 0, 0, 0])}


def test_flow_walls_thicken_with_adds_and_erode_with_pulls():
    p = FlowGexWallProducer(threshold=0.35, gain=0.5, k_flow=1.0, k_d1=1000.0, k_pull=1.0)
    key = "flow_gex_walls@4995.00"              # strike at −20 ticks
    plain = p.produce(_frame(0, strikes=_gex()), GRID)
    assert plain[key]["reinforcement"] == pytest.approx(0.5 * 1.0)
    assert set(plain) == {key, "flow_gex_walls@5005.00"}
    adds = p.produce(_frame(0, strikes=_gex(flow=0.5)), GRID)[key]["reinforcement"]
    pulls = p.produce(_frame(0, strikes=_gex(pull=0.6)), GRID)[key]["reinforcement"]
    growing = p.produce(_frame(0, strikes=_gex(d1=1e-4)), GRID)[key]["reinforcement"]
    shrinking = p.produce(_frame(0, strikes=_gex(d1=-1e-4)), GRID)[key]["reinforcement"]
    assert adds == pytest.approx(0.5 * 1.5) and pulls == pytest.approx(0.5 * 0.4)
    assert growing == pytest.approx(0.5 * 1.1) and shrinking == pytest.approx(0.5 * 0.9)
    gone = p.produce(_frame(0, strikes=_gex(pull=5.0)), GRID)[key]["reinforcement"]
    assert gone == 0.0                           # fully pulled: the wall only decays (erodes)
    # without flow channels it is exactly the plain GEX wall
    base = GexWallProducer(threshold=0.35, gain=0.5).produce(_frame(0, strikes={"gex_abs": _gex()["gex_abs"]}), GRID)
    mine = p.produce(_frame(0, strikes={"gex_abs": _gex()["gex_abs"]}), GRID)
    assert [v["reinforcement"] for v in base.values()] == [v["reinforcement"] for v in mine.values()]


def test_flow_walls_strength_follows_the_flow_over_frames():
    eng = Engine([FlowGexWallProducer()], EngineConfig(n_paths=0))
    for t in range(40):
        eng.step(_frame(t * 500_000_000, strikes=_gex(flow=0.8)))
    thick = {w.wall_id: w.strength for w in eng.walls.snapshot()}
    eng2 = Engine([FlowGexWallProducer()], EngineConfig(n_paths=0))
    for t in range(40):
        eng2.step(_frame(t * 500_000_000, strikes=_gex(pull=0.8)))
    thin = {w.wall_id: w.strength for w in eng2.walls.snapshot()}
    k = "flow_gex_walls@4995.00"
    assert thick[k] > 2.5 * thin[k]


def test_seed_producers_have_unique_names_and_targets():
    ps = seed_producers()
    assert len({p.name for p in ps}) == len(ps)
    assert {p.target for p in ps} == {"C", "G", "U", "walls"}
