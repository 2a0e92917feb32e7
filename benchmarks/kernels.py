"""Kernel backends, measured side by side in one run (issue 3 targets, msl-cpu on 2 cores):

1. single-frame step latency (one lane's rollout with sensitivities; and a whole Engine.step);
2. a full session (46,800 frames) replayed with learning for one lane;
3. lanes x frames per second for 1,024 lanes replaying with learning;
4. a 10,000-path ensemble per frame.

Targets: (2) <= 1 s, (3) >= 10 million lane-frames/s, each >= 20x the NumPy reference.
Lanes and ensemble figures are the best of 3 runs on both sides (the shared box is noisy).
The NumPy reference is timed on a slice and extrapolated where a full run would take
minutes (the slice sizes are printed). Usage: python benchmarks/kernels.py [--quick]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from marketphys.core.engine import Engine, EngineConfig  # noqa: E402
from marketphys.core.fields import Fields  # noqa: E402
from marketphys.core.grid import Grid  # noqa: E402
from marketphys.core.integrator import IntegratorConfig  # noqa: E402
from marketphys.kernels import ReplayBlock, available_backends, get_backend  # noqa: E402

SESSION_FRAMES = 46_800
GRID = Grid()            # the default engine grid: 257 cells
CFG = IntegratorConfig()  # H = 4, 8 substeps


def synthetic_block(frames: int, start: int = 0, walls: int = 6, seed: int = 0) -> ReplayBlock:
    """A block of a synthetic session straight from arrays (producers are Python and not timed here)."""
    rng = np.random.default_rng(seed + start)
    i = np.arange(start, start + frames)
    x = GRID.x
    contrib = np.zeros((frames, 5, GRID.size), np.float32)  # float32 as a pipeline would hand it over
    contrib[:, 0] = 2.0 * np.sin(x[None, :] / 23.0 + 0.001 * i[:, None])
    contrib[:, 1] = 3.0 * np.sin(0.01 * i)[:, None]
    contrib[:, 2] = 0.8
    contrib[:, 4] = 1.0
    w = np.zeros((frames, walls, 3))
    w[:, :, 0] = np.linspace(-60, 60, walls)[None, :] + 5 * np.sin(0.002 * i)[:, None]
    w[:, :, 1] = 2.0 + np.cos(0.003 * i)[:, None]
    w[:, :, 2] = 6.0
    spot = np.cumsum(rng.normal(0, 1.0, frames)) + 0.0
    v0 = np.concatenate([[0.0], np.diff(spot) / 0.5])
    return ReplayBlock(GRID, CFG, contrib, w, t=(i * 4).astype(np.int64), spot=spot, v0=v0, dt_units=4, tol_units=1)


def timeit(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def bench_step(be) -> dict:
    blk = synthetic_block(1)
    f = Fields(GRID, *get_backend("numpy").compose(GRID, blk.contrib, blk.walls)[0])
    theta = np.array([1.0, 1.0, 1.0, 1.0, 0.0])
    be.rollout(f, theta, 1.0, CFG)
    n = 200
    t = timeit(lambda: [be.rollout(f, theta, 1.0, CFG) for _ in range(n)]) / n
    from fixtures_kernels import producers, synthetic_frames

    frames = synthetic_frames(300, GRID, seed=3)
    eng = Engine(producers(), EngineConfig(grid=GRID, backend=be.name), backend=be)
    eng.run(frames[:20])
    t0 = time.perf_counter()
    eng.run(frames[20:])
    step = (time.perf_counter() - t0) / 280
    return {"rollout_us": t * 1e6, "engine_step_us": step * 1e6}


def bench_session(be, frames: int) -> float:
    """Seconds to replay ``frames`` (in blocks of 4,680) with learning for one lane; inputs prebuilt."""
    theta0 = np.array([1.0, 1.0, 1.0, 1.0, 0.0])
    block_size = min(4680, frames)
    blocks = [synthetic_block(min(block_size, frames - a), start=a) for a in range(0, frames, block_size)]
    be.calibrate(synthetic_block(8), theta0)  # untimed warm-up: builds (or loads) the one-lane kernels
    state, total = None, 0.0
    for b in blocks:
        t = time.perf_counter()
        res = be.calibrate(b, theta0, state=state)
        total += time.perf_counter() - t
        state = res.state
    return total


def bench_lanes(be, lanes: int, frames: int) -> float:
    """lane-frames per second for ``lanes`` lanes with distinct θ0 over ``frames`` frames."""
    rng = np.random.default_rng(1)
    theta0 = rng.uniform([0.2, 0.2, 0.2, 0.2, -1], [3, 3, 3, 3, 1], (lanes, 5))
    blk = synthetic_block(frames, start=10_000)
    be.calibrate(synthetic_block(8), theta0)  # untimed warm-up: builds (or loads) the lane-group kernels
    return lanes * frames / timeit(lambda: be.calibrate(blk, theta0))  # best of 3: the shared box is noisy


def cpu_cost_per_lane_frame(name: str, lanes: int = 1024, frames: int = 200) -> float:
    """CPU seconds per lane-frame on one thread (process time: steadier than wall time on a shared box)."""
    from marketphys.kernels.msl_cpu import MslCpuBackend

    be = MslCpuBackend(workers=1) if name == "msl-cpu" else get_backend(name)
    theta0 = np.random.default_rng(1).uniform([0.2, 0.2, 0.2, 0.2, -1], [3, 3, 3, 3, 1], (lanes, 5))
    blk = synthetic_block(frames, start=10_000)
    be.calibrate(blk, theta0[:2])
    best = float("inf")
    for _ in range(3):
        t = time.process_time()
        be.calibrate(blk, theta0)
        best = min(best, time.process_time() - t)
    return best / (lanes * frames)


def cpu_cost_ensemble(name: str, paths: int = 10_000, frames: int = 3) -> float:
    """CPU seconds per ensemble frame on one thread (process time: steadier than wall time on a shared box)."""
    from marketphys.kernels.msl_cpu import MslCpuBackend

    be = MslCpuBackend(workers=1) if name == "msl-cpu" else get_backend(name)
    blk = synthetic_block(frames, start=20_000)
    F = get_backend("numpy").compose(GRID, blk.contrib, blk.walls)
    fields = [Fields(GRID, *F[k]) for k in range(frames)]
    theta = np.array([1.0, 1.0, 1.0, 1.0, 0.0])
    be.ensemble_bands(fields[0], theta, 1.0, CFG, paths, seed=1)
    best = float("inf")
    for _ in range(3):
        t = time.process_time()
        for k, f in enumerate(fields):
            be.ensemble_bands(f, theta, 1.0, CFG, paths, seed=1, stream=k)
        best = min(best, time.process_time() - t)
    return best / frames


def bench_ensemble(be, paths: int, frames: int) -> float:
    blk = synthetic_block(frames, start=20_000)
    F = get_backend("numpy").compose(GRID, blk.contrib, blk.walls)
    fields = [Fields(GRID, *F[k]) for k in range(frames)]
    theta = np.array([1.0, 1.0, 1.0, 1.0, 0.0])
    be.ensemble_bands(fields[0], theta, 1.0, CFG, paths, seed=1)

    def run():
        for k, f in enumerate(fields):
            be.ensemble_bands(f, theta, 1.0, CFG, paths, seed=1, stream=k)
    return timeit(run) / frames  # best of 3 passes over the frames


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (a smoke run, not for RESULTS.md)")
    args = ap.parse_args()
    names = [n for n, ok, _ in available_backends() if ok]
    import os

    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print("backends:", ", ".join(names), f"| cpus {os.cpu_count()} | load average {load[0]:.1f} (shared machines skew timings)")
    for n, ok, why in available_backends():
        if ok and n == "msl-cpu":
            print(f"msl-cpu: {why}; {get_backend(n).lanes_per_thread} lanes per thread")
    q = args.quick
    plan = {  # (session frames, lanes-bench frames, ensemble frames) per backend; numpy is sliced
        "numpy": (300 if q else 2_000, 2 if q else 5, 2 if q else 10),
        "msl-cpu": (4_680 if q else SESSION_FRAMES, 50 if q else 1_000, 5 if q else 50),
        "metal": (4_680 if q else SESSION_FRAMES, 50 if q else 2_000, 5 if q else 50),
    }
    rows = {}
    for name in names:
        be = get_backend(name)
        s_frames, l_frames, e_frames = plan[name]
        r = bench_step(be)
        sess = bench_session(be, s_frames) * SESSION_FRAMES / s_frames
        lanes = bench_lanes(be, 1024, l_frames)
        ens = bench_ensemble(be, 10_000, e_frames)
        rows[name] = dict(r, session_s=sess, lane_frames_per_s=lanes, ensemble_ms=ens * 1e3,
                          note=f"session timed on {s_frames} frames, lanes on {l_frames} frames, ensemble on {e_frames} frames")
        print(f"[{name}] load {os.getloadavg()[0]:.1f} | rollout {r['rollout_us']:.1f} us | engine.step {r['engine_step_us']:.0f} us | "
              f"session (46,800 frames, 1 lane) {sess:.3f} s | 1,024 lanes {lanes / 1e6:.3f} M lane-frames/s | "
              f"10,000-path ensemble {ens * 1e3:.2f} ms/frame   ({rows[name]['note']})", flush=True)
    if "msl-cpu" in rows:
        c = cpu_cost_per_lane_frame("msl-cpu")
        print(f"[msl-cpu] CPU cost per lane-frame on one thread: {c * 1e9:.0f} ns "
              f"(=> {2 / c / 1e6:.2f} M lane-frames/s on 2 idle cores)")
        if "numpy" in rows:  # load-independent ratios: CPU time on one thread, both sides
            cn = cpu_cost_per_lane_frame("numpy", lanes=64, frames=5)
            en, ek = cpu_cost_ensemble("numpy"), cpu_cost_ensemble("msl-cpu")
            print(f"[cpu time, one thread] replay lane-frame numpy {cn * 1e6:.1f} us vs msl-cpu {c * 1e9:.0f} ns "
                  f"(x{cn / c:.0f}) | 10,000-path ensemble numpy {en * 1e3:.1f} ms vs msl-cpu {ek * 1e3:.2f} ms "
                  f"(x{en / ek:.1f}; x{2 * en / ek:.1f} with 2 idle cores)")
    if "numpy" in rows:
        ref = rows["numpy"]
        for name, r in rows.items():
            if name == "numpy":
                continue
            print(f"[{name} vs numpy] rollout x{ref['rollout_us'] / r['rollout_us']:.1f} | engine.step "
                  f"x{ref['engine_step_us'] / r['engine_step_us']:.1f} | session x{ref['session_s'] / r['session_s']:.1f} | "
                  f"lanes x{r['lane_frames_per_s'] / ref['lane_frames_per_s']:.1f} | ensemble x{ref['ensemble_ms'] / r['ensemble_ms']:.1f}")
            x20 = {"session": ref["session_s"] / r["session_s"], "lanes": r["lane_frames_per_s"] / ref["lane_frames_per_s"],
                   "ensemble": ref["ensemble_ms"] / r["ensemble_ms"]}
            print(f"[{name} targets] session <= 1 s: {'met' if r['session_s'] <= 1 else 'MISSED'} | "
                  f">= 10M lane-frames/s: {'met' if r['lane_frames_per_s'] >= 1e7 else 'MISSED'} | >= 20x numpy: "
                  + ", ".join(f"{k} {'met' if v >= 20 else 'MISSED'}" for k, v in x20.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
