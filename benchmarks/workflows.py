"""Session replay cost: engine alone (baseline) vs a Session (engine + 4 baselines + ledgers) vs + replay log.

    python benchmarks/workflows.py --frames 600 [--quick]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from marketphys.replay.session import Session
from marketphys.synth.engine_world import WorldConfig, make_world


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=600)
    ap.add_argument("--quick", action="store_true",
                    help="small sizes for `make bench`, same-run baselines kept (not for RESULTS.md)")
    a = ap.parse_args()
    n = min(a.frames, 150) if a.quick else a.frames
    w = make_world(WorldConfig(n_frames=n))
    t = time.perf_counter()
    w.engine().run(w.frames)
    base = time.perf_counter() - t
    t = time.perf_counter()
    s = Session.from_frames(w.frames, producers=w.producers)
    s.run(progress=False)
    sess = time.perf_counter() - t
    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        s2 = Session.from_frames(w.frames, producers=w.producers, log=Path(d) / "r.arrow")
        s2.run(progress=False)
        s2.close()
        logged = time.perf_counter() - t
        size = (Path(d) / "r.arrow").stat().st_size
    t = time.perf_counter()
    s.scorecard()
    card = time.perf_counter() - t
    print(f"frames: {n}")
    print(f"baseline: Engine.run alone          {n / base:8.1f} frames/s")
    print(f"Session (engine + 4 baselines)      {n / sess:8.1f} frames/s  ({sess / base:.2f}x the engine's time)")
    print(f"Session + replay log (flush/frame)  {n / logged:8.1f} frames/s  log {size / n / 1024:.1f} KiB/frame")
    print(f"scorecard over {n} origins           {card * 1e3:8.1f} ms")


if __name__ == "__main__":
    main()
