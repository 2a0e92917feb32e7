"""`make demo` fast paths vs their references, on one lake day.

    python benchmarks/demo.py --lake out/demo/lake --frames 1500 [--quick]

Prints, each next to its baseline measured in the same run: lake -> frames per frame
(per-window ``LakeSource`` iteration vs ``day_frames``), and engine + baselines per frame
(frame-by-frame NumPy ``Session`` on the first ``--frames`` frames vs ``replay_day`` on the
whole day through the replay kernel).
"""

from __future__ import annotations

import argparse
import sys
import time
from itertools import islice
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from marketphys.replay.batch import replay_day  # noqa: E402
from marketphys.replay.session import Session  # noqa: E402
from marketphys.frames.sources import LakeSource  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lake", required=True)
    ap.add_argument("--frames", type=int, default=1500, help="frames for the slow reference paths")
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--quick", action="store_true",
                    help="small sizes for `make bench`, same-run baselines kept (not for RESULTS.md)")
    a = ap.parse_args()
    if a.quick:
        a.frames = min(a.frames, 300)
    src = LakeSource(a.lake)
    t = time.perf_counter()
    slow = list(islice(iter(src), a.frames))
    per_window = (time.perf_counter() - t) / len(slow)
    t = time.perf_counter()
    frames = src.day_frames()
    day = (time.perf_counter() - t) / len(frames)
    print(f"lake -> frames: per-window {per_window * 1e3:.2f} ms/frame (baseline, {len(slow)} frames); "
          f"day_frames {day * 1e3:.2f} ms/frame over {len(frames)} frames ({per_window / day:.1f}x)")
    t = time.perf_counter()
    Session.from_frames(frames[:a.frames]).run(progress=False)
    sess = (time.perf_counter() - t) / a.frames
    t = time.perf_counter()
    d = replay_day(frames, backend=a.backend, progress=False)
    fast = (time.perf_counter() - t) / len(frames)
    print(f"engine + 4 baselines: Session {1 / sess:.0f} frames/s (baseline, {a.frames} frames); replay_day on "
          f"{d.backend} {1 / fast:.0f} frames/s over the day ({sess / fast:.1f}x); split "
          + ", ".join(f"{k} {v:.1f}" for k, v in d.timings.items()))


if __name__ == "__main__":
    main()
