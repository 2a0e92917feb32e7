"""The latent mid: the engine's own dynamics integrated through the ground-truth medium.

Per window w the fields are sampled on the engine grid centred on the latent mid at the
window start, then ``substeps`` semi-implicit Euler steps (drag implicit) run exactly as in
:func:`marketphys.core.integrator.rollout` (same interpolation, caps, and Philox noise
``normal(seed, lane 0, step k, stream w)``). So one window of this path equals one
``rollout(fields_w, θ, v_w, horizons=1, seed=seed, stream=w)`` — tested.
It is compiled with numba because a session has 46,800 windows × 8 substeps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba as nb
import numpy as np

from marketphys.core.grid import Grid
from marketphys.core.integrator import IntegratorConfig
from marketphys.core.rng import normal
from marketphys.synth.config import TICK, SynthConfig
from marketphys.synth.medium import VACUUM_VISCOSITY_CUT, VISCOSITY_FLOOR, Medium


@dataclass
class LatentPath:
    mid_ticks: np.ndarray      # (W+1,) latent mid at each window boundary (absolute ticks)
    velocity: np.ndarray       # (W+1,) ticks/s at each boundary
    sub_ticks: np.ndarray      # (W·substeps,) latent mid after every substep
    guards: dict               # clamp/off-grid counters, as the integrator reports them


@nb.njit(cache=True)
def _integrate(spot0, v0, n, dx, theta, wall_c, wall_w, wall_s, vac_c, vac_w, vac_a, vac_ref, visc, drift,
               diffusion, dt, substeps, a_max, v_max, z):
    W = drift.shape[0]
    size = 2 * n + 1
    h = dt / substeps
    mids = np.empty(W + 1)
    vels = np.empty(W + 1)
    sub = np.empty(W * substeps)
    guards = np.zeros(4, np.int64)  # clamp_a, clamp_v, nonfinite, off_grid
    U = np.empty(size)
    G = np.empty(size)
    O = np.empty(size)
    dU = np.empty(size)
    dO = np.empty(size)
    wU, wC, wG, wO, b = theta[0], theta[1], theta[2], theta[3], theta[4]
    s = spot0
    v = v0
    K = wall_c.shape[0]
    J = vac_c.shape[0]
    for w in range(W):
        mids[w] = s
        vels[w] = v
        for i in range(size):
            p = s + (i - n) * dx
            o = 0.0
            for k in range(K):
                zz = (p - wall_c[k]) / wall_w
                o += wall_s[w, k] * np.exp(-0.5 * zz * zz)
            vac = 0.0
            for j in range(J):
                zz = (p - vac_c[j]) / vac_w
                vac += vac_a[w, j] * np.exp(-0.5 * zz * zz)
            O[i] = o
            U[i] = -vac
            G[i] = visc * max(1.0 - VACUUM_VISCOSITY_CUT * vac / vac_ref, VISCOSITY_FLOOR)
        for i in range(1, size - 1):
            dU[i] = (U[i + 1] - U[i - 1]) / (2.0 * dx)
            dO[i] = (O[i + 1] - O[i - 1]) / (2.0 * dx)
        dU[0] = (U[1] - U[0]) / dx
        dU[size - 1] = (U[size - 1] - U[size - 2]) / dx
        dO[0] = (O[1] - O[0]) / dx
        dO[size - 1] = (O[size - 1] - O[size - 2]) / dx
        c = drift[w]
        if abs(v) > v_max:
            guards[1] += 1
            v = min(max(v, -v_max), v_max)
        x = 0.0
        for k in range(substeps):
            f = x / dx + n
            if not (f >= 0.0 and f <= size - 1):
                guards[3] += 1
            ff = f if np.isfinite(f) else 0.0
            i0 = int(min(max(np.floor(ff), 0.0), size - 2.0))
            t = min(max(f - i0, 0.0), 1.0)
            if not np.isfinite(t):
                t = 0.0
            f_u = -(dU[i0] * (1.0 - t) + dU[i0 + 1] * t)
            gam = G[i0] * (1.0 - t) + G[i0 + 1] * t
            f_o = -(dO[i0] * (1.0 - t) + dO[i0 + 1] * t)
            # drag taken implicitly, exactly as core.integrator.rollout does
            A = wU * f_u + wC * c + wO * f_o + b
            kappa = wC + wG * gam
            if not (np.isfinite(A) and np.isfinite(kappa)):
                guards[2] += 1
                A = 0.0
                kappa = 0.0
            v_new = (v + h * A) / (1.0 + h * kappa)
            a = (v_new - v) / h
            if abs(a) > a_max:
                guards[0] += 1
                a = min(max(a, -a_max), a_max)
                v_new = v + h * a
            v = v_new
            if abs(v) > v_max:
                guards[1] += 1
                v = min(max(v, -v_max), v_max)
            x = x + v * h
            x = x + np.sqrt(2.0 * max(diffusion, 0.0) * h) * z[w, k]
            sub[w * substeps + k] = s + x
        s = s + x
    mids[W] = s
    vels[W] = v
    return mids, vels, sub, guards


def path_noise(seed: int, n_windows: int, substeps: int) -> np.ndarray:
    """z[w, k] = normal(seed, lane 0, step k, stream w): the integrator's noise for window w."""
    return normal(seed, 0, np.arange(substeps, dtype=np.uint32)[None, :], np.arange(n_windows, dtype=np.uint32)[:, None])


def integrator_config(cfg: SynthConfig) -> IntegratorConfig:
    """One window = one horizon of the engine's integrator."""
    return IntegratorConfig(dt=0.5, horizons=1, substeps=cfg.substeps)


def simulate_path(cfg: SynthConfig, med: Medium, grid: Grid | None = None) -> LatentPath:
    grid = grid or Grid()
    icfg = integrator_config(cfg)
    z = path_noise(cfg.seed, cfg.n_windows, cfg.substeps)
    mids, vels, sub, g = _integrate(
        cfg.open_price / TICK, 0.0, grid.n, grid.dx, np.asarray(cfg.theta, np.float64),
        med.wall_ticks, cfg.wall_width_ticks, np.ascontiguousarray(med.wall_strength, np.float64),
        med.vacuum_ticks, cfg.vacuum_width_ticks, np.ascontiguousarray(med.vacuum_amp, np.float64),
        max(cfg.vacuum_depth[1], 1e-9), cfg.viscosity, np.ascontiguousarray(med.drift, np.float64),
        cfg.diffusion, icfg.dt, icfg.substeps, icfg.a_max, icfg.v_max, np.ascontiguousarray(z))
    guards = {"clamp_a": int(g[0]), "clamp_v": int(g[1]), "nonfinite": int(g[2]), "off_grid": int(g[3])}
    return LatentPath(mids, vels, sub, guards)
