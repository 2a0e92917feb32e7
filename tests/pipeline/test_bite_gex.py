"""GEX array math by hand: the strike grid, signs and units, aggregation, imbalance, derivatives."""

from __future__ import annotations

import numpy as np
import pytest

from marketphys.pipeline import gex

S = 5_000_000_000   # $5 in 1e-9 units


def test_snap_to_strike_grid_nearest_ties_up():
    px = np.array([5000, 5002.49, 5002.5, 5004.75, 4997.5, 4997.49]) * 1e9
    assert (gex.snap_to_strike_grid(px.astype(np.int64)) // 10**9).tolist() == [5000, 5000, 5005, 5005, 5000, 4995]


def test_option_gex_units_and_sign():
    # Γ 0.002 per point, OI 100, multiplier 50, F 5000: 0.002·100·50·25e6·0.01 = 2.5e6 USD per 1 %
    got = gex.option_gex([0.002, 0.002, 0.001], [100, 100, 10], [50, 50, 20], [5000, 5000, 4000], [True, False, True])
    assert got.tolist() == [2.5e6, -2.5e6, 0.001 * 10 * 20 * 16e6 * 0.01]


def test_grid_rows_and_offgrid():
    centre = 5000 * 10**9
    strikes = centre + np.array([-12, -11, 0, 12, 13, -13]) * S
    assert gex.grid_row(strikes, centre).tolist() == [0, 1, 12, 24, -1, -1]
    assert gex.grid_row(np.array([centre + S // 2, centre - 1]), centre).tolist() == [-1, -1]  # not on a $5 line
    assert gex.N_ROWS == 25 and gex.REL_TICKS[0] == -240 and gex.REL_TICKS[-1] == 240 and gex.STRIKE_INT == S


def test_aggregate_sums_by_window_and_row():
    out = gex.aggregate(np.array([0, 0, 1, 1, 1]), np.array([3, 3, 0, -1, 24]), np.array([1.0, 2.5, 4.0, 100.0, 7.0]), 2)
    want = np.zeros((2, 25))
    want[0, 3], want[1, 0], want[1, 24] = 3.5, 4.0, 7.0
    assert np.array_equal(out, want)


def test_imbalance_ratio():
    got = gex.imbalance_ratio(np.array([3.0, 0.0, 0.0, 1.0]), np.array([1.0, 0.0, 2.0, 0.0]))
    assert got.tolist() == [0.5, 0.0, -1.0, 1.0]


def test_strike_derivatives_by_hand():
    d = gex.StrikeDerivatives()
    k = np.array([10, 20, 30])
    assert d.step(0, k, np.array([1.0, 5.0, 0.0])).tolist() == [[0.0] * 3] * 3       # no history
    assert d.step(1, k, np.array([3.0, 4.0, 0.0])).tolist() == [[2.0, 2.0, 2.0], [-1.0, -1.0, -1.0], [0.0] * 3]
    # a recentred grid: strike 40 is new (zeros), 20 and 30 keep their history
    out = d.step(2, np.array([20, 30, 40]), np.array([6.0, 1.0, 9.0]))
    assert out.tolist() == [[2.0, 3.0, 4.0], [1.0, 1.0, 1.0], [0.0, 0.0, 0.0]]
    # a skipped window (seq 4 after 2) starts again from zero differences
    assert d.step(4, np.array([20, 30, 40]), np.array([7.0, 1.0, 9.0])).tolist() == [[0.0] * 3] * 3
    assert d.step(5, np.array([20, 30, 40]), np.array([8.0, 1.0, 9.0]))[0].tolist() == [1.0, 1.0, 1.0]


def test_exact_integer_strikes_and_small_totals():
    got = gex.snap_to_strike_grid(np.array([5002_500_000_000, 9_000_002_499_999_999]))
    assert got.dtype == np.int64 and got.tolist() == [5005_000_000_000, 9_000_000_000_000_000]
    # totals below 1 are still divided by themselves
    assert gex.imbalance_ratio(np.array([0.3]), np.array([0.1])).tolist() == pytest.approx([0.5])
