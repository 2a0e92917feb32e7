"""The Physics Lab holding a whole day: memory per frame, and browser scrub rate over it.

A short synthetic session is generated, built into a lake and replayed through a Session into
a default lab (fitted zoom). Its frames are then cycled (origin times shifted) up to a full
6.5 h RTH day, 46,800 half-second frames, in the lab's compact history.

- Memory (tracemalloc, bytes kept per frame): the compact ``FrameStore`` vs the plain list of
  ``LabFrame`` snapshots the lab kept before (baseline, same frames, same run).
- Scrub: in-page slider steps over frames never drawn before (texture cache cleared), each
  step waiting for its frame on the canvas, spread over the whole day; at the fitted zoom and,
  as a same-run baseline, at the whole grid held.
- ``--screenshot PATH`` writes the lab at default zoom on the last replayed frame (README image).

    python benchmarks/lab_day.py [--quick] [--minutes 2] [--day-frames 46800] [--steps 40] [--screenshot docs/img/physics_lab.png]
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run"]

SEQUENTIAL = """async (idx) => {
  const root = document.querySelector('.mp-lab'), s = document.querySelector('.mp-scrub');
  const t0 = performance.now();
  for (const i of idx) {
    await new Promise((res) => {
      const ob = new MutationObserver(() => { if (root.dataset.index == String(i)) { ob.disconnect(); res(); } });
      ob.observe(root, { attributes: true });
      s.value = String(i); s.dispatchEvent(new Event('input'));
    });
  }
  return idx.length / ((performance.now() - t0) / 1000);
}"""


def replay(minutes: float, width: int, height: int):
    from marketphys.pipeline.build import build
    from marketphys.replay.session import Session
    from marketphys.synth import SynthConfig, generate_session
    from marketphys.widgets.lab import PhysicsLab

    base = Path(tempfile.mkdtemp(prefix="lab_day_"))
    cfg = SynthConfig(minutes=minutes, seed=11)
    generate_session(cfg, base / "dbn", progress=False)
    build([base / "dbn"], base / "lake", progress=False)
    s = Session.from_lake(base / "lake", date=cfg.date)
    lab = PhysicsLab(width=width, height=height, backend="auto")
    s.watch(lab)
    s.run(progress=False)
    return lab


def kept_bytes(make) -> tuple[float, object]:
    gc.collect()
    tracemalloc.start()
    a0 = tracemalloc.get_traced_memory()[0]
    obj = make()
    gc.collect()
    a1 = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return a1 - a0, obj


def fill_day(lab, n: int) -> None:
    """Cycle the replayed frames (origin times shifted on) until the lab holds ``n`` frames."""
    frames, views = list(lab.history), list(lab._views)
    step = frames[1].ts_ns - frames[0].ts_ns
    span = frames[-1].ts_ns - frames[0].ts_ns + step
    k = len(frames)
    while len(lab.history) < n:
        j = len(lab.history)
        fr = frames[j % k]
        lab.history.append(dataclasses.replace(fr, ts_ns=fr.ts_ns + (j // k) * span))
        lab._views.append(views[j % k])
    lab.n_frames = len(lab.history)


def fill_and_report(lab, day: int, n: int) -> None:
    t = time.perf_counter()
    day_bytes, _ = kept_bytes(lambda: fill_day(lab, day))
    print(f"lab filled to {lab.n_frames} frames in {time.perf_counter() - t:.1f} s (under tracemalloc): history grew by "
          f"{day_bytes / 1e6:.0f} MB ({day_bytes / (lab.n_frames - n) / 1e3:.2f} KB a frame, views included)")


def scrub(lab, page, idx) -> float:
    lab._cache.clear()
    return page.evaluate(SEQUENTIAL, [int(i) for i in idx])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=2.0, help="synthetic session replayed (then cycled)")
    ap.add_argument("--day-frames", type=int, default=46_800)
    ap.add_argument("--steps", type=int, default=40, help="scrub steps per measurement")
    ap.add_argument("--width", type=int, default=960)
    ap.add_argument("--height", type=int, default=540)
    ap.add_argument("--screenshot", type=Path, default=None)
    ap.add_argument("--quick", action="store_true", help="a 1-minute session cycled to 5,000 frames, 10 scrub steps")
    args = ap.parse_args(argv)
    if args.quick:
        args.minutes, args.day_frames, args.steps = 1.0, 5_000, 10

    from marketphys.widgets.lab_store import FrameStore

    t = time.perf_counter()
    lab = replay(args.minutes, args.width, args.height)
    print(f"replayed {lab.n_frames} frames from a {args.minutes:g}-minute synthetic lake in {time.perf_counter() - t:.1f} s "
          f"(build + replay); fitted half-range {lab.x_half:.1f} ticks, backend {lab.backend}")
    frames = list(lab.history)

    def as_list():
        return [dataclasses.replace(f, **{k: np.array(v) for k, v in vars(f).items() if isinstance(v, np.ndarray)})
                for f in frames]

    def as_store():
        st = FrameStore()
        for f in frames:
            st.append(f)
        return st

    b_list, _ = kept_bytes(as_list)
    b_store, _ = kept_bytes(as_store)
    n = len(frames)
    day = args.day_frames
    print(f"memory per frame: list of LabFrame (baseline) {b_list / n / 1e3:.2f} KB, FrameStore {b_store / n / 1e3:.2f} KB "
          f"({b_list / b_store:.1f}x less); a {day}-frame day: {b_list / n * day / 1e6:.0f} MB vs {b_store / n * day / 1e6:.0f} MB")

    import os

    if not os.path.exists(CHROMIUM):
        fill_and_report(lab, day, n)
        print(f"no browser figures: Chromium missing at {CHROMIUM}")
        return 0
    from playwright.sync_api import sync_playwright

    from marketphys.widgets.host import WidgetHost

    host = WidgetHost(lab)
    try:
        with sync_playwright() as pw:
            b = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
            page = b.new_page(viewport={"width": args.width + 140, "height": args.height + 260})
            page.goto(host.url)
            page.wait_for_selector("canvas.mp-texture")
            page.wait_for_function("() => document.querySelector('.mp-lab').dataset.version !== undefined")
            if args.screenshot:
                # a frame with both probe arrows: moving (v0 != 0) and a force at least the day's median
                a_med = np.median([abs(f.a0) for f in frames])
                pick = [i for i, f in enumerate(frames) if f.v0 != 0 and abs(f.a0) >= a_med] or [n - 1]
                i = pick[-1]
                lab.frozen = True
                lab.index = i
                page.wait_for_function("i => document.querySelector('.mp-lab').dataset.index == String(i)", arg=i)
                page.mouse.move(0, 0)
                args.screenshot.parent.mkdir(parents=True, exist_ok=True)
                page.locator(".mp-lab").screenshot(path=str(args.screenshot))
                print(f"wrote {args.screenshot} (frame {i + 1} of {n} replayed, default zoom ±{lab.x_half:.1f} ticks)")
            fill_and_report(lab, day, n)
            rng = np.random.default_rng(0)
            grid_half = (frames[0].U.size - 1) / 2 * frames[0].dx
            rates = {}
            for rep in range(2):
                lab.auto_zoom = True
                idx = np.sort(rng.choice(lab.n_frames - 1, args.steps, replace=False))
                rates.setdefault("fit", []).append(scrub(lab, page, idx))
                lab.x_half = grid_half                      # held: the whole grid (the old default)
                idx = np.sort(rng.choice(lab.n_frames - 1, args.steps, replace=False))
                rates.setdefault("grid", []).append(scrub(lab, page, idx))
            print(f"browser scrub over the {lab.n_frames}-frame day, {args.width}x{args.height}, frames never drawn "
                  f"before (target >= 20 updates/s): fitted zoom {', '.join(f'{r:.1f}' for r in rates['fit'])} updates/s; "
                  f"whole grid held (baseline) {', '.join(f'{r:.1f}' for r in rates['grid'])} updates/s")
            b.close()
    finally:
        host.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
