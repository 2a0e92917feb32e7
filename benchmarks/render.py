"""Render benchmark: texture time at 1280x720 per backend, and browser updates/s while scrubbing.

Targets (issue 7): render <= 15 ms on msl-cpu; >= 20 frame updates/s in the browser.
Baseline in the same run: the NumPy reference renderer.
Run: python benchmarks/render.py [--no-browser]
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from marketphys.render import render_backends, render_texture  # noqa: E402
from tests.fixtures_render import rich_scene  # noqa: E402


def time_render(backend: str, reps: int) -> float:
    scene = rich_scene(1280, 720)
    render_texture(scene, backend)                      # warm-up (compiles msl-cpu once)
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        render_texture(scene, backend)
        ts.append(time.perf_counter() - t)
    return float(np.median(ts)) * 1e3


def scrub_rate(n: int = 30, width: int = 960, height: int = 540) -> tuple[float, str]:
    from playwright.sync_api import sync_playwright

    from marketphys.widgets.host import WidgetHost
    from marketphys.widgets.lab import PhysicsLab
    from marketphys.widgets.sample import sample_session

    lab = PhysicsLab(width=width, height=height, backend="auto", cache_size=4)
    sample_session(n + 2, lab=lab)
    lab._cache.clear()
    host = WidgetHost(lab)
    try:
        with sync_playwright() as pw:
            b = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                   args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                                         "--disable-component-update", "--no-first-run"])
            page = b.new_page()
            page.goto(host.url)
            page.wait_for_selector("canvas.mp-texture")
            t = time.perf_counter()
            for i in range(n):
                page.evaluate("i => { const s = document.querySelector('.mp-scrub'); s.value = String(i); s.dispatchEvent(new Event('input')); }", i)
                page.wait_for_function("i => document.querySelector('.mp-lab').dataset.index == String(i)", arg=i)
            rate = n / (time.perf_counter() - t)
            b.close()
    finally:
        host.stop()
    return rate, lab.backend


def main() -> None:
    backends = render_backends()
    print(f"render 1280x720 (median ms), backends here: {backends}")
    base = time_render("numpy", 3)
    print(f"  numpy (baseline)   {base:8.1f} ms")
    for be in backends:
        if be == "numpy":
            continue
        ms = time_render(be, 10)
        print(f"  {be:18s} {ms:8.1f} ms   ({base / ms:.1f}x numpy; target <= 15 ms)")
    if "--no-browser" not in sys.argv and os.path.exists("/usr/bin/chromium"):
        rate, be = scrub_rate()
        print(f"browser scrub 960x540 ({be}, uncached frames): {rate:.1f} updates/s (target >= 20)")


if __name__ == "__main__":
    main()
