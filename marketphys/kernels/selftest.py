"""``marketphys backends --selftest``: every kernel on a shader backend against the NumPy reference.

Small inputs, one check per entry point of shaders/*.metal, each with the tolerance the
kernel tests use (float32 kernels, Metal's fast math, vs the float64 reference). Meant
for a user on Apple Silicon to prove the Metal path on their machine in seconds, and run
in CI on msl-cpu and on the metalcompute stand-in (docs/kernels.md).
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass
from typing import Callable

import numpy as np

from marketphys.core.fields import Fields
from marketphys.core.grid import Grid
from marketphys.core.integrator import IntegratorConfig


@dataclass(frozen=True)
class Check:
    backend: str
    kernel: str
    ok: bool
    max_err: float
    tol: float
    seconds: float
    error: str = ""

    def line(self) -> str:
        verdict = "pass" if self.ok else "FAIL"
        err = f"max err {self.max_err:.2e} (tol {self.tol:.0e})" if np.isfinite(self.max_err) else "max err -"
        tail = f"  {self.error}" if self.error else ""
        return f"{self.backend:28s} {self.kernel:24s} {verdict}  {err:30s} {self.seconds * 1e3:9.2f} ms{tail}"


def _err(a, b, scale: float = 1.0) -> float:
    """Largest absolute difference, over ``scale``; a NaN pattern that differs counts as infinite."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape or not np.array_equal(np.isfinite(a), np.isfinite(b)):
        return float("inf")
    ok = np.isfinite(b)
    return float(np.max(np.abs(a[ok] - b[ok]), initial=0.0)) / scale


def _fields(grid: Grid, seed: int, D: float = 0.0) -> Fields:
    rng = np.random.default_rng(seed)
    x = grid.x
    return Fields.from_arrays(grid, U=np.sin(x / 9.0) * 3 + 0.2 * rng.normal(size=grid.size), C=0.5 + 0.1 * np.cos(x / 5.0),
                              G=np.abs(rng.normal(0.5, 0.2, size=grid.size)), D=D)


def _frames(n: int, grid: Grid, seed: int = 0):
    from marketphys.core.frame import MarketFrame

    rng = np.random.default_rng(seed)
    strike_rel = np.arange(-40, 41, 10, dtype=np.float64)
    frames, spot, push = [], 5000.0, 0.0
    for i in range(n):
        push = 0.9 * push + rng.normal(0, 0.5)
        spot += 0.25 * round(0.6 * push + rng.normal(0, 1.0))
        prof = np.sin(grid.x / 7.0 + 0.02 * i) * 0.5
        frames.append(MarketFrame(ts_ns=1_700_000_000_000_000_000 + i * 500_000_000, spot=spot, scalars={"push": push},
                                  profiles={"bumps": prof}, strike_rel_ticks=strike_rel,
                                  strikes={"gex_abs_norm": np.clip(np.abs(rng.normal(0.3, 0.3, strike_rel.size)), 0, 1)}))
    return frames


def _producers():
    from marketphys.core.producers import (ConstantViscosity, ProfileProducer, PushProducer, SoftWallProducer,
                                           StrikeWallProducer)

    return [PushProducer(gain=2.0), SoftWallProducer(offset_ticks=8.0, width_ticks=4.0, reinforcement=0.3),
            ConstantViscosity(0.8), ProfileProducer("bumps", target="U", gain=3.0),
            StrikeWallProducer(threshold=0.85, gain=0.5, width_ticks=4.0, decay=0.7)]


Case = tuple[str, float, Callable, Callable]
"""(kernel, tolerance, run(backend) -> output, error(output, reference output))."""


def _cases() -> list[Case]:
    """The engine's kernels. Layers above add theirs (``marketphys.render.selftest.render_case``; the
    ``backends`` command runs them all: ``marketphys.cli.backends.selftest_cases``)."""
    from marketphys.kernels.base import PAIR_MIN_LANES, TABLE_MIN_LANES
    from marketphys.kernels.layout import N_FIELDS

    grid = Grid(n=24, dx=2.0)
    cfg = IntegratorConfig()
    rng = np.random.default_rng(17)
    theta = rng.uniform([0.2, 0.2, 0.2, 0.2, -1.0], [2.5, 2.5, 2.5, 2.5, 1.0], (37, 5))
    v0 = rng.normal(0, 8, 37)
    f1, f2 = _fields(grid, 1), _fields(grid, 2, D=1.0)
    contrib = rng.normal(size=(3, 5, grid.size))
    contrib[:, 2] = np.abs(contrib[:, 2])
    contrib[:, 4] = np.abs(contrib[:, 4])
    walls = np.stack([rng.uniform(-40, 40, (3, 4)), rng.uniform(0, 5, (3, 4)), rng.uniform(0.5, 6, (3, 4))], axis=-1)
    v_table = np.linspace(-12.0, 12.0, TABLE_MIN_LANES)
    x_q = np.random.default_rng(3).standard_cauchy((501, 7)).astype(np.float32)
    qs = (0.05, 0.25, 0.5, 0.75, 0.95)
    th_replay = np.random.default_rng(4).uniform([0.5, 0.5, 0.5, 0.5, -0.5], [2, 2, 2, 2, 0.5], (PAIR_MIN_LANES + 1, 5))
    block = []

    def replay_block():
        if not block:
            from marketphys.core.engine import EngineConfig
            from marketphys.kernels import ReplayBlock

            block.append(ReplayBlock.from_frames(_frames(90, grid), _producers(), EngineConfig(grid=grid, backend="numpy")))
        return block[0]

    def compose_err(a, b):
        return max(_err(a[:, k], b[:, k], max(1.0, float(np.abs(b[:, k]).max()))) for k in range(N_FIELDS))

    def rollout_err(a, b):
        return max(_err(a.x, b.x), _err(a.jac, b.jac, max(1.0, float(np.abs(b.jac).max()) * 1e-1)))

    def philox_err(a, b):
        return float("inf") if not np.array_equal(a[0], b[0]) else _err(a[1], b[1])

    def replay_err(a, b):
        return max(_err(a.trace_x, b.trace_x), _err(a.theta, b.theta))

    return [
        ("compose_frames", 1e-4, lambda be: be.compose(grid, contrib, walls), compose_err),
        ("rollout_lanes", 1e-3, lambda be: be.rollout(f1, theta, v0, cfg), rollout_err),
        ("medium_table", 1e-3, lambda be: be.rollout(f2, theta[0], v_table, cfg, sensitivities=False, seed=5).x, _err),
        ("philox_draws", 1e-4, lambda be: be.philox(9, 13, 7, stream=2), philox_err),
        ("select_ranks", 0.0, lambda be: be.column_quantiles(x_q, qs), _err),
        ("replay_lanes+pair_rows", 1e-2, lambda be: be.calibrate(replay_block(), th_replay, trace=True), replay_err),
    ]


def run_checks(backend, reference=None, cases: list[Case] | None = None) -> list[Check]:
    """Every kernel case (``cases``, default ``_cases()``) on ``backend`` (a shader backend instance) vs
    ``reference`` (NumPy).

    The time is one warm call on ``backend`` (the first call, which compiles, is not timed)."""
    from marketphys.kernels import get_backend

    ref = reference or get_backend("numpy")
    label = getattr(backend, "label", None) or backend.name
    out = []
    for kernel, tol, run, error in (_cases() if cases is None else cases):
        t0 = time.perf_counter()
        try:
            want = run(ref)
            run(backend)
            t1 = time.perf_counter()
            got = run(backend)
            seconds = time.perf_counter() - t1
            err = error(got, want)
            out.append(Check(label, kernel, bool(err <= tol), err, tol, seconds))
        except Exception as exc:  # noqa: BLE001 - a crash is a failed check, reported with its message
            last = traceback.format_exception_only(type(exc), exc)[-1].strip()
            out.append(Check(label, kernel, False, float("nan"), tol, time.perf_counter() - t0, last[:300]))
    return out


def backends_to_test(metalcompute_module: str | None = None) -> tuple[list, list[str]]:
    """Shader backends usable here, and a line for each one skipped (with its reason)."""
    from marketphys.kernels import available_backends, get_backend

    usable, skipped = [], []
    for name, ok, why in available_backends():
        if name == "numpy":
            continue
        if name == "metal" and metalcompute_module:
            import importlib

            from marketphys.kernels.metal import MetalBackend

            be = MetalBackend(module=importlib.import_module(metalcompute_module))
            be.label = f"metal[{metalcompute_module}]"
            usable.append(be)
        elif ok:
            usable.append(get_backend(name))
        else:
            skipped.append(f"{name:28s} skipped: {why}")
    return usable, skipped


def selftest(metalcompute_module: str | None = None, out=print, cases: list[Case] | None = None) -> int:
    """Print one line per (backend, kernel); 0 when every check passed, 1 otherwise."""
    backends, skipped = backends_to_test(metalcompute_module)
    for line in skipped:
        out(line)
    if not backends:
        out("no shader backend to test here (numpy is the reference)")
        return 1
    checks = [c for be in backends for c in run_checks(be, cases=cases)]
    for c in checks:
        out(c.line())
    failed = [c for c in checks if not c.ok]
    out(f"selftest: {len(checks) - len(failed)}/{len(checks)} passed" + ("" if not failed else
        f"; FAILED: {', '.join(f'{c.backend}/{c.kernel}' for c in failed)}"))
    return 1 if failed else 0
