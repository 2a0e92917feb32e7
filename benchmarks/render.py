"""Render benchmark: texture time at 1280x720 per backend, and browser updates/s while scrubbing.

Targets (issue 7): render <= 15 ms on msl-cpu; >= 20 frame updates/s in the browser.
Baselines in the same run: the NumPy reference renderer (texture), raw RGBA on the
wire (browser), and the Playwright-driven step loop the first version was measured with.
Wall-clock figures swing with machine load, so the render lines also give the CPU time
of one render (process time, all threads), which does not.
Run: python benchmarks/render.py [--no-browser] [--quick]  (--quick: fewer reps, no browser)
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from marketphys.render import pack, render_backends, render_texture  # noqa: E402
from tests.fixtures_render import rich_scene  # noqa: E402

CHROMIUM = "/usr/bin/chromium"


def time_render(backend: str, reps: int, width: int = 1280, height: int = 720) -> tuple[float, float]:
    """(median wall ms, median CPU ms) of one full render (pack + kernel) of the rich scene."""
    scene = rich_scene(width, height)
    render_texture(scene, backend)                      # warm-up (compiles msl-cpu once)
    wall, cpu = [], []
    for _ in range(reps):
        t, c = time.perf_counter(), time.process_time()
        render_texture(scene, backend)
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return float(np.median(wall)) * 1e3, float(np.median(cpu)) * 1e3


def time_pack(reps: int = 20) -> float:
    scene = rich_scene(1280, 720)
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        pack(scene)
        ts.append(time.perf_counter() - t)
    return float(np.median(ts)) * 1e3


# In-page drivers: no Playwright round trip per step, so they measure the widget itself.
SEQUENTIAL = """async ([lo, n]) => {
  const root = document.querySelector('.mp-lab'), s = document.querySelector('.mp-scrub');
  const t0 = performance.now();
  for (let i = lo; i < lo + n; i++) {
    await new Promise((res) => {
      const ob = new MutationObserver(() => { if (root.dataset.index == String(i)) { ob.disconnect(); res(); } });
      ob.observe(root, { attributes: true });
      s.value = String(i); s.dispatchEvent(new Event('input'));
    });
  }
  return n / ((performance.now() - t0) / 1000);
}"""

DRAG = """async ([lo, n, hz]) => {
  const root = document.querySelector('.mp-lab'), s = document.querySelector('.mp-scrub');
  let drawn = 0;
  const ob = new MutationObserver(() => { drawn++; });
  ob.observe(root, { attributes: true, attributeFilter: ['data-version'] });
  const t0 = performance.now();
  for (let k = 0; k < n; k++) {
    s.value = String(lo + k); s.dispatchEvent(new Event('input'));
    await new Promise((r) => setTimeout(r, 1000 / hz));
  }
  const tEnd = performance.now();
  await new Promise((res) => { const check = () => (root.dataset.index == String(lo + n - 1) ? res() : setTimeout(check, 2)); check(); });
  const tDone = performance.now();
  ob.disconnect();
  return [drawn / ((tDone - t0) / 1000), tDone - tEnd, drawn];
}"""


def browser_scrub(width: int = 960, height: int = 540, n_seq: int = 30, drag_events: int = 120, drag_hz: float = 60.0):
    """Updates/s while scrubbing through frames never rendered before, per wire format."""
    from playwright.sync_api import sync_playwright
    from tqdm.auto import tqdm

    from marketphys.widgets.host import WidgetHost
    from marketphys.widgets.lab import PhysicsLab
    from marketphys.widgets.sample import sample_session

    n_frames = 3 * n_seq + drag_events + 4
    lab = PhysicsLab(width=width, height=height, backend="auto", cache_size=4)
    sample_session(n_frames, lab=lab)
    host = WidgetHost(lab)
    out = {}
    try:
        with sync_playwright() as pw:
            b = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                   args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                                         "--disable-component-update", "--no-first-run"])
            page = b.new_page()
            page.goto(host.url)
            page.wait_for_selector("canvas.mp-texture")
            steps = tqdm(total=4, desc="browser scrub", leave=False)
            # baseline method of the first version: one Playwright round trip per step, raw RGBA
            lab.texture_format = "raw"
            lab._cache.clear()
            t = time.perf_counter()
            for i in range(n_seq):
                page.evaluate("i => { const s = document.querySelector('.mp-scrub'); s.value = String(i); s.dispatchEvent(new Event('input')); }", i)
                page.wait_for_function("i => document.querySelector('.mp-lab').dataset.index == String(i)", arg=i, polling=5)
            out["playwright_raw"] = n_seq / (time.perf_counter() - t)
            steps.update()
            for k, fmt in enumerate(("raw", "png")):
                lab.texture_format = fmt
                lab._cache.clear()
                out[f"seq_{fmt}"] = page.evaluate(SEQUENTIAL, [n_seq * (k + 1), n_seq])
                steps.update()
            lab._cache.clear()
            rate, lag, drawn = page.evaluate(DRAG, [3 * n_seq + 2, drag_events, drag_hz])
            out["drag_png"] = (rate, lag, drawn)
            steps.update()
            steps.close()
            b.close()
    finally:
        host.stop()
    return out, lab.backend


def main() -> None:
    backends = render_backends()
    print(f"render 1280x720 (median of reps), backends here: {backends}; load average {os.getloadavg()[0]:.1f}")
    print(f"  pack() (validation + per-frame reductions): {time_pack():.2f} ms")
    quick = "--quick" in sys.argv
    base, base_cpu = time_render("numpy", 2 if quick else 5)
    print(f"  numpy (baseline)   {base:8.1f} ms wall  {base_cpu:8.1f} ms CPU")
    for be in backends:
        if be == "numpy":
            continue
        ms, cpu = time_render(be, 5 if quick else 20)
        print(f"  {be:18s} {ms:8.1f} ms wall  {cpu:8.1f} ms CPU   ({base / ms:.0f}x numpy; target <= 15 ms)")
    if not quick and "--no-browser" not in sys.argv and os.path.exists(CHROMIUM):
        r, be = browser_scrub()
        print(f"browser scrub 960x540, backend {be}, frames never rendered before (target >= 20 updates/s):")
        print(f"  Playwright round trip per step, raw RGBA (first version's method, baseline): {r['playwright_raw']:6.1f} updates/s")
        print(f"  in-page sequential, raw RGBA (2.1 MB/frame, baseline):                      {r['seq_raw']:6.1f} updates/s")
        print(f"  in-page sequential, PNG:                                                    {r['seq_png']:6.1f} updates/s")
        rate, lag, drawn = r["drag_png"]
        print(f"  drag at 60 input events/s, PNG: {rate:6.1f} updates/s drawn ({drawn} frames), "
              f"last frame shown {lag:.0f} ms after the last event")


if __name__ == "__main__":
    main()
