"""Whole-day versions of the ledger and the baselines: same rules as the per-step objects, over arrays.

A full RTH day is 46,800 frames; stepping four baselines and five ledgers frame by frame
in Python costs minutes. These functions take the day's arrays (frame times, spots,
ticks, scalars) and return exactly what the per-step objects return, still without
lookahead: the forecast at frame i uses frames ≤ i only, and a learned baseline updates
horizon h from origin o only at the frame that resolves o's h-step move.

Equality with ``Ledger`` and ``baselines.forecasters`` is tested (tests/baselines/test_baselines_batch.py).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from marketphys.core.ledger import EXPIRED, PENDING, RESOLVED


def ledger_history(ts_ns: np.ndarray, spot: np.ndarray, tick: np.ndarray, x_hat: np.ndarray, dt_ns: int,
                   tolerance_ns: int | None = None) -> pd.DataFrame:
    """``Ledger.history()`` of a forecaster that forecast ``x_hat[i]`` at every frame i (rows sorted by origin).

    The frame that resolves target T is the first one at or after T − tol; it resolves
    when it lies within T ± tol, else the target expired. An origin enters the history
    once no horizon is pending, i.e. some frame at or after each target's T − tol exists.
    """
    ts = np.asarray(ts_ns, dtype=np.int64)
    spot, tick = np.asarray(spot, np.float64), np.asarray(tick, np.float64)
    x_hat = np.asarray(x_hat, np.float64)
    F, H = x_hat.shape
    tol = int(dt_ns // 4 if tolerance_ns is None else tolerance_ns)
    if F and np.any(np.diff(ts) <= 0):
        raise ValueError("ledger_history: frame times must increase")
    target = ts[:, None] + np.arange(1, H + 1, dtype=np.int64)[None, :] * int(dt_ns)       # (F, H)
    j = np.searchsorted(ts, target - tol, side="left")
    seen = j < F
    jc = np.minimum(j, F - 1)
    resolved = seen & (np.abs(ts[jc] - target) <= tol)
    status = np.where(resolved, RESOLVED, np.where(seen, EXPIRED, PENDING)).astype(np.int8)
    actual = np.where(resolved, (spot[jc] - spot[:, None]) / tick[:, None], np.nan)
    done = np.all(status != PENDING, axis=1)
    idx = np.flatnonzero(done)
    if not idx.size:
        return pd.DataFrame(columns=["origin_ts_ns", "horizon", "spot", "x_hat", "actual", "error", "status"])
    a, x, s = actual[idx].ravel(), x_hat[idx].ravel(), status[idx].ravel()
    return pd.DataFrame({
        "origin_ts_ns": np.repeat(ts[idx], H), "horizon": np.tile(np.arange(1, H + 1), idx.size),
        "spot": np.repeat(spot[idx], H), "x_hat": x, "actual": a, "error": a - x,
        "status": pd.Categorical.from_codes(s, ["pending", "resolved", "expired"]),
    })


def _gap_ok(ts: np.ndarray, max_gap_s: float) -> np.ndarray:
    """(F,) True where the frame follows the previous one within (0, max_gap_s]; False at frame 0."""
    ok = np.zeros(ts.shape[0], dtype=bool)
    if ts.shape[0] > 1:
        gap = np.diff(ts) / 1e9
        ok[1:] = (gap > 0) & (gap <= max_gap_s)
    return ok


def one_frame_moves(ts: np.ndarray, spot: np.ndarray, tick: np.ndarray, max_gap_s: float) -> tuple[np.ndarray, np.ndarray]:
    """(moves in ticks since the previous frame, valid mask): the quantity ConstantVelocity and AR use."""
    ok = _gap_ok(ts, max_gap_s)
    r = np.zeros(ts.shape[0])
    r[1:] = (spot[1:] - spot[:-1]) / tick[1:]
    return np.where(ok, r, 0.0), ok


def random_walk(ts, spot, tick, horizons: int = 4, **_) -> np.ndarray:
    return np.zeros((np.shape(ts)[0], horizons))


def constant_velocity(ts, spot, tick, horizons: int = 4, dt: float = 0.5, max_gap_s: float = 2.0) -> np.ndarray:
    ts = np.asarray(ts, np.int64)
    ok = _gap_ok(ts, max_gap_s)
    v = np.zeros(ts.shape[0])
    gap = np.diff(ts) / 1e9
    v[1:] = np.where(ok[1:], (np.asarray(spot)[1:] - np.asarray(spot)[:-1]) / np.asarray(tick)[1:] / np.where(ok[1:], gap, 1.0), 0.0)
    return v[:, None] * dt * np.arange(1, horizons + 1)[None, :]


def ar_features(ts, spot, tick, order: int = 3, max_gap_s: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """(F, order) last one-frame moves, newest first, and a valid mask (``order`` moves since the last gap)."""
    ts = np.asarray(ts, np.int64)
    F = ts.shape[0]
    r, ok = one_frame_moves(ts, np.asarray(spot, np.float64), np.asarray(tick, np.float64), max_gap_s)
    # a gap clears the history; the first frame neither adds nor clears
    cleared = ~ok
    cleared[0] = False
    run = np.zeros(F, dtype=np.int64)       # moves held since the last clear
    last_clear = np.maximum.accumulate(np.where(cleared, np.arange(F), -1))
    run = np.where(last_clear >= 0, np.arange(F) - last_clear, np.arange(F))
    X = np.zeros((F, order))
    for k in range(order):
        X[k:, k] = r[:F - k] if k else r
    return X, run >= order


def _rls_direct(ts, spot, tick, X, valid, H, dt_ns, tol_ns, forgetting, ridge, lookback):
    """Direct h-step RLS regressions, online, as ``_DirectRegression.step`` (pure Python fallback)."""
    F, d = X.shape
    W = np.zeros((H, d))
    P = np.repeat((np.eye(d) / ridge)[None], H, axis=0)
    out = np.zeros((F, H))
    for j in range(F):
        for p in range(max(0, j - lookback), j):
            if not valid[p]:
                continue
            h = int(round((ts[j] - ts[p]) / dt_ns))
            if 1 <= h <= H and abs(ts[j] - ts[p] - h * dt_ns) <= tol_ns:
                y = (spot[j] - spot[p]) / tick[p]
                x = X[p]
                if not (np.all(np.isfinite(x)) and np.isfinite(y)):
                    continue
                m = h - 1
                Px = P[m] @ x
                k = Px / (forgetting + x @ Px)
                W[m] = W[m] + k * (y - W[m] @ x)
                Pm = (P[m] - np.outer(k, Px)) / forgetting
                P[m] = 0.5 * (Pm + Pm.T)
        if valid[j]:
            out[j] = W @ X[j]
    return out


try:  # the same loop compiled; the fallback above is the spec and is used when numba is missing
    import numba

    @numba.njit(cache=True)
    def _rls_direct_nb(ts, spot, tick, X, valid, H, dt_ns, tol_ns, forgetting, ridge, lookback):  # pragma: no cover
        F, d = X.shape
        W = np.zeros((H, d))
        P = np.zeros((H, d, d))
        for m in range(H):
            for a in range(d):
                P[m, a, a] = 1.0 / ridge
        out = np.zeros((F, H))
        Px = np.zeros(d)
        for j in range(F):
            for p in range(max(0, j - lookback), j):
                if not valid[p]:
                    continue
                h = int(np.round((ts[j] - ts[p]) / dt_ns))
                if h < 1 or h > H or abs(ts[j] - ts[p] - h * dt_ns) > tol_ns:
                    continue
                y = (spot[j] - spot[p]) / tick[p]
                fin = np.isfinite(y)
                for a in range(d):
                    fin = fin and np.isfinite(X[p, a])
                if not fin:
                    continue
                m = h - 1
                den = forgetting
                for a in range(d):
                    s = 0.0
                    for b in range(d):
                        s += P[m, a, b] * X[p, b]
                    Px[a] = s
                    den += X[p, a] * s
                pred = 0.0
                for a in range(d):
                    pred += W[m, a] * X[p, a]
                for a in range(d):
                    W[m, a] += Px[a] / den * (y - pred)
                for a in range(d):
                    for b in range(d):
                        P[m, a, b] = (P[m, a, b] - Px[a] / den * Px[b]) / forgetting
                for a in range(d):
                    for b in range(a + 1, d):
                        s = 0.5 * (P[m, a, b] + P[m, b, a])
                        P[m, a, b] = s
                        P[m, b, a] = s
            if valid[j]:
                for m in range(H):
                    s = 0.0
                    for a in range(d):
                        s += W[m, a] * X[j, a]
                    out[j, m] = s
        return out
except ImportError:  # pragma: no cover - numba is in the pipeline extra
    _rls_direct_nb = None


def direct_regression(ts, spot, tick, X, valid, horizons: int = 4, dt: float = 0.5, forgetting: float = 0.999,
                      ridge: float = 1e-2, compiled: bool = True) -> np.ndarray:
    """Forecasts of an online direct regression (OnlineAR / OfiRegression) at every frame, (F, H)."""
    dt_ns = int(round(dt * 1e9))
    args = (np.asarray(ts, np.int64), np.asarray(spot, np.float64), np.asarray(tick, np.float64),
            np.ascontiguousarray(X, np.float64), np.asarray(valid, bool), int(horizons), dt_ns, dt_ns // 4,
            float(forgetting), float(ridge), 4 * int(horizons) + 8)
    fn = _rls_direct_nb if (compiled and _rls_direct_nb is not None) else _rls_direct
    return fn(*args)


def baseline_forecasts(baselines, ts, spot, tick, scalars: dict[str, np.ndarray], compiled: bool = True) -> dict[str, np.ndarray]:
    """x̂ (F, H) per baseline for a day of frames; ``baselines`` are the per-step objects (their settings are used).

    Knows the four default baselines; any other forecaster is stepped frame by frame by the caller.
    """
    from marketphys.baselines.forecasters import ConstantVelocity, Microprice, OfiRegression, OnlineAR, RandomWalk

    ts = np.asarray(ts, np.int64)
    F = ts.shape[0]
    out = {}
    for b in baselines:
        kw = {"horizons": b.H}
        if type(b) is RandomWalk:
            out[b.name] = random_walk(ts, spot, tick, **kw)
        elif type(b) is ConstantVelocity:
            out[b.name] = constant_velocity(ts, spot, tick, dt=b.dt, max_gap_s=b.max_gap_s, **kw)
        elif type(b) is OnlineAR:
            X, ok = ar_features(ts, spot, tick, b.order, b.max_gap_s)
            out[b.name] = direct_regression(ts, spot, tick, X, ok, dt=b.dt, forgetting=b.forgetting, ridge=b.ridge,
                                            compiled=compiled, **kw)
        elif isinstance(b, Microprice):
            present = scalars.get("queue_imbalance:present")
            if present is None:
                raise ValueError("baseline_forecasts: Microprice needs scalars['queue_imbalance:present'] (day_arrays)")
            X, ok = b.day_features(scalars, present)
            out[b.name] = direct_regression(ts, spot, tick, X, ok, dt=b.dt, forgetting=b.forgetting, ridge=b.ridge,
                                            compiled=compiled, **kw)
        elif isinstance(b, OfiRegression):
            cols = [np.asarray(scalars.get(c, np.zeros(F)), np.float64) for c in b.channels]
            if b.intercept:
                cols.append(np.ones(F))
            X = np.stack(cols, axis=1)
            out[b.name] = direct_regression(ts, spot, tick, X, np.ones(F, bool), dt=b.dt, forgetting=b.forgetting,
                                            ridge=b.ridge, compiled=compiled, **kw)
        else:
            raise TypeError(f"no whole-day version of baseline {b.name!r} ({type(b).__name__}); step it per frame")
    return out
