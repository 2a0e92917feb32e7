"""Engine benchmark: replay one synthetic RTH session (46,800 frames at 0.5 s) with learning on.

Prints frames/s and µs per step (p50/p99) for the NumPy reference engine next to a
trivial baseline measured in the same run over the same frames (a random-walk
forecaster through the same ledger), so the figure reads as a ratio.

    python benchmarks/engine.py [--frames 46800] [--paths 0] [--quick]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from marketphys.core.ledger import Ledger, LedgerEntry
from marketphys.synth.engine_world import WorldConfig, make_world


def timed_steps(step, frames) -> np.ndarray:
    t = np.empty(len(frames))
    for i, f in enumerate(frames):
        t0 = time.perf_counter()
        step(f)
        t[i] = time.perf_counter() - t0
    return t


def random_walk_step_fn(horizons: int = 4, dt_ns: int = 500_000_000):
    ledger = Ledger(horizons, dt_ns)
    zero_h, zero_j, zero_t = np.zeros(horizons), np.zeros((horizons, 5)), np.zeros(5)

    def step(f):
        ledger.resolve(f.ts_ns, f.spot)
        ledger.add(LedgerEntry(f.ts_ns, f.spot, f.tick_size, zero_h, zero_j, zero_t, dt_ns))
    return step, ledger


def report(name: str, t: np.ndarray) -> dict:
    us = t * 1e6
    row = {"name": name, "frames": t.size, "total_s": float(t.sum()), "frames_per_s": t.size / t.sum(),
           "p50_us": float(np.percentile(us, 50)), "p99_us": float(np.percentile(us, 99))}
    print(f"{name:28s} {row['frames']:7d} frames  {row['total_s']:8.2f} s  {row['frames_per_s']:10.0f} frames/s  "
          f"p50 {row['p50_us']:9.1f} µs  p99 {row['p99_us']:9.1f} µs")
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=46_800)
    ap.add_argument("--paths", type=int, default=0, help="ensemble paths per frame (0 = off)")
    ap.add_argument("--backends", default="numpy,msl-cpu", help="engine rollout backends to time, comma-separated")
    ap.add_argument("--quick", action="store_true",
                    help="small sizes for `make bench`, same-run baselines kept (not for RESULTS.md)")
    args = ap.parse_args()
    if args.quick:
        args.frames = min(args.frames, 1_000)

    t0 = time.perf_counter()
    world = make_world(WorldConfig(n_frames=args.frames, seed=1))
    print(f"generated {args.frames} frames in {time.perf_counter() - t0:.1f} s")

    rw_step, rw_ledger = random_walk_step_fn()
    base = report("baseline: random walk", timed_steps(rw_step, world.frames))
    for backend in args.backends.split(","):
        try:
            engine = world.engine(n_paths=args.paths, backend=backend)
        except Exception as err:  # a backend missing here is reported, not fatal
            print(f"{backend}: unavailable ({err})")
            continue
        eng = report(f"{backend} engine (learn, {args.paths} paths)", timed_steps(engine.step, world.frames))
        print(f"  {backend} engine / baseline time per frame: {eng['p50_us'] / base['p50_us']:.0f}x (p50)")
        print(f"  θ learned: {engine.theta}  (truth {world.theta_true})")
    print(engine.ledger.summary().to_string(index=False))


if __name__ == "__main__":
    main()
