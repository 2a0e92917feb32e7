"""Whole-day ledger and baselines equal the per-step objects (same rules, no lookahead)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings, strategies as st

from marketphys.baselines import batch
from marketphys.baselines.forecasters import default_baselines
from marketphys.core.frame import MarketFrame
from marketphys.core.ledger import Ledger, LedgerEntry

DT = 500_000_000


def _frames(steps, moves, flows):
    ts = 1_700_000_000_000_000_000 + np.cumsum(steps).astype(np.int64)
    spot = 5000.0 + 0.25 * np.cumsum(moves)
    fr = [MarketFrame(ts_ns=int(t), spot=float(s), tick_size=0.25,
                      scalars={"ofi": float(f), "push": float(0.5 * f + m),
                               # the touch's queue imbalance and spread (microprice, queue imbalance) on most frames
                               **({"queue_imbalance": float(np.tanh(f)), "spread_ticks": 1.0 + (k % 5 == 0)}
                                  if k % 3 else {})} if k % 7 else {"ofi": float(f)})
          for k, (t, s, f, m) in enumerate(zip(ts, spot, flows, moves))]
    return fr


# mostly regular 0.5 s frames with jitter inside the tolerance, some gaps and some dense frames
step_st = st.sampled_from([DT, DT, DT, DT + 50_000_000, DT - 60_000_000, 3 * DT, 7 * DT, DT // 3])


@st.composite
def days(draw, max_frames=80):
    n = draw(st.integers(2, max_frames))
    steps = draw(st.lists(step_st, min_size=n, max_size=n))
    moves = draw(st.lists(st.integers(-3, 3), min_size=n, max_size=n))
    flows = draw(st.lists(st.floats(-2, 2, allow_nan=False), min_size=n, max_size=n))
    return _frames(steps, moves, flows)


def _arrays(frames):
    ts = np.array([f.ts_ns for f in frames], np.int64)
    spot = np.array([f.spot for f in frames])
    tick = np.array([f.tick_size for f in frames])
    from marketphys.replay.batch import _scalar_channels, day_arrays

    return day_arrays(frames, _scalar_channels(default_baselines()))


def _sorted(h: pd.DataFrame) -> pd.DataFrame:
    return h.sort_values(["origin_ts_ns", "horizon"]).reset_index(drop=True)


@settings(max_examples=40, deadline=None)
@given(days())
def test_baselines_and_ledger_equal_the_per_step_objects(frames):
    ts, spot, tick, scal = _arrays(frames)
    ref = default_baselines()
    for b in ref:
        b.reset()
    step_x = {b.name: np.array([b.step(f) for f in frames]) for b in ref}
    fast = batch.baseline_forecasts(default_baselines(), ts, spot, tick, scal)
    slow = batch.baseline_forecasts(default_baselines(), ts, spot, tick, scal, compiled=False)
    for name, x in step_x.items():
        np.testing.assert_allclose(fast[name], x, rtol=1e-9, atol=1e-9, err_msg=name)
        np.testing.assert_allclose(slow[name], x, rtol=1e-9, atol=1e-9, err_msg=name)
        led = Ledger(4, DT)
        for f, xi in zip(frames, x):
            led.resolve(f.ts_ns, f.spot)
            led.add(LedgerEntry(f.ts_ns, f.spot, f.tick_size, xi, np.zeros((4, 0)), np.zeros(0), DT))
        want, got = _sorted(led.history()), _sorted(batch.ledger_history(ts, spot, tick, x, DT))
        assert list(got.columns) == list(want.columns)
        assert len(got) == len(want), name
        if len(want):
            pd.testing.assert_frame_equal(got, want, check_dtype=False, check_categorical=False)


def test_forecast_at_i_ignores_later_frames():
    """No lookahead: changing frame k's future leaves every forecast at frames <= k unchanged."""
    rng = np.random.default_rng(3)
    frames = _frames([DT] * 300, rng.integers(-2, 3, 300), rng.normal(size=300))
    ts, spot, tick, scal = _arrays(frames)
    a = batch.baseline_forecasts(default_baselines(), ts, spot, tick, scal)
    spot2 = spot.copy()
    spot2[200:] += 10.0
    scal2 = {k: v.copy() for k, v in scal.items()}
    scal2["ofi"][200:] = 99.0
    b = batch.baseline_forecasts(default_baselines(), ts, spot2, tick, scal2)
    for name in a:
        np.testing.assert_array_equal(a[name][:200], b[name][:200], err_msg=name)
    assert not np.allclose(a["ofi"][200:], b["ofi"][200:])
