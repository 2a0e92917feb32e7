"""GEX of many options at shifted underlying levels, and the zero-gamma root: pure array math.

Why its own module: the offline chain (``marketphys.chain.exposure.chain_gex``) and the options
stage of the lake (one profile per 1 s window) must compute the same number from the same inputs,
so both call these functions; it lives in the data layer, below the chain, so both may. Every
option ``i`` belongs to a group ``g[i]`` (a window of the stage; a single group for one chain)
and carries

    w[i] = sign * open_interest * multiplier * 0.01     (sign: the dealer convention)

so its GEX at a move of the underlying by the factor ``s`` (every forward scales with the
spot: ``F -> s F``) is ``w * gamma76(s F, K, T, sigma) * (s F)**2``, dollars per 1 % move.
That equals the Black-Scholes spot form ``Gamma_S * S**2`` when ``F = S exp((r - q) T)``.
"""

from __future__ import annotations

import math
from typing import Callable

import numba
import numpy as np

from . import black76
from .black76 import _npdf

SigmaAt = Callable[[np.ndarray], np.ndarray]   # per-row scale -> per-row sigma (sticky moneyness)


def gex_at(scale, F, K, T, sigma, w, r=0.0) -> np.ndarray:
    """Per-option GEX when every forward is multiplied by ``scale`` (broadcasts)."""
    Fs = np.asarray(F, float) * np.asarray(scale, float)
    return np.asarray(w, float) * black76.gamma(Fs, K, T, sigma, r) * Fs ** 2


@numba.njit(cache=True)
def _group_sums(groups, scale_of_group, F, K, T, sigma, w, r, out):
    """out[g] = sum over rows of group g of w * gamma76(s F) * (s F)^2, s = scale_of_group[g].

    One compiled pass, no temporaries: the options stage runs it for every level of every
    window's profile. Rows whose inputs are degenerate (T, sigma, F or K not > 0) add 0,
    the Black-76 limit (see ``black76``)."""
    out[:] = 0.0
    for i in range(groups.size):
        g = groups[i]
        Fs = F[i] * scale_of_group[g]
        sq = sigma[i] * math.sqrt(T[i]) if T[i] > 0.0 else 0.0
        if not (sq > 0.0 and Fs > 0.0 and K[i] > 0.0):
            continue
        d1 = (math.log(Fs / K[i]) + 0.5 * sq * sq) / sq
        out[g] += w[i] * math.exp(-r * T[i]) * _npdf(d1) * Fs / sq


def _sums(groups, n_groups, scale_of_group, F, K, T, sigma, w, r) -> np.ndarray:
    out = np.empty(n_groups)
    f = (lambda a: np.ascontiguousarray(a, dtype=np.float64))
    _group_sums(np.ascontiguousarray(groups, dtype=np.int64), f(scale_of_group), f(F), f(K), f(T), f(sigma), f(w),
                float(r), out)
    return out


@numba.njit(cache=True)
def _profile_sums(groups, scales, F, K, T, sigma, w, r, out):
    """``_group_sums`` at every scale in one pass over the rows (the terms and their order of
    summation per (group, scale) are the same, so are the bits); the row's discount and
    sigma * sqrt(T) are computed once instead of once per scale."""
    out[:, :] = 0.0
    for i in range(groups.size):
        g = groups[i]
        sq = sigma[i] * math.sqrt(T[i]) if T[i] > 0.0 else 0.0
        if not (sq > 0.0 and K[i] > 0.0):
            continue
        disc = w[i] * math.exp(-r * T[i])
        for j in range(scales.size):
            Fs = F[i] * scales[j]
            if not Fs > 0.0:
                continue
            d1 = (math.log(Fs / K[i]) + 0.5 * sq * sq) / sq
            out[g, j] += disc * _npdf(d1) * Fs / sq


def profile(groups, n_groups, scales, F, K, T, sigma, w, r=0.0, sigma_at: SigmaAt | None = None) -> np.ndarray:
    """Net GEX per group at each scale: an (n_groups, len(scales)) array."""
    groups = np.asarray(groups, np.int64)
    out = np.zeros((n_groups, len(scales)))
    if sigma_at is None:
        f = (lambda a: np.ascontiguousarray(a, dtype=np.float64))
        _profile_sums(groups, f(scales), f(F), f(K), f(T), f(sigma), f(w), float(r), out)
        return out
    for j, s in enumerate(np.asarray(scales, float)):
        if sigma_at is None:
            out[:, j] = _sums(groups, n_groups, np.full(n_groups, s), F, K, T, sigma, w, r)
        else:
            sig = sigma_at(np.full(len(groups), s))
            out[:, j] = np.bincount(groups, weights=gex_at(s, F, K, T, sig, w, r), minlength=n_groups)
    return out


def zero_gamma(groups, n_groups, scales, prof, F, K, T, sigma, w, r=0.0, sigma_at: SigmaAt | None = None,
               iterations: int = 60) -> np.ndarray:
    """Per group, the scale nearest 1 where the net profile changes sign; NaN where it does not.

    The sign change is bracketed on the ``scales`` grid (``prof`` from ``profile``), then the
    root is refined on the exact profile (Illinois regula falsi, to ~1e-15 of the level), so it
    does not depend on the grid step.
    An exact zero on the grid is returned as it is.
    """
    scales = np.asarray(scales, float)
    groups = np.asarray(groups, np.int64)
    lo = np.full(n_groups, np.nan)
    hi = np.full(n_groups, np.nan)
    root = np.full(n_groups, np.nan)
    a, b = prof[:, :-1], prof[:, 1:]
    change = (np.sign(a) * np.sign(b) < 0)
    exact = prof == 0.0
    # the bracket (or exact zero) nearest scale 1 per group
    mids = 0.5 * (scales[:-1] + scales[1:])
    dist_c = np.where(change, np.abs(mids - 1.0)[None, :], np.inf)
    dist_e = np.where(exact & (np.abs(prof).sum(axis=1, keepdims=True) > 0), np.abs(scales - 1.0)[None, :], np.inf)
    jc = np.argmin(dist_c, axis=1)
    je = np.argmin(dist_e, axis=1)
    have_c = np.isfinite(dist_c[np.arange(n_groups), jc])
    have_e = np.isfinite(dist_e[np.arange(n_groups), je])
    use_e = have_e & (~have_c | (dist_e[np.arange(n_groups), je] <= dist_c[np.arange(n_groups), jc]))
    root[use_e] = scales[je[use_e]]
    bis = have_c & ~use_e
    lo[bis], hi[bis] = scales[jc[bis]], scales[jc[bis] + 1]
    if bis.any():
        ar = np.arange(n_groups)
        a, b = np.where(bis, lo, 1.0), np.where(bis, hi, 1.0)
        fa, fb = np.where(bis, prof[ar, jc], 0.0), np.where(bis, prof[ar, np.minimum(jc + 1, prof.shape[1] - 1)], 0.0)
        rows = bis[groups]
        g = groups[rows]
        Fr, Kr, Tr, wr = (np.asarray(x, float)[rows] for x in (F, K, T, w))
        sr = np.asarray(sigma, float)[rows]
        live = bis.copy()
        tiny = 1e-15 * np.abs(prof).max(axis=1)
        best = np.where(bis, 0.5 * (a + b), np.nan)
        for _ in range(iterations):
            # Illinois (regula falsi that halves the stale end's value): superlinear on a smooth profile
            den = np.where(live, fb - fa, 1.0)
            c = np.where(live & (den != 0), (a * fb - b * fa) / np.where(den != 0, den, 1.0), 0.5 * (a + b))
            c = np.where(live & ((c <= np.minimum(a, b)) | (c >= np.maximum(a, b))), 0.5 * (a + b), c)
            sub = live[g]                                   # only the groups still converging
            if sigma_at is None:
                fc = _sums(g[sub], n_groups, np.where(live, c, 1.0), Fr[sub], Kr[sub], Tr[sub], sr[sub], wr[sub], r)
            else:
                sig = _sub(sigma_at, c[g], rows)
                fc = np.bincount(g, weights=gex_at(c[g], Fr, Kr, Tr, sig, wr, r) * sub, minlength=n_groups)
            moved = np.abs(c - best)
            best = np.where(live, c, best)
            cross = np.sign(fc) * np.sign(fb) < 0
            a, fa = np.where(live & cross, b, a), np.where(live & cross, fb, np.where(live, fa * 0.5, fa))
            b, fb = np.where(live, c, b), np.where(live, fc, fb)
            live = live & (np.abs(fc) > tiny) & (np.abs(b - a) > 4e-16 * np.abs(b)) & (moved > 1e-15 * np.abs(c))
            if not live.any():
                break
        root[bis] = best[bis]
    return root


def _sub(sigma_at: SigmaAt, scale_rows: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """sigma_at takes a per-row scale over all rows; evaluate it and keep ``rows``."""
    full = np.ones(len(rows))
    full[rows] = scale_rows
    return sigma_at(full)[rows]
