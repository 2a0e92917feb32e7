"""Black-76 against an independent implementation (vollib's black module) and parity."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from marketphys.pipeline import black76 as b76

vb = pytest.importorskip("vollib.black", reason="vollib is a dev dependency (pyproject [dev])")
from vollib.black import black as vb_price  # noqa: E402
from vollib.black.greeks.analytical import gamma as vb_gamma, delta as vb_delta  # noqa: E402
from vollib.black.implied_volatility import implied_volatility as vb_iv  # noqa: E402

MINUTE = 1.0 / (365.25 * 24 * 60)
GRID = list(itertools.product(
    [4000.0, 5300.0],                      # F
    [0.8, 0.95, 1.0, 1.03, 1.2],           # K / F
    [15 * MINUTE, 1 / 365.25, 7 / 365.25, 0.25, 1.0],  # T, short expiries included
    [0.08, 0.2, 0.6],                      # sigma
    [True, False],
    [0.0, 0.05],                           # r
))


def _grid_arrays():
    a = np.array([(F, F * k, T, s, c, r) for F, k, T, s, c, r in GRID], dtype=object)
    F, K, T, s, c, r = (np.array(a[:, i].tolist()) for i in range(6))
    return F, K, T, s, c.astype(bool), r


def test_price_and_gamma_match_vollib_on_grid():
    F, K, T, s, c, r = _grid_arrays()
    ours_p = b76.price(F, K, T, s, c, r)
    g = b76.greeks(F, K, T, s, c, r)
    ref_p = np.array([vb_price("c" if ci else "p", Fi, Ki, Ti, ri, si) for Fi, Ki, Ti, si, ci, ri in zip(F, K, T, s, c, r)])
    ref_g = np.array([vb_gamma("c" if ci else "p", Fi, Ki, Ti, ri, si) for Fi, Ki, Ti, si, ci, ri in zip(F, K, T, s, c, r)])
    ref_d = np.array([vb_delta("c" if ci else "p", Fi, Ki, Ti, ri, si) for Fi, Ki, Ti, si, ci, ri in zip(F, K, T, s, c, r)])
    np.testing.assert_allclose(ours_p, ref_p, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(g["gamma"], ref_g, rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(g["delta"], ref_d, rtol=1e-9, atol=1e-12)


def test_gamma_closed_form_atm():
    # ATM, r=0: gamma = phi(sigma sqrt(T)/2) / (F sigma sqrt(T))
    F, T, s = 5000.0, 0.1, 0.2
    x = s * np.sqrt(T) / 2
    expect = np.exp(-x * x / 2) / np.sqrt(2 * np.pi) / (F * s * np.sqrt(T))
    assert b76.gamma(F, F, T, s) == pytest.approx(expect, rel=1e-13)


def test_implied_vol_recovers_sigma_and_matches_vollib():
    F, K, T, s, c, r = _grid_arrays()
    p = b76.price(F, K, T, s, c, r)
    # only where there is meaningful time value (else sigma is not identified)
    intrinsic = np.exp(-r * T) * np.where(c, np.maximum(F - K, 0), np.maximum(K - F, 0))
    ident = (p - intrinsic) > 1e-8 * F
    iv, status = b76.implied_vol(p, F, K, T, c, r)
    assert (status[ident] == b76.IV_OK).all()
    np.testing.assert_allclose(iv[ident], s[ident], rtol=1e-7)
    for i in np.flatnonzero(ident)[::7]:
        ref = vb_iv(p[i], F[i], K[i], r[i], T[i], "c" if c[i] else "p")
        assert iv[i] == pytest.approx(ref, rel=1e-6)


def test_put_call_parity():
    F, K, T, s, _, r = _grid_arrays()
    call = b76.price(F, K, T, s, True, r)
    put = b76.price(F, K, T, s, False, r)
    np.testing.assert_allclose(call - put, np.exp(-r * T) * (F - K), atol=1e-8 * F.max())


@settings(max_examples=200, deadline=None)
@given(
    F=st.floats(100, 10000), k=st.floats(0.7, 1.4), T=st.floats(1e-5, 2.0),
    s=st.floats(0.02, 2.0), call=st.booleans(),
)
def test_iv_roundtrip_property(F, k, T, s, call):
    K = F * k
    p = float(b76.price(F, K, T, s, call))
    intrinsic = max(F - K, 0) if call else max(K - F, 0)
    iv, st_ = b76.implied_vol(p, F, K, T, call)
    if p - intrinsic > 1e-7 * F:       # identifiable time value
        assert int(st_) == b76.IV_OK
        # price reproduced to near machine precision relative to the time value
        assert float(b76.price(F, K, T, float(iv), call)) == pytest.approx(p, rel=1e-10, abs=1e-9 * F)
    else:
        assert int(st_) in (b76.IV_OK, b76.IV_BELOW_INTRINSIC, b76.IV_NO_CONVERGENCE)


def test_price_never_below_intrinsic_at_short_expiries():
    """Far out of the money with T = 1e-5 the put's two terms cancel to a rounding residue; it used
    to come out as -1.2e-322, which implied_vol then called bad input (found by hypothesis)."""
    F, K, T, s = 100.0, 93.36, 1e-5, 0.5664
    p = float(b76.price(F, K, T, s, False))
    assert p >= 0.0
    _, st_ = b76.implied_vol(p, F, K, T, False)
    assert int(st_) == b76.IV_BELOW_INTRINSIC
    k = np.linspace(0.5, 1.5, 401)
    for call in (True, False):
        prices = b76.price(100.0, 100.0 * k, 1e-5, 0.3, call)
        intrinsic = np.maximum(100.0 - 100.0 * k, 0.0) if call else np.maximum(100.0 * k - 100.0, 0.0)
        assert np.all(prices >= intrinsic)


def test_iv_failures_are_status_codes_not_exceptions():
    price = np.array([np.nan, -1.0, 10.0, 100.0, 6000.0, 1.0])
    F = np.array([5000.0, 5000, 5000, 5000, 5000, 0.0])
    K = np.array([5000.0, 5000, 4900, 5000, 5000, 5000])
    iv, st_ = b76.implied_vol(price, F, K, 0.1, [True, True, True, True, True, True])
    assert st_.tolist() == [b76.IV_BAD_INPUT, b76.IV_BAD_INPUT, b76.IV_BELOW_INTRINSIC,
                            b76.IV_OK, b76.IV_ABOVE_BOUND, b76.IV_BAD_INPUT]
    assert np.isnan(iv[[0, 1, 2, 4, 5]]).all() and np.isfinite(iv[3])


def test_is_call_accepts_letters_and_rejects_garbage():
    assert b76.price(100, 100, 1, 0.2, "C") == pytest.approx(b76.price(100, 100, 1, 0.2, True))
    with pytest.raises(ValueError, match="is_call"):
        b76.price(100, 100, 1, 0.2, "X")


def test_shapes_broadcast():
    out = b76.price(np.full((3, 1), 100.0), np.array([90.0, 100, 110]), 0.5, 0.2, True)
    assert out.shape == (3, 3)


@settings(max_examples=40, deadline=None)
@given(T=st.lists(st.sampled_from([0.0, -1e-9, -0.5, 0.25, 1e-3]), min_size=2, max_size=12),
       s=st.lists(st.sampled_from([0.0, -0.2, 0.2, 0.6]), min_size=2, max_size=12),
       k=st.lists(st.sampled_from([0.9, 1.0, 1.1]), min_size=2, max_size=12))
def test_expired_and_zero_vol_rows_take_their_limits_without_raising(T, s, k):
    n = min(len(T), len(s), len(k))
    F = np.full(n, 5000.0)
    T, s, K = np.array(T[:n]), np.array(s[:n]), F * np.array(k[:n])
    r = 0.03
    g = b76.greeks(F, K, T, s, True, r)
    p = b76.price(F, K, T, s, False, r)
    limit = (T <= 0) | (s <= 0)
    assert np.isfinite(g["gamma"]).all() and np.isfinite(p).all()
    assert (g["gamma"][limit] == 0).all() and (g["vega"][limit] == 0).all()
    disc = np.exp(-r * np.maximum(T, 0))
    np.testing.assert_allclose(p[limit], (disc * np.maximum(K - F, 0))[limit], rtol=1e-15)
    step = np.where(F > K, 1.0, np.where(F == K, 0.5, 0.0))
    np.testing.assert_allclose(g["delta"][limit], (disc * step)[limit], rtol=1e-15)
    if (~limit).any():      # regular rows are exactly what they are alone
        alone = b76.greeks(F[~limit], K[~limit], T[~limit], s[~limit], True, r)
        assert (g["gamma"][~limit] == alone["gamma"]).all() and (g["gamma"][~limit] > 0).all()


def test_undefined_inputs_are_nan_not_exceptions():
    g = b76.greeks([-1.0, 5000.0, np.nan, 5000.0], [5000.0, 0.0, 5000.0, 5000.0], [0.1, 0.1, 0.1, np.inf],
                   [0.2, 0.2, 0.2, 0.2], True)
    assert np.isnan(g["gamma"]).all()
