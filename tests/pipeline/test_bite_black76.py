"""Black-76 against scipy's normal distribution, with the formulas written out here.

Price: D (F N(d1) − K N(d2)) for calls, D (K N(−d2) − F N(−d1)) for puts, D = e^(−rT),
d1 = (ln(F/K) + σ²T/2) / (σ√T), d2 = d1 − σ√T; delta D N(d1) (call) / −D N(−d1) (put);
gamma D φ(d1) / (F σ √T); vega D F φ(d1) √T. Year fraction ACT/365.25.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from marketphys.pipeline import black76

F, K = np.array([5000.0, 5000.0, 5100.0, 4900.0]), np.array([5000.0, 5200.0, 5000.0, 5000.0])
T, SIG, R = np.array([0.1, 0.25, 0.02, 1.5]), np.array([0.2, 0.15, 0.3, 0.12]), 0.04
CALL = np.array([True, False, True, False])


def ref(F, K, T, s, call, r):
    d1 = (np.log(F / K) + 0.5 * s * s * T) / (s * np.sqrt(T))
    d2 = d1 - s * np.sqrt(T)
    D = np.exp(-r * T)
    price = np.where(call, D * (F * norm.cdf(d1) - K * norm.cdf(d2)), D * (K * norm.cdf(-d2) - F * norm.cdf(-d1)))
    delta = np.where(call, D * norm.cdf(d1), -D * norm.cdf(-d1))
    return price, delta, D * norm.pdf(d1) / (F * s * np.sqrt(T)), D * F * norm.pdf(d1) * np.sqrt(T)


def test_price_and_greeks_against_scipy():
    p, d, g, v = ref(F, K, T, SIG, CALL, R)
    np.testing.assert_allclose(black76.price(F, K, T, SIG, CALL, R), p, rtol=1e-12)
    got = black76.greeks(F, K, T, SIG, CALL, R)
    np.testing.assert_allclose(got["delta"], d, rtol=1e-12)
    np.testing.assert_allclose(got["gamma"], g, rtol=1e-12)
    np.testing.assert_allclose(got["vega"], v, rtol=1e-12)
    np.testing.assert_allclose(black76.gamma(F, K, T, SIG, R), g, rtol=1e-12)
    # defaults: r = 0 and calls
    p0, d0, _, _ = ref(F, K, T, SIG, np.ones(4, bool), 0.0)
    np.testing.assert_allclose(black76.price(F, K, T, SIG, True), p0, rtol=1e-12)
    np.testing.assert_allclose(black76.greeks(F, K, T, SIG)["delta"], d0, rtol=1e-12)
    np.testing.assert_allclose(black76.gamma(F, K, T, SIG), ref(F, K, T, SIG, CALL, 0.0)[2], rtol=1e-12)


def test_broadcasting_shapes_and_class_letters():
    Ks = np.array([[4900.0], [5000.0], [5100.0]])            # (3, 1) against (4,) -> (3, 4)
    out = black76.price(F, Ks, T, SIG, "C", R)
    assert out.shape == (3, 4)
    np.testing.assert_allclose(out[1], ref(F, np.full(4, 5000.0), T, SIG, np.ones(4, bool), R)[0], rtol=1e-12)
    np.testing.assert_allclose(black76.price(F, K, T, SIG, np.array(["c", "P", "C", "p"]), R),
                               ref(F, K, T, SIG, CALL, R)[0], rtol=1e-12)
    np.testing.assert_allclose(black76.price(F, K, T, SIG, np.array([1, 0, 1, 0]), R), ref(F, K, T, SIG, CALL, R)[0],
                               rtol=1e-12)
    assert black76.greeks(5000.0, 5000.0, 0.1, 0.2)["gamma"].shape == ()
    with pytest.raises(ValueError, match=r"is_call: expected bool or 'C'/'P', got .*'X'"):
        black76.price(F, K, T, SIG, np.array(["C", "X", "P", "C"]))


def test_implied_vol_round_trip_and_status():
    p = ref(F, K, T, SIG, CALL, R)[0]
    iv, st = black76.implied_vol(p, F, K, T, CALL, R)
    np.testing.assert_allclose(iv, SIG, rtol=1e-9)
    assert (st == black76.IV_OK).all() and iv.shape == (4,)
    iv0, _ = black76.implied_vol(ref(F, K, T, SIG, CALL, 0.0)[0], F, K, T, CALL)
    np.testing.assert_allclose(iv0, SIG, rtol=1e-9)
    iv, st = black76.implied_vol(np.array([np.nan, 1e-9, 6000.0]), 5000.0, np.array([5000.0, 4000.0, 5000.0]), 0.1,
                                 True)
    assert np.isnan(iv).all()
    assert st.tolist() == [black76.IV_BAD_INPUT, black76.IV_BELOW_INTRINSIC, black76.IV_ABOVE_BOUND]


def test_years_to_expiry_is_act_365_25():
    day = 86_400 * 10**9
    now = 1_715_000_000 * 10**9
    got = black76.years_to_expiry(np.array([now + 36525 * day // 100, now + day, now - 2 * day]), now)
    np.testing.assert_allclose(got, [1.0, 1 / 365.25, -2 / 365.25], rtol=1e-15)
    assert black76.YEAR_NS == 365.25 * 86_400 * 1e9


def test_output_shapes_and_status_type():
    g = black76.greeks(F.reshape(2, 2), 5000.0, 0.1, 0.2, CALL.reshape(2, 2))
    assert g["delta"].shape == g["gamma"].shape == g["vega"].shape == (2, 2)
    s = black76.greeks(5000.0, 5000.0, 0.1, 0.2)
    assert s["delta"].shape == s["gamma"].shape == s["vega"].shape == ()
    iv, st = black76.implied_vol(np.full((2, 2), 50.0), 5000.0, 5000.0, 0.1, True)
    assert iv.shape == st.shape == (2, 2) and st.dtype == np.int8
