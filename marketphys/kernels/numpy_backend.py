"""The numpy backend: the readable float64 reference, built from marketphys.core.

Every shader backend is tested against these functions; they call the same core
code the Engine runs (rollout, Ledger, GaussNewtonLearner, obstacle_field).
"""

from __future__ import annotations

import numpy as np

from marketphys.core.fields import Fields
from marketphys.core.grid import Grid
from marketphys.core.integrator import IntegratorConfig, RolloutResult, rollout
from marketphys.core.learner import GaussNewtonLearner
from marketphys.core.ledger import Ledger, LedgerEntry
from marketphys.core.rng import philox4x32, normal, seed_key
from marketphys.core.theta import N_PARAMS, ThetaBounds
from marketphys.core.walls import obstacle_field
from marketphys.kernels import layout
from marketphys.kernels.base import KernelBackend, fields_matrix
from marketphys.kernels.replay import CalibrationResult, ReplayBlock, hyper_from_engine, lane_settings


def compose_reference(grid: Grid, contrib: np.ndarray, walls: np.ndarray) -> np.ndarray:
    """(F, 5, cells) + (F, W, 3) -> (F, 7, cells), via core Fields and obstacle_field."""
    contrib = np.asarray(contrib, dtype=np.float64)
    walls = np.asarray(walls, dtype=np.float64)
    if contrib.ndim == 2:
        contrib, walls = contrib[None], walls[None]
    out = np.empty((contrib.shape[0], layout.N_FIELDS, grid.size))
    for f in range(contrib.shape[0]):
        out[f] = fields_matrix(frame_fields(grid, contrib[f], walls[f]))
    return out


def frame_fields(grid: Grid, contrib: np.ndarray, walls: np.ndarray) -> Fields:
    U, C, G, O, D = contrib
    with np.errstate(invalid="ignore", over="ignore"):
        if walls.shape[0]:
            O = O + obstacle_field(grid, walls[:, 0], walls[:, 1], walls[:, 2])
        return Fields.from_arrays(grid, U=U, C=C, G=G, O=O, D=D)


class NumpyBackend(KernelBackend):
    name = "numpy"

    def compose(self, grid, contrib, walls):
        return compose_reference(grid, contrib, walls)

    def rollout(self, fields, theta, v0, cfg: IntegratorConfig, *, sensitivities=True, seed=None, lane_offset=0,
                x0=0.0, stream=0, grid: Grid | None = None) -> RolloutResult:
        if not isinstance(fields, Fields):
            m = fields_matrix(fields)
            if grid is None or grid.size != m.shape[1]:
                raise ValueError(f"rollout on a bare array needs grid= with {m.shape[1]} cells")
            fields = Fields(grid, *m)
        with np.errstate(invalid="ignore", over="ignore"):
            return rollout(fields, theta, v0, cfg, sensitivities=sensitivities, seed=seed, lane_offset=lane_offset,
                           x0=x0, stream=stream)

    def philox(self, seed: int, lanes: int, steps: int, stream: int = 0, lane_offset: int = 0):
        k0, k1 = seed_key(seed)
        lane = (np.arange(lanes, dtype=np.uint32) + np.uint32(lane_offset))[:, None]
        step = np.arange(steps, dtype=np.uint32)[None, :]
        words = np.stack(philox4x32(lane, step, stream, 0, k0, k1), axis=-1)
        return words, normal(seed, lane, step, stream)

    def calibrate(self, block: ReplayBlock, theta0, hyper=None, *, bounds: ThetaBounds | None = None,
                  prior_strength=1.0, state=None, trace=False, chunk_frames: int = 4096) -> CalibrationResult:
        """Per lane: a Ledger and a GaussNewtonLearner driven exactly like Engine.step.

        Guard counters are totals over all lanes, reported in row 0 of ``stats``.
        """
        from marketphys.core.engine import EngineConfig

        bounds = bounds or ThetaBounds()
        cfg, H = block.integrator, block.integrator.horizons
        if state is None:
            theta0 = np.atleast_2d(np.asarray(theta0, dtype=np.float64))
            L = theta0.shape[0]
            if hyper is None:
                hyper = hyper_from_engine(EngineConfig(grid=block.grid, integrator=cfg), L)
            prior = np.broadcast_to(np.asarray(prior_strength, float), (L,))
            state = []
            for lane in range(L):
                learner = GaussNewtonLearner(theta0[lane], bounds=bounds, cfg=cfg,
                                             settings=lane_settings(hyper[lane], H, prior[lane]))
                ledger = Ledger(H, dt_ns=block.dt_units, tolerance_ns=block.tol_units, keep_history=False)
                state.append({"learner": learner, "ledger": ledger, "loss_sum": 0.0, "stats": np.zeros(4, np.int64)})
        elif not (isinstance(state, list) and all(isinstance(s, dict) and "learner" in s for s in state)):
            raise ValueError("state must come from a previous numpy calibrate() result (states do not cross backends)")
        L = len(state)
        F = block.n_frames
        tx = np.empty((L, F, H)) if trace else None
        tt = np.empty((L, F, N_PARAMS)) if trace else None
        for f in range(F):
            t, spot = int(block.t[f]), float(block.spot[f])
            for s in state:
                for e in s["ledger"].resolve(t, spot):
                    if e.mask.any():
                        s["loss_sum"] += s["learner"].learn_one(e.x_hat, e.jac, e.theta, e.actual, e.mask)
            fields = frame_fields(block.grid, block.contrib[f], block.walls[f])
            thetas = np.stack([s["learner"].theta for s in state])
            with np.errstate(invalid="ignore", over="ignore"):
                res = rollout(fields, thetas, block.v0[f], cfg, sensitivities=True, x0=block.x0[f])
            for lane, s in enumerate(state):
                s["ledger"].add(LedgerEntry(t, spot, 1.0, res.x[lane].copy(), res.jac[lane].copy(), thetas[lane].copy(),
                                            block.dt_units))
                if trace:
                    tx[lane, f] = res.x[lane]
                    tt[lane, f] = thetas[lane]
            # the vectorised reference counts guards over all lanes together: totals go to lane 0's row
            st = res.stats
            state[0]["stats"] += (st.clamp_a, st.clamp_v, st.nonfinite, st.off_grid)
        theta = np.stack([s["learner"].theta for s in state])
        n = np.stack([s["ledger"].n for s in state])
        with np.errstate(invalid="ignore", divide="ignore"):
            mae = np.stack([s["ledger"].sum_abs for s in state]) / n
            rmse = np.sqrt(np.stack([s["ledger"].sum_sq for s in state]) / n)
        return CalibrationResult(backend=self.name, theta=theta,
                                 n_updates=np.array([s["learner"].n_updates for s in state]),
                                 loss_sum=np.array([s["loss_sum"] for s in state]), n=n, mae=mae, rmse=rmse,
                                 stats=np.stack([s["stats"] for s in state]), state=state, trace_x=tx, trace_theta=tt)
