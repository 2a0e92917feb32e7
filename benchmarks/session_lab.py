"""What the Physics Lab costs a replay: Session.run alone vs with ``session.lab()`` attached.

Baseline (same run): the session without a lab. Then the lab as notebooks use it (records
every step, draws at most every ``batch_interval_s`` during run, once at the end) and the
lab drawing every frame (``batch_interval_s=0``, what an unthrottled lab would cost).

    python benchmarks/session_lab.py [--frames 600] [--every-frame 30] [--backend auto] [--quick]
"""

from __future__ import annotations

import argparse
import time

from marketphys.replay.session import Session
from marketphys.synth.engine_world import WorldConfig, make_world


def timed_run(frames, producers, lab_kwargs=None) -> tuple[float, object]:
    s = Session.from_frames(frames, producers=producers)
    lab = s.lab(**lab_kwargs) if lab_kwargs is not None else None
    t = time.perf_counter()
    s.run(progress=False)
    return time.perf_counter() - t, lab


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=600)
    ap.add_argument("--every-frame", type=int, default=30, help="frames for the draw-every-frame case")
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--width", type=int, default=960)
    ap.add_argument("--height", type=int, default=540)
    ap.add_argument("--quick", action="store_true",
                    help="small sizes for `make bench`, same-run baselines kept (not for RESULTS.md)")
    args = ap.parse_args(argv)
    if args.quick:
        args.frames, args.every_frame = min(args.frames, 120), min(args.every_frame, 8)
    world = make_world(WorldConfig(n_frames=max(args.frames, args.every_frame), seed=1))
    size = dict(width=args.width, height=args.height, backend=args.backend)
    timed_run(world.frames[:20], world.producers, dict(size))            # warm up: kernel build, caches
    n = args.frames
    base, _ = timed_run(world.frames[:n], world.producers)
    lab_t, lab = timed_run(world.frames[:n], world.producers, dict(size))
    m = args.every_frame
    base_m, _ = timed_run(world.frames[:m], world.producers)
    every_t, every = timed_run(world.frames[:m], world.producers, dict(size, batch_interval_s=0.0))
    from marketphys.render import render_backends
    backend = render_backends()[0] if lab.backend == "auto" else lab.backend
    print(f"backend {backend}, texture {args.width}x{args.height}")
    print(f"baseline: Session.run, no lab           {n / base:8.1f} frames/s ({n} frames)")
    print(f"session.lab() (throttled, default 2 s)  {n / lab_t:8.1f} frames/s  draws {lab.version}  "
          f"overhead {lab_t / base - 1:+.0%}")
    print(f"baseline again on {m} frames           {m / base_m:8.1f} frames/s")
    print(f"lab drawing every frame                 {m / every_t:8.1f} frames/s  draws {every.version}  "
          f"({(every_t - base_m) / max(every.version, 1) * 1e3:.0f} ms per draw)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
