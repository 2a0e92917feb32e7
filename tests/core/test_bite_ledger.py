"""The ledger's tolerance pinned at both edges, and expired horizons that must teach nothing.

The tolerance is Δt/4 (docs/architecture.md#prediction-loop): a frame within ±Δt/4 of a target resolves it; one
later than target + Δt/4 expires it. A gap test that checks only that θ stays finite passes
when an expired target is "resolved" from the late frame's price; here θ must equal a run
that never sees that price.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from fixtures_kernels import producers, synthetic_frames
from marketphys.core.engine import Engine, EngineConfig
from marketphys.core.grid import Grid
from marketphys.core.ledger import EXPIRED, PENDING, RESOLVED, Ledger, LedgerEntry

DT = 500_000_000
TOL = 125_000_000  # Δt/4, written out: the constant under test is not used to build the expectation
GRID = Grid(n=40, dx=2.0)


def _entry():
    return LedgerEntry(0, 100.0, 0.25, np.zeros(4), np.zeros((4, 5)), np.zeros(5), DT)


def test_default_tolerance_is_a_quarter_step():
    assert Ledger(horizons=4, dt_ns=DT).tolerance_ns == TOL


@pytest.mark.parametrize("offset,status", [
    (TOL, RESOLVED),        # late, on the edge: resolves
    (TOL + 1, EXPIRED),     # 1 ns beyond: a gap (Δt/2 would have resolved it)
    (-TOL, RESOLVED),       # early, on the edge
    (-TOL - 1, PENDING),    # too early to answer h=1; not yet late either
])
def test_tolerance_edges(offset, status):
    led = Ledger(horizons=4, dt_ns=DT)
    e = _entry()
    led.add(e)
    led.resolve(DT + offset, 100.5)
    assert e.status[0] == status
    assert (e.status[1:] == PENDING).all()       # 2Δt is far from every offset here
    if status == RESOLVED:
        assert e.actual[0] == 2.0 and led.n.tolist() == [1, 0, 0, 0]
        assert led.sum_abs[0] == 2.0 and led.sum_sq[0] == 4.0
    else:
        assert np.isnan(e.actual[0]) and led.n.tolist() == [0, 0, 0, 0]
    assert led.n_expired.tolist() == ([1, 0, 0, 0] if status == EXPIRED else [0, 0, 0, 0])


def test_summary_by_hand():
    led = Ledger(horizons=2, dt_ns=DT)
    for origin, spot in ((0, 100.0), (DT, 100.25)):
        led.add(LedgerEntry(origin, spot, 0.25, np.array([1.0, -1.0]), np.zeros((2, 5)), np.zeros(5), DT))
    led.resolve(DT, 100.5)         # origin 0 h1: actual 2, error 1
    led.resolve(2 * DT, 99.75)     # origin 0 h2: actual −1, error 0; origin 1 h1: actual −2, error −3
    led.resolve(3 * DT + TOL + 1, 0.0)  # origin 1 h2 expires
    s = led.summary()
    assert s.n.tolist() == [2, 1] and s.expired.tolist() == [0, 1]
    assert s.mae.tolist() == [2.0, 0.0]
    assert s.rmse[0] == pytest.approx(np.sqrt((1 + 9) / 2))


def test_kernel_ledger_tolerance_edges():
    """The shader ledger (msl-cpu) uses the same Δt/4: one frame on the edge resolves, 1 ns beyond expires."""
    from marketphys.kernels import ReplayBlock, get_backend

    try:
        msl = get_backend("msl-cpu")
    except Exception as err:  # pragma: no cover - platform
        pytest.skip(f"msl-cpu backend unavailable (needs a C++ compiler): {err}")
    base = synthetic_frames(2, GRID, seed=5)
    for offset, n, expired in ((TOL, [1, 0, 0, 0], [0, 0, 0, 0]), (TOL + 1, [0, 0, 0, 0], [1, 0, 0, 0])):
        frames = [base[0], replace(base[1], ts_ns=base[0].ts_ns + DT + offset)]
        block = ReplayBlock.from_frames(frames, producers(), EngineConfig(grid=GRID))
        res = msl.calibrate(block, np.array([1.0, 1.0, 1.0, 1.0, 0.0]))
        assert res.n[0].tolist() == n, offset
        assert res.state["n_expired"][0, :4].tolist() == expired, offset


# -- expired horizons ---------------------------------------------------------------------------------

def _late_session(late_spot_ticks: float):
    """Frames 0..10, then a frame at 20Δt: it answers no pending target of origins 7..10 (their last, 14Δt,
    is long past), so they complete with only their resolved horizons; its price must not enter θ."""
    frames = synthetic_frames(21, GRID, seed=7)
    late = replace(frames[20], spot=frames[10].spot + 0.25 * late_spot_ticks)
    return frames[:11], late


@pytest.mark.parametrize("backend", ["numpy", "msl-cpu"])
def test_late_frame_price_never_enters_theta(backend):
    kept, late_a = _late_session(+60)
    _, late_b = _late_session(-60)
    if backend == "msl-cpu":
        from marketphys.kernels import ReplayBlock, get_backend

        try:
            msl = get_backend("msl-cpu")
        except Exception as err:  # pragma: no cover - platform
            pytest.skip(f"msl-cpu backend unavailable (needs a C++ compiler): {err}")
        th = []
        for late in (late_a, late_b):
            block = ReplayBlock.from_frames(kept + [late], producers(), EngineConfig(grid=GRID))
            th.append(msl.calibrate(block, np.array([1.0, 1.0, 1.0, 1.0, 0.0])).theta[0])
        np.testing.assert_array_equal(th[0], th[1])
        return
    a = Engine(producers(), EngineConfig(grid=GRID))
    a.run(kept + [late_a])
    b = Engine(producers(), EngineConfig(grid=GRID))
    b.run(kept + [late_b])
    assert a.ledger.n_expired.sum() == b.ledger.n_expired.sum() == 10  # origins 7..10: 1 + 2 + 3 + 4 expired
    np.testing.assert_array_equal(a.learner.theta, b.learner.theta)


def test_late_frame_theta_equals_a_run_that_never_sees_it():
    """θ after the late frame = θ of a run over frames 0..10 whose pending origins are then learned from
    their resolved horizons only (the learner fed by hand, never shown the late frame)."""
    kept, late = _late_session(+60)
    eng = Engine(producers(), EngineConfig(grid=GRID))
    eng.run(kept + [late])

    ref = Engine(producers(), EngineConfig(grid=GRID))
    ref.run(kept)
    pending = sorted(ref.ledger.pending, key=lambda e: e.origin_ts_ns)
    assert [(e.origin_ts_ns - kept[0].ts_ns) // DT for e in pending] == [7, 8, 9, 10]
    n_learned = 0
    for e in pending:
        resolved = ~np.isnan(e.actual)
        assert resolved.sum() == 10 - (e.origin_ts_ns - kept[0].ts_ns) // DT  # frames up to 10 answered
        if resolved.any():
            ref.learner.learn_one(e.x_hat, e.jac, e.theta, e.actual, resolved)
            n_learned += 1
    assert n_learned == 3
    assert not np.array_equal(ref.learner.theta, Engine(producers(), EngineConfig(grid=GRID)).theta0.values)
    np.testing.assert_allclose(eng.learner.theta, ref.learner.theta, rtol=0, atol=1e-12)
    assert eng.learner.n_updates == ref.learner.n_updates


def test_history_summary_and_bookkeeping_by_hand():
    led = Ledger(horizons=2, dt_ns=DT)
    empty = led.history()
    assert list(empty.columns) == ["origin_ts_ns", "horizon", "spot", "x_hat", "actual", "error", "status"]
    assert len(empty) == 0 and led.last_complete is None
    e = LedgerEntry(7, 100.0, 0.25, np.array([1.0, -1.0]), np.zeros((2, 5)), np.zeros(5), DT)
    led.add(e)
    assert led.resolve(7 + DT, 100.5) == [] and led.pending == [e]
    assert led.resolve(7 + 2 * DT + TOL + 1, 0.0) == [e] and led.pending == []   # h2 expired: complete
    assert led.last_complete is e
    h = led.history()
    assert h.origin_ts_ns.tolist() == [7, 7] and h.horizon.tolist() == [1, 2] and h.spot.tolist() == [100.0, 100.0]
    assert h.x_hat.tolist() == [1.0, -1.0] and h.actual[0] == 2.0 and np.isnan(h.actual[1])
    assert h.error[0] == 1.0 and np.isnan(h.error[1])
    assert h.status.tolist() == ["resolved", "expired"]
    s = led.summary(dt=0.5)
    assert list(s.columns) == ["horizon", "seconds", "n", "expired", "mae", "rmse"]
    assert s.horizon.tolist() == [1, 2] and s.seconds.tolist() == [0.5, 1.0]
    assert s.n.tolist() == [1, 0] and s.expired.tolist() == [0, 1] and s.mae[0] == 1.0 and np.isnan(s.mae[1])
    assert led.summary(dt=2.0).seconds.tolist() == [2.0, 4.0]


def test_an_origin_with_only_expired_horizons_is_not_the_last_complete():
    led = Ledger(horizons=2, dt_ns=DT)
    a = LedgerEntry(0, 100.0, 0.25, np.zeros(2), np.zeros((2, 5)), np.zeros(5), DT)
    led.add(a)
    led.resolve(DT, 100.0)
    led.resolve(2 * DT, 100.0)
    assert led.last_complete is a
    b = LedgerEntry(3 * DT, 100.0, 0.25, np.zeros(2), np.zeros((2, 5)), np.zeros(5), DT)
    led.add(b)
    assert led.resolve(9 * DT, 100.0) == [b]      # both of b's targets expired
    assert led.last_complete is a


def test_defaults_and_explicit_tolerance():
    led = Ledger()
    assert (led.H, led.dt_ns, led.tolerance_ns) == (4, 500_000_000, TOL)
    assert Ledger(horizons=4, dt_ns=DT, tolerance_ns=10).tolerance_ns == 10
    led = Ledger(horizons=1, dt_ns=DT, tolerance_ns=0, keep_history=False)
    e = LedgerEntry(0, 100.0, 0.25, np.zeros(1), np.zeros((1, 5)), np.zeros(5), DT)
    led.add(e)
    assert led.resolve(DT + 1, 100.0) == [e] and e.status[0] == EXPIRED   # zero tolerance: 1 ns late is a gap
    assert len(led.history()) == 0                                        # keep_history=False keeps no rows
    assert e.status.dtype == np.int8 and e.actual.dtype == np.float64


def test_counters_are_integers_and_an_empty_summary_is_quiet():
    import warnings

    led = Ledger(horizons=3, dt_ns=DT)
    assert led.n.dtype == np.int64 and led.n_expired.dtype == np.int64
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # 0/0 for horizons never resolved: NaN, no RuntimeWarning
        s = led.summary()
    assert s.seconds.tolist() == [0.5, 1.0, 1.5] and np.isnan(s.mae).all() and np.isnan(s.rmse).all()
