"""Black-76 (options on futures): price, greeks and implied volatility over arrays.

Why its own module: GEX needs the gamma of every listed option every second, from an
implied vol inverted from the option's mid, so inversion must be both robust (never
a silent NaN, never a runaway Newton step) and fast (>= 1e6 options/s). The loops are
compiled with numba; each element is independent, so a failure is reported per
element as a status code, never raised from inside the loop.

Conventions
- ``F`` futures price, ``K`` strike, ``T`` years to expiry (``DAY_COUNT``: ACT/365.25, the one
  year of the package: the synthetic market prices with it and the pipeline inverts with it), ``sigma``
  annualised vol, ``r`` continuously compounded rate; discount ``D = exp(-r T)``.
  ``r = 0`` (the default) gives undiscounted prices, the usual choice for
  futures-style margined options such as CME ES options.
- ``is_call`` boolean (True call, False put). Inputs broadcast like NumPy.
- Degenerate rows never raise: ``T <= 0`` (expired) or ``sigma <= 0`` (no vol) give the
  limits, price ``D * intrinsic``, gamma and vega 0, delta the step ``D * 1[F > K]`` (call,
  1/2 at the money); non-finite inputs or ``F <= 0`` / ``K <= 0`` give NaN. Real chain files
  hold such rows; the chain layer (``marketphys.chain``) sets them aside before pricing.

Implied vol (``implied_vol``): the price is first mapped to the out-of-the-money
option by put-call parity (``C - P = D (F - K)``), whose time value carries all the
information, then ``log(price)`` is matched by Newton's method inside a bracket
``[IV_LO, IV_HI]`` that shrinks every step; a Newton step that leaves the bracket (or
meets a vanishing vega) is replaced by bisection, so it always converges. Failures come
back as NaN with a status code (``IV_OK`` ... ``IV_NO_CONVERGENCE``); what to use
instead is the caller's policy (see ``marketphys.pipeline.silver_options.IvCarry``).
"""

from __future__ import annotations

import math

import numba
import numpy as np

DAY_COUNT = "ACT/365.25"
DAYS_PER_YEAR = 365.25
YEAR_NS = DAYS_PER_YEAR * 86400e9
"""Nanoseconds per year: the one year convention (synthetic quotes, IV, greeks, the DBN chain)."""
IV_LO = 1e-4          # lower end of the search bracket (0.01 % vol)
IV_HI = 10.0          # upper end (1000 % vol)
IV_TOL = 1e-12        # on log-price and on bracket width

IV_OK = 0
IV_BAD_INPUT = 1        # non-finite or non-positive F, K, T or price
IV_BELOW_INTRINSIC = 2  # price <= intrinsic value: no time value to invert
IV_ABOVE_BOUND = 3      # price >= the no-arbitrage upper bound (D*F call, D*K put)
IV_NO_CONVERGENCE = 4   # outside [IV_LO, IV_HI] or out of iterations
IV_STATUS_NAMES = {IV_OK: "ok", IV_BAD_INPUT: "bad_input", IV_BELOW_INTRINSIC: "below_intrinsic",
                   IV_ABOVE_BOUND: "above_bound", IV_NO_CONVERGENCE: "no_convergence"}

_SQRT2 = math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


@numba.njit(cache=True, inline="always")
def _ncdf(x):
    return 0.5 * math.erfc(-x / _SQRT2)


@numba.njit(cache=True, inline="always")
def _npdf(x):
    return _INV_SQRT_2PI * math.exp(-0.5 * x * x)


@numba.njit(cache=True, inline="always")
def _d1(F, K, T, sigma):
    sq = sigma * math.sqrt(T)
    return (math.log(F / K) + 0.5 * sq * sq) / sq


@numba.njit(cache=True, inline="always")
def _undiscounted(F, K, T, sigma, call):
    sq = sigma * math.sqrt(T)
    d1 = (math.log(F / K) + 0.5 * sq * sq) / sq
    d2 = d1 - sq
    # floored at intrinsic value, which the price is never below: far from the money at short
    # expiries the two products cancel to a rounding residue that can be negative (-1e-322)
    if call:
        return max(F * _ncdf(d1) - K * _ncdf(d2), F - K, 0.0)
    return max(K * _ncdf(-d2) - F * _ncdf(-d1), K - F, 0.0)


@numba.njit(cache=True, inline="always")
def _degenerate(F, K, T, sigma, r):
    """0 regular; 1 a limit (expired or zero vol); 2 undefined (NaN or non-positive F, K)."""
    if not (math.isfinite(F) and math.isfinite(K) and math.isfinite(T) and math.isfinite(sigma)
            and math.isfinite(r)):
        return 2
    if F <= 0.0 or K <= 0.0:
        return 2
    if T <= 0.0 or sigma <= 0.0 or not (sigma * math.sqrt(T) > 0.0):
        return 1
    return 0


@numba.njit(cache=True, inline="always")
def price_one(F, K, T, sigma, call, r):
    """One discounted Black-76 price (compiled; the limits and NaN of the module docstring)."""
    kind = _degenerate(F, K, T, sigma, r)
    if kind == 2:
        return math.nan
    if kind == 1:
        disc = math.exp(-r * max(T, 0.0))
        return disc * (max(F - K, 0.0) if call else max(K - F, 0.0))
    return math.exp(-r * T) * _undiscounted(F, K, T, sigma, call)


@numba.njit(cache=True)
def _price_loop(F, K, T, sigma, call, r, out):
    for i in range(out.size):
        out[i] = price_one(F[i], K[i], T[i], sigma[i], call[i], r[i])


@numba.njit(cache=True)
def _greeks_loop(F, K, T, sigma, call, r, delta, gamma, vega):
    for i in range(gamma.size):
        kind = _degenerate(F[i], K[i], T[i], sigma[i], r[i])
        if kind == 2:
            delta[i] = gamma[i] = vega[i] = math.nan
            continue
        if kind == 1:
            disc = math.exp(-r[i] * max(T[i], 0.0))
            step = 1.0 if F[i] > K[i] else (0.5 if F[i] == K[i] else 0.0)
            delta[i] = disc * step if call[i] else -disc * (1.0 - step)
            gamma[i] = 0.0
            vega[i] = 0.0
            continue
        disc = math.exp(-r[i] * T[i])
        sqT = math.sqrt(T[i])
        d1 = _d1(F[i], K[i], T[i], sigma[i])
        pdf = _npdf(d1)
        gamma[i] = disc * pdf / (F[i] * sigma[i] * sqT)
        vega[i] = disc * F[i] * pdf * sqT
        delta[i] = disc * _ncdf(d1) if call[i] else -disc * _ncdf(-d1)


@numba.njit(cache=True)
def _iv_one(price, F, K, T, r, call):
    """(sigma, status) for one option; see the module docstring for the method."""
    if not (price == price and F > 0.0 and K > 0.0 and T > 0.0 and price >= 0.0
            and math.isfinite(price) and math.isfinite(F) and math.isfinite(K) and math.isfinite(T)
            and math.isfinite(r)):
        return math.nan, IV_BAD_INPUT
    p = price * math.exp(r * T)          # undiscounted
    upper = F if call else K
    if p >= upper:
        return math.nan, IV_ABOVE_BOUND
    # map to the out-of-the-money side by put-call parity
    otm_call = call
    q = p
    if call and F > K:
        q = p - (F - K)
        otm_call = False
    elif (not call) and K > F:
        q = p - (K - F)
        otm_call = True
    if not (q > 1e-14 * F):
        return math.nan, IV_BELOW_INTRINSIC
    log_q = math.log(q)
    lo = IV_LO
    hi = IV_HI
    if _undiscounted(F, K, T, hi, otm_call) <= q:
        return math.nan, IV_NO_CONVERGENCE
    if _undiscounted(F, K, T, lo, otm_call) >= q:
        return math.nan, IV_NO_CONVERGENCE
    # Brenner-Subrahmanyam start, clamped into the bracket
    sigma = math.sqrt(2.0 * math.pi / T) * q / F
    if not (lo < sigma < hi):
        sigma = 0.5 * (lo + hi) if sigma >= hi else 2.0 * lo
    for _ in range(200):
        b = _undiscounted(F, K, T, sigma, otm_call)
        if b <= 0.0:                       # underflow: far below the target
            lo = sigma
            sigma = 0.5 * (lo + hi)
            continue
        f = math.log(b) - log_q
        if abs(f) < IV_TOL:
            return sigma, IV_OK
        if f > 0.0:
            hi = sigma
        else:
            lo = sigma
        if hi - lo < IV_TOL * hi:
            return 0.5 * (lo + hi), IV_OK
        vega = F * _npdf(_d1(F, K, T, sigma)) * math.sqrt(T)
        step_ok = False
        if vega > 0.0:
            nxt = sigma - f * b / vega     # Newton on log(price): d log b / d sigma = vega / b
            if lo < nxt < hi:
                step_ok = True
        if not step_ok:
            nxt = 0.5 * (lo + hi)
        sigma = nxt
    return math.nan, IV_NO_CONVERGENCE


@numba.njit(cache=True)
def _iv_loop(price, F, K, T, r, call, out, status):
    for i in range(out.size):
        s, st = _iv_one(price[i], F[i], K[i], T[i], r[i], call[i])
        out[i] = s
        status[i] = st


def _broadcast(arrs):
    """``np.broadcast_to`` each array (plain read-only views, unlike ``broadcast_arrays``' views,
    whose writeable flag warns when numba reads it); arrays already of the shape pass as they are."""
    shape = np.broadcast_shapes(*(a.shape for a in arrs))
    return [a if a.shape == shape else np.broadcast_to(a, shape) for a in arrs], shape


def _own(a: np.ndarray) -> np.ndarray:
    """A broadcast view that happened to be contiguous (e.g. empty) is read-only: copy it."""
    return a if a.flags.writeable else a.copy()


def _prepare(*arrays, is_call=None):
    """Broadcast to one shape; float64 contiguous 1-D copies plus the shape to restore."""
    arrs = [np.asarray(a, dtype=np.float64) for a in arrays]
    if is_call is not None:
        arrs.append(np.asarray(is_call))
    b, shape = _broadcast(arrs)
    flat = [_own(np.ascontiguousarray(x, dtype=np.float64).ravel()) for x in b[: len(arrays)]]
    if is_call is not None:
        c = b[-1]
        if c.dtype != np.bool_:
            if c.dtype.kind in "US":
                bad = ~np.isin(c, ["C", "P", "c", "p"])
                if bad.any():
                    raise ValueError(f"is_call: expected bool or 'C'/'P', got {c[bad].ravel()[0]!r}")
                c = np.char.upper(c.astype(str)) == "C"
            else:
                c = c.astype(bool)
        flat.append(_own(np.ascontiguousarray(c, dtype=np.bool_).ravel()))
    return flat, shape


def price(F, K, T, sigma, is_call, r=0.0) -> np.ndarray:
    """Black-76 price ``D * (F N(d1) - K N(d2))`` (call) / ``D * (K N(-d2) - F N(-d1))`` (put)."""
    (F, K, T, sigma, r, c), shape = _prepare(F, K, T, sigma, r, is_call=is_call)
    out = np.empty(F.size)
    _price_loop(F, K, T, sigma, c, r, out)
    return out.reshape(shape)


def greeks(F, K, T, sigma, is_call=True, r=0.0) -> dict[str, np.ndarray]:
    """Delta (per point of F), gamma (per point per point) and vega (per unit of sigma)."""
    (F, K, T, sigma, r, c), shape = _prepare(F, K, T, sigma, r, is_call=is_call)
    delta, gamma_, vega = np.empty(F.size), np.empty(F.size), np.empty(F.size)
    _greeks_loop(F, K, T, sigma, c, r, delta, gamma_, vega)
    return {"delta": delta.reshape(shape), "gamma": gamma_.reshape(shape), "vega": vega.reshape(shape)}


def gamma(F, K, T, sigma, r=0.0) -> np.ndarray:
    """Black-76 gamma ``D phi(d1) / (F sigma sqrt(T))``: the same for calls and puts."""
    return greeks(F, K, T, sigma, True, r)["gamma"]


def implied_vol(option_price, F, K, T, is_call, r=0.0) -> tuple[np.ndarray, np.ndarray]:
    """Implied vol per option and a status code per option (``IV_OK`` where it inverted).

    Failed elements are NaN; ``IV_STATUS_NAMES`` says why. Never raises for bad values.
    """
    (p, F, K, T, r, c), shape = _prepare(option_price, F, K, T, r, is_call=is_call)
    out = np.empty(p.size)
    status = np.empty(p.size, dtype=np.int8)
    _iv_loop(p, F, K, T, r, c, out, status)
    return out.reshape(shape), status.reshape(shape)


def years_to_expiry(expiration_ns, now_ns) -> np.ndarray:
    """Year fraction (``DAY_COUNT``) between two nanosecond timestamps (negative once expired)."""
    return (np.asarray(expiration_ns, dtype=np.int64) - np.asarray(now_ns, dtype=np.int64)) / YEAR_NS
