"""The backend interface and the high-level kernel API shared by every shader backend.

``KernelBackend`` is what the rest of the project calls: ``compose``, ``rollout``,
``ensemble_bands``, ``philox`` and ``calibrate``. ``ShaderBackend`` implements all of
them once on top of one generic primitive, ``dispatch(shader, entry, n, params,
*buffers)`` — "compile this .metal, run this entry point on n threads with this
Params struct and these buffers" — which msl-cpu and metal provide. A new kernel
(e.g. shaders/render.metal) needs no change here: call ``dispatch`` with its own
Params dtype.
"""

from __future__ import annotations

import numpy as np

from marketphys.core.fields import Fields
from marketphys.core.grid import Grid
from marketphys.core.integrator import IntegratorConfig, RolloutResult, RolloutStats
from marketphys.core.rng import seed_key
from marketphys.core.theta import N_PARAMS, ThetaBounds
from marketphys.kernels import layout
from marketphys.kernels.quantiles import interpolate, quantile_ranks
from marketphys.kernels.replay import CalibrationResult, ReplayBlock, hyper_from_engine, initial_state
from marketphys.kernels.source import EntryPoint, entry_points, shader_path

_SCALAR_DTYPES = {"float": np.dtype("<f4"), "int": np.dtype("<i4"), "uint": np.dtype("<u4"), "uchar": np.dtype("u1"),
                  "float2": np.dtype("<f4"), "float4": np.dtype("<f4"), "uchar4": np.dtype("u1"),
                  "uint2": np.dtype("<u4"), "uint4": np.dtype("<u4"), "ulong": np.dtype("<u8")}


def _buffer_plan(ep: EntryPoint) -> list[tuple[str, str, np.dtype | None, bool]]:
    """(name, declared type, required dtype or None, writable) per buffer, computed once per entry point."""
    plan = ep.__dict__.get("_plan")
    if plan is None:
        plan = [(b.name, b.decl_type, layout.STRUCTS.get(b.element_type) or _SCALAR_DTYPES.get(b.element_type), b.writable)
                for b in ep.buffers]
        ep.__dict__["_plan"] = plan
    return plan


_UNUSED_ULONG = np.zeros(1, np.uint64)  # a ulong buffer the kernel does not read this call (no table, no pairs)

PAIR_MIN_LANES = 32
"""From this many replay lanes the block's field pairs (pair_rows) are built once and every lane
group reads them: fewer lanes would not win back the ~1,000 pairs written per frame (a lone
session lane replays ~40% slower with them)."""

TABLE_MIN_LANES = 64
"""From this many lanes sharing one theta (no sensitivities), a rollout first builds the frame's
medium table (one extra dispatch) and the lanes interpolate 3 rows instead of 5."""


class BackendUnavailable(RuntimeError):
    """This backend cannot run here; the message says why and what to do."""


class KernelBackend:
    """What callers use. Subclasses: NumpyBackend (reference) and ShaderBackend."""

    name = "abstract"

    # -- generic ----------------------------------------------------------------------
    def dispatch(self, shader, entry: str, n: int, params: np.ndarray, *buffers: np.ndarray) -> None:
        raise NotImplementedError(f"the {self.name} backend has no shader dispatch; use msl-cpu or metal")

    # -- physics ----------------------------------------------------------------------
    def compose(self, grid: Grid, contrib: np.ndarray, walls: np.ndarray) -> np.ndarray:
        """(F, 5, cells) contributions + (F, W, 3) walls -> (F, 7, cells) composed fields."""
        raise NotImplementedError

    def rollout(self, fields, theta, v0, cfg: IntegratorConfig, *, sensitivities: bool = True, seed: int | None = None,
                lane_offset: int = 0, x0=0.0, stream: int = 0, grid: Grid | None = None) -> RolloutResult:
        """H steps of Δt for every lane (θ rows × v0 × x0 broadcast), as core.integrator.rollout."""
        raise NotImplementedError

    def philox(self, seed: int, lanes: int, steps: int, stream: int = 0, lane_offset: int = 0):
        """(words (L, S, 4) uint32, normals (L, S)) for counters (lane, step, stream, 0)."""
        raise NotImplementedError

    def calibrate(self, block: ReplayBlock, theta0, hyper: np.ndarray | None = None, *,
                  bounds: ThetaBounds | None = None, prior_strength=1.0, state=None, trace: bool = False,
                  chunk_frames: int = 4096) -> CalibrationResult:
        """Each lane replays ``block`` through the whole online loop with its own θ0 and hyper-parameters.

        ``hyper`` comes from ``make_hyper`` (defaults: the Engine's). Pass ``state`` from a
        previous result to continue a session block by block.
        """
        raise NotImplementedError

    def ensemble_bands(self, fields, theta, v0: float, cfg: IntegratorConfig, n_paths: int, seed: int,
                       quantiles=(0.05, 0.25, 0.5, 0.75, 0.95), stream: int = 0, x0: float = 0.0):
        """Per-horizon quantiles of ``n_paths`` seeded diffusion paths (as core.integrator.ensemble_bands)."""
        theta = np.broadcast_to(np.asarray(theta, float), (n_paths, N_PARAMS))
        x, stats = self._ensemble_paths(fields, theta, np.broadcast_to(np.float64(v0), (n_paths,)), cfg, seed, stream, x0)
        qs = self.column_quantiles(x, quantiles)
        return {float(q): qs[i] for i, q in enumerate(quantiles)}, stats

    def _ensemble_paths(self, fields, theta, v0, cfg: IntegratorConfig, seed: int, stream: int, x0):
        """The paths' positions per horizon (lanes x H) and the summed guard counters."""
        res = self.rollout(fields, theta, v0, cfg, sensitivities=False, seed=seed, stream=stream, x0=x0)
        return res.x, res.stats

    def column_quantiles(self, x, quantiles) -> np.ndarray:
        """``np.quantile(x, quantiles, axis=0)`` for a (rows, cols) array."""
        return np.quantile(np.asarray(x, dtype=np.float64), quantiles, axis=0)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"

    def __reduce__(self):
        """Pickled by name (an engine sent to a Dask worker, a checkpoint): the compiled kernels stay
        behind and ``get_backend(name)`` resolves them again where the pickle is loaded."""
        return (_backend_named, (self.name,))


def _backend_named(name: str) -> "KernelBackend":
    from marketphys.kernels import get_backend

    return get_backend(name)


def fields_matrix(fields) -> np.ndarray:
    """A Fields object (or a (7, cells) array) as the kernels' (7, cells) row layout."""
    if isinstance(fields, Fields):
        return np.stack([getattr(fields, k) for k in layout.FIELD_ROWS])
    a = np.asarray(fields)
    if a.ndim != 2 or a.shape[0] != layout.N_FIELDS:
        raise ValueError(f"fields must be a Fields object or a ({layout.N_FIELDS}, cells) array {layout.FIELD_ROWS}, got shape {a.shape}")
    return a


def _one_if_same(a: np.ndarray) -> np.ndarray:
    """One row when every lane has the same value (an ensemble's broadcast θ, v0, x0): the
    kernel then reads it with stride 0, and one θ for all lanes lets it use the frame's
    medium table (``tabled``)."""
    if a.shape[0] > 1 and (a.strides[0] == 0 or bool((a == a[:1]).all())):
        return a[:1]
    return a


def _lanes(theta, v0, x0):
    theta = np.atleast_2d(np.asarray(theta, dtype=np.float64))
    if theta.shape[1] != N_PARAMS:
        raise ValueError(f"theta must have {N_PARAMS} columns, got shape {theta.shape}")
    v0 = np.atleast_1d(np.asarray(v0, dtype=np.float64))
    x0 = np.atleast_1d(np.asarray(x0, dtype=np.float64))
    L = max(theta.shape[0], v0.shape[0], x0.shape[0])
    for name, a in (("theta", theta), ("v0", v0), ("x0", x0)):
        if a.shape[0] not in (1, L):
            raise ValueError(f"{name} has {a.shape[0]} lanes but others have {L}")
    return theta, v0, x0, L


class ShaderBackend(KernelBackend):
    """High-level ops through ``dispatch``; subclasses provide ``_run(shader_path, entry, n, arrays)``."""

    lanes_per_thread = 1
    """MP_LANES of the default build: lanes one thread of a lane kernel (rollout, replay) advances."""

    def lane_width(self, lanes: int) -> int:
        """MP_LANES to dispatch ``lanes`` lanes with (a backend may keep narrower builds for few lanes)."""
        return self.lanes_per_thread

    @staticmethod
    def threads_for(lanes: int, width: int) -> int:
        return -(-int(lanes) // int(width))

    def _run(self, path, entry: EntryPoint, n: int, arrays: list[np.ndarray], width: int) -> None:  # pragma: no cover
        raise NotImplementedError

    def dispatch(self, shader, entry: str, n: int, params: np.ndarray, *buffers: np.ndarray, width: int | None = None) -> None:
        """Run ``entry`` of ``shader`` on ``n`` threads; writable buffers are updated in place.

        ``params`` is the kernel's Params struct as a 1-element structured array (its ``n``
        field, when present, must equal ``n``: every kernel starts ``if (gid >= p.n) return;``).
        Buffers are C-contiguous numpy arrays in [[buffer(i)]] order. ``width`` picks the build
        by its MP_LANES (lane kernels: ``lane_width(lanes)``); by default the backend's own.
        """
        path = shader_path(shader)
        eps = entry_points(str(path))
        if entry not in eps:
            raise ValueError(f"{path.name} has no kernel {entry!r}; it has {sorted(eps)}")
        ep = eps[entry]
        plan = _buffer_plan(ep)
        arrays = [params, *buffers]
        if len(arrays) != len(plan):
            raise ValueError(f"{entry} takes {len(plan)} buffers (params + {len(plan) - 1}), got {len(arrays)}")
        n = int(n)
        if n < 0 or n > 2**32 - 1:
            raise ValueError(f"{entry}: thread count n={n} out of range")
        if not isinstance(params, np.ndarray) or params.dtype.names is None or params.size != 1:
            raise ValueError(f"{entry}: params must be a 1-element structured array (see marketphys.kernels.layout)")
        if "n" in params.dtype.names and int(params["n"][0]) != n:
            raise ValueError(f"{entry}: params.n={int(params['n'][0])} but dispatching n={n} threads")
        for (name, decl, want, writable), a in zip(plan, arrays):
            if not isinstance(a, np.ndarray) or not a.flags.c_contiguous:
                raise ValueError(f"{entry}: buffer {name!r} must be a C-contiguous numpy array")
            if want is not None and a.dtype != want:
                raise ValueError(f"{entry}: buffer {name!r} ({decl}) needs dtype {want}, got {a.dtype}")
            if writable and not a.flags.writeable:
                raise ValueError(f"{entry}: output buffer {name!r} is read-only")
            if a.size == 0:
                raise ValueError(f"{entry}: buffer {name!r} is empty; pass at least one element")
        self._run(path, ep, n, arrays, self.lanes_per_thread if width is None else int(width))

    # -- physics ----------------------------------------------------------------------
    def compose(self, grid: Grid, contrib: np.ndarray, walls: np.ndarray) -> np.ndarray:
        contrib = np.ascontiguousarray(contrib, dtype=np.float32)
        walls = np.ascontiguousarray(walls, dtype=np.float32)
        if contrib.ndim == 2:
            contrib, walls = contrib[None], walls[None]
        F = contrib.shape[0]
        if contrib.shape[1:] != (5, grid.size):
            raise ValueError(f"contrib must be (frames, 5, {grid.size}), got {contrib.shape}")
        if walls.ndim != 3 or walls.shape[0] != F or walls.shape[2] != 3:
            raise ValueError(f"walls must be (frames, n_walls, 3), got {walls.shape}")
        if walls.shape[1] == 0:
            walls = np.zeros((F, 1, 3), np.float32)
        out = np.empty((F, layout.N_FIELDS, grid.size), np.float32)
        p = layout.pack(layout.COMPOSE_PARAMS, n=F, n_frames=F, cells=grid.size, grid_n=grid.n, dx=grid.dx,
                        n_walls=walls.shape[1])
        self.dispatch("compose", "compose_frames", F, p, contrib, walls, out)
        return out

    def rollout(self, fields, theta, v0, cfg: IntegratorConfig, *, sensitivities: bool = True, seed: int | None = None,
                lane_offset: int = 0, x0=0.0, stream: int = 0, grid: Grid | None = None) -> RolloutResult:
        xs, vs, jac, a0, st = self._rollout32(fields, theta, v0, cfg, sensitivities=sensitivities, seed=seed,
                                              lane_offset=lane_offset, x0=x0, stream=stream, grid=grid)
        return RolloutResult(x=xs.astype(np.float64), v=vs.astype(np.float64),
                             jac=jac.astype(np.float64) if jac is not None else None, a0=a0.astype(np.float64), stats=st)

    def _ensemble_paths(self, fields, theta, v0, cfg: IntegratorConfig, seed: int, stream: int, x0):
        """The kernel's float32 positions, straight to the quantile kernel (no float64 round trip)."""
        xs, _, _, _, st = self._rollout32(fields, theta, v0, cfg, sensitivities=False, seed=seed, stream=stream, x0=x0)
        return xs, st

    def _rollout32(self, fields, theta, v0, cfg: IntegratorConfig, *, sensitivities: bool, seed: int | None,
                   lane_offset: int = 0, x0=0.0, stream: int = 0, grid: Grid | None = None):
        """The rollout kernel's float32 outputs (x, v, jac, a0) and the summed guard counters."""
        if cfg.horizons > layout.MAX_H:
            raise ValueError(f"kernels support horizons <= {layout.MAX_H}, got {cfg.horizons}")
        F = np.ascontiguousarray(fields_matrix(fields), dtype=np.float32)
        grid_n = (F.shape[1] - 1) // 2
        grid = fields.grid if isinstance(fields, Fields) else grid
        if grid is None or grid.size != F.shape[1]:
            raise ValueError(f"rollout on a bare ({F.shape[0]}, {F.shape[1]}) array needs grid= of that size")
        dx = grid.dx
        theta, v0, x0, L = _lanes(theta, v0, x0)
        th = np.ascontiguousarray(_one_if_same(theta), dtype=np.float32)
        v0a = np.ascontiguousarray(_one_if_same(v0), dtype=np.float32)
        x0a = np.ascontiguousarray(_one_if_same(x0), dtype=np.float32)
        k0, k1 = seed_key(0 if seed is None else seed)
        tabled = th.shape[0] == 1 and not sensitivities and L >= TABLE_MIN_LANES
        H = cfg.horizons
        xs = np.empty((L, H), np.float32)
        vs = np.empty((L, H), np.float32)
        jac = np.empty((L, H, N_PARAMS) if sensitivities else (1,), np.float32)
        a0 = np.empty(L, np.float32)
        stats = np.empty((L, 4), np.uint32)
        width = self.lane_width(L)
        p = layout.pack(layout.ROLLOUT_PARAMS, n=self.threads_for(L, width), lanes=L, cells=F.shape[1], grid_n=grid_n, dx=dx, horizons=H,
                        substeps=cfg.substeps, h=cfg.h, a_max=cfg.a_max, v_max=cfg.v_max,
                        sensitivities=int(sensitivities), diffusion=int(seed is not None), seed_lo=k0, seed_hi=k1,
                        stream=int(stream) & 0xFFFFFFFF, lane_offset=int(lane_offset) & 0xFFFFFFFF,
                        theta_stride=N_PARAMS if th.shape[0] > 1 else 0, v0_stride=int(v0a.shape[0] > 1),
                        x0_stride=int(x0a.shape[0] > 1), tabled=int(tabled))
        if L == 0:
            return np.zeros((0, H), np.float32), np.zeros((0, H), np.float32), None, np.zeros(0, np.float32), RolloutStats()
        table = _UNUSED_ULONG
        if tabled:  # one theta, no sensitivities: build the frame's A/kappa/D table once, paths interpolate it
            table = np.empty((layout.N_TABLE, F.shape[1]), np.uint64)
            self.dispatch("rollout", "medium_table", F.shape[1], layout.pack(layout.TABLE_PARAMS, n=F.shape[1], theta=th[0]),
                          F, table)
        self.dispatch("rollout", "rollout_lanes", p["n"][0], p, F, th, v0a, x0a, xs, vs, jac, a0, stats, table, width=width)
        tot = np.ascontiguousarray(stats.T).sum(axis=1, dtype=np.int64)  # 6x faster than sum(axis=0) here
        st = RolloutStats(clamp_a=int(tot[0]), clamp_v=int(tot[1]), nonfinite=int(tot[2]), off_grid=int(tot[3]))
        return xs, vs, (jac if sensitivities else None), a0, st

    def column_quantiles(self, x, quantiles) -> np.ndarray:
        """``np.quantile(x, quantiles, axis=0)`` with the ranks selected by a kernel (one thread per
        column, histogram + selection, no sort): exact for the float32 values; non-finite input
        and more than 16 quantiles go to numpy."""
        x32 = np.ascontiguousarray(x, dtype=np.float32)
        if x32.ndim != 2 or x32.shape[0] < 2 or x32.shape[1] < 1 or not np.isfinite(x32).all():
            return super().column_quantiles(x32, quantiles)
        rows, cols = x32.shape
        ranks, below, above, frac = quantile_ranks(rows, quantiles)
        if ranks.size > layout.MAX_RANKS:
            return super().column_quantiles(x32, quantiles)
        bins = max(16, min(4096, rows // 4))  # ~4 values per bin: the final selection is tiny
        out = np.empty((cols, ranks.size), np.float32)
        p = layout.pack(layout.SELECT_PARAMS, n=cols, rows=rows, cols=cols, n_ranks=ranks.size, bins=bins)
        self.dispatch("quantile", "select_ranks", cols, p, x32, np.empty((cols, rows), np.float32),
                      np.empty((cols, bins), np.uint32), ranks.astype(np.uint32), out)
        return interpolate(out, below, above, frac)

    def philox(self, seed: int, lanes: int, steps: int, stream: int = 0, lane_offset: int = 0):
        k0, k1 = seed_key(seed)
        n = lanes * steps
        words = np.empty((lanes, steps, 4), np.uint32)
        normals = np.empty((lanes, steps), np.float32)
        p = layout.pack(layout.RNG_PARAMS, n=n, n_steps=steps, seed_lo=k0, seed_hi=k1, stream=stream,
                        lane_offset=lane_offset)
        self.dispatch("rng", "philox_draws", n, p, words, normals)
        return words, normals.astype(np.float64)

    def calibrate(self, block: ReplayBlock, theta0, hyper=None, *, bounds: ThetaBounds | None = None,
                  prior_strength=1.0, state=None, trace: bool = False, chunk_frames: int = 4096) -> CalibrationResult:
        from marketphys.core.engine import EngineConfig

        bounds = bounds or ThetaBounds()
        H, cfg, grid = block.integrator.horizons, block.integrator, block.grid
        if state is None:
            state = initial_state(theta0, bounds, prior_strength)
        elif not (isinstance(state, np.ndarray) and state.dtype == layout.LANE_STATE):
            raise ValueError(f"state must come from a previous {self.name} calibrate() result")
        else:
            state = state.copy()
            check_ledgers_in_step(state)  # a fresh state is in step by construction
        L = state.shape[0]
        if hyper is None:
            hyper = hyper_from_engine(EngineConfig(grid=grid, integrator=cfg), L)
        hyper = np.ascontiguousarray(hyper)
        if hyper.dtype != layout.LANE_HYPER or hyper.shape != (L,):
            raise ValueError(f"hyper must be make_hyper(...) output with {L} lanes, got {hyper.dtype} {hyper.shape}")
        F = block.n_frames
        tx = np.empty((L, F, H), np.float32) if trace else None
        tt = np.empty((L, F, N_PARAMS), np.float32) if trace else None
        dummy = np.zeros(1, np.float32)
        start = 0
        width = self.lane_width(L)
        paired = L >= PAIR_MIN_LANES
        for sub in block.split(max(1, int(chunk_frames))):
            fields = self.compose(grid, sub.contrib, sub.walls)
            f = sub.n_frames
            pairs = _UNUSED_ULONG
            if paired:
                pairs = np.empty((f, layout.N_PAIRS, grid.size), np.uint64)
                self.dispatch("replay", "pair_rows", f, layout.pack(layout.PAIR_PARAMS, n=f, cells=grid.size), fields, pairs)
            sx = np.empty((L, f, H), np.float32) if trace else dummy
            st = np.empty((L, f, N_PARAMS), np.float32) if trace else dummy
            p = layout.pack(layout.REPLAY_PARAMS, n=self.threads_for(L, width), lanes=L, n_frames=f, cells=grid.size, grid_n=grid.n, dx=grid.dx,
                            horizons=H, substeps=cfg.substeps, h=cfg.h, a_max=cfg.a_max, v_max=cfg.v_max,
                            dt_units=block.dt_units, tol_units=block.tol_units, write_trace=int(trace), paired=int(paired),
                            lo=bounds.lo_array, hi=bounds.hi_array)
            self.dispatch("replay", "replay_lanes", p["n"][0], p, fields, np.ascontiguousarray(sub.t, np.int32),
                          np.ascontiguousarray(sub.spot, np.float32), np.ascontiguousarray(sub.v0, np.float32),
                          hyper, state, sx, st, np.ascontiguousarray(sub.x0, np.float32), pairs, width=width)
            if trace:
                tx[:, start:start + f] = sx
                tt[:, start:start + f] = st
            start += f
        if np.any(state["ledger_overflow"]):
            raise RuntimeError(f"kernel ledger overflowed in {int(np.count_nonzero(state['ledger_overflow']))} lanes; "
                               f"frames are denser than the ledger capacity {layout.LEDGER_CAP}")
        return result_from_state(self.name, state, H, tx, tt)


def check_ledgers_in_step(state: np.ndarray) -> None:
    """The replay kernel keeps one ring timing per lane group (shaders/include/mp_ledger.h):
    lanes of one state array must have replayed the same frames. Refuse mixed states."""
    led = state["ledger"]
    for name, a in (("ledger_head", state["ledger_head"]), ("ledger_count", state["ledger_count"]),
                    ("ledger.t", led["t"]), ("ledger.spot", led["spot"]), ("ledger.status", led["status"]),
                    ("ledger.actual", led["actual"])):
        differs = a != a[:1]
        if a.dtype.kind == "f":
            differs &= ~(np.isnan(a) & np.isnan(a[:1]))
        if differs.any():
            lane = int(np.flatnonzero(differs.reshape(len(a), -1).any(axis=1))[0])
            raise ValueError(f"state lanes are out of step: {name} of lane {lane} differs from lane 0; calibrate "
                             f"together only lanes that replayed the same frames (e.g. one calibrate() result)")


def result_from_state(name: str, state: np.ndarray, H: int, tx=None, tt=None) -> CalibrationResult:
    n = state["n_h"][:, :H].astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mae = state["sum_abs"][:, :H].astype(np.float64) / n
        rmse = np.sqrt(state["sum_sq"][:, :H].astype(np.float64) / n)
    return CalibrationResult(backend=name, theta=state["theta"].astype(np.float64),
                             n_updates=state["n_updates"].astype(np.int64), loss_sum=state["loss_sum"].astype(np.float64),
                             n=n, mae=mae, rmse=rmse, stats=state["stats"].astype(np.int64), state=state,
                             trace_x=None if tx is None else tx.astype(np.float64),
                             trace_theta=None if tt is None else tt.astype(np.float64))
