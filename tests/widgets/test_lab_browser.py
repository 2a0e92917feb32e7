"""The Physics Lab in a real headless Chromium (Debian's /usr/bin/chromium via Playwright).

A minimal anywidget host page serves the widget on loopback over a replayed sample
session; the test checks the canvas equals the kernel's texture, the hover readout,
step / scrub, and that zoom keeps x = 0 centred. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from fixtures_browser import ARTIFACTS, CHROMIUM, FLAGS
from fixtures_browser import canvas_pixels as read_canvas
from marketphys.render import px_to_tick

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

W, H = 480, 300


@pytest.fixture(scope="module")
def served():
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"Debian chromium missing at {CHROMIUM} on this platform (scripts/ensure_test_tools.sh installs it)")
    from playwright.sync_api import sync_playwright

    from marketphys.widgets.host import WidgetHost
    from marketphys.widgets.lab import PhysicsLab
    from marketphys.widgets.sample import sample_session

    lab = PhysicsLab(width=W, height=H, backend="auto")
    sample_session(24, lab=lab, n_paths=8)
    host = WidgetHost(lab)
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        page = browser.new_page(viewport={"width": 900, "height": 700})
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(host.url)
        yield lab, page, errors
        browser.close()
    host.stop()


def wait_version(page, lab):
    page.wait_for_function("v => document.querySelector('.mp-lab') && document.querySelector('.mp-lab').dataset.version == String(v)",
                           arg=lab.version, timeout=20_000)


def canvas_pixels(page) -> np.ndarray:
    px = read_canvas(page, "canvas.mp-texture")
    assert px.shape == (H, W, 4), px.shape
    return px


def test_canvas_shows_the_kernel_texture(served):
    lab, page, errors = served
    wait_version(page, lab)
    px = canvas_pixels(page)
    assert px[..., :3].std() > 5, "canvas looks blank"
    assert np.array_equal(px, lab.render_frame(lab.index))
    page.screenshot(path=str(ARTIFACTS / "lab_initial.png"))
    assert "Spot (t0)" not in str(errors) and not errors


def test_hover_readout_matches_fields(served):
    lab, page, _ = served
    wait_version(page, lab)
    fr = lab.frame
    k = int(np.argmax(fr.wall_strength))
    if abs(fr.wall_center[k]) > 0.9 * lab.x_half:      # the fitted view is narrow: widen it to show the wall
        lab.x_half = float(abs(fr.wall_center[k]) + 8)
        wait_version(page, lab)
    box = page.locator("canvas.mp-texture").bounding_box()
    col = 300
    page.mouse.move(box["x"] + col + 0.5, box["y"] + 40)
    ro = page.locator(".mp-readout")
    page.wait_for_function("() => document.querySelector('.mp-readout').dataset.u !== undefined")
    xt = float(ro.get_attribute("data-x"))     # the browser reports whole-pixel pointer positions
    assert abs(xt - px_to_tick(col + 0.5, lab.x_half, W)) <= 2 * lab.x_half / W
    U = fr.U.astype(np.float32).astype(float)
    f = xt / fr.dx + (U.size - 1) / 2
    i0 = int(np.clip(np.floor(f), 0, U.size - 2))
    t = np.clip(f - i0, 0, 1)
    want_u = U[i0] * (1 - t) + U[i0 + 1] * t
    assert float(ro.get_attribute("data-u")) == pytest.approx(want_u, rel=1e-5, abs=1e-6)
    G = fr.G.astype(np.float32).astype(float)
    assert float(ro.get_attribute("data-g")) == pytest.approx(G[i0] * (1 - t) + G[i0 + 1] * t, rel=1e-5, abs=1e-6)
    th = fr.theta_dict
    O = fr.O.astype(np.float32).astype(float)
    want_dv = th["wU"] * (U[i0 + 1] - U[i0]) / fr.dx + th["wO"] * (O[i0 + 1] - O[i0]) / fr.dx
    assert float(ro.get_attribute("data-dvdx")) == pytest.approx(want_dv, rel=1e-4, abs=1e-6)
    assert "U=" in ro.inner_text() and "∂V/∂x=" in ro.inner_text()
    # snap-highlight: hover at the strongest wall's centre names that gate
    gx = W / 2 + fr.wall_center[k] * W / (2 * lab.x_half)
    page.mouse.move(box["x"] + gx, box["y"] + 40)
    page.wait_for_function("id => document.querySelector('.mp-readout').dataset.gate === id", arg=fr.wall_ids[k])
    page.screenshot(path=str(ARTIFACTS / "lab_hover_gate.png"))
    # the gate spans σ (centre ± σ/2): 0.75σ off centre is outside it, though inside the old ± σ
    off = fr.wall_center[k] + 0.75 * fr.wall_width[k]
    covered = [i for i in range(len(fr.wall_ids)) if fr.wall_strength[i] > 0
               and abs(off - fr.wall_center[i]) <= max(fr.wall_width[i] / 2, 0.25)]
    page.mouse.move(box["x"] + W / 2 + off * W / (2 * lab.x_half), box["y"] + 40)
    page.wait_for_function("x => Math.abs(Number(document.querySelector('.mp-readout').dataset.x) - x) < 1", arg=off)
    assert ro.get_attribute("data-gate") == (fr.wall_ids[covered[0]] if covered else "")


def test_step_and_scrub_change_the_frame(served):
    lab, page, _ = served
    wait_version(page, lab)
    before, i0 = canvas_pixels(page), lab.index
    page.click(".mp-step-back")
    page.wait_for_function("i => document.querySelector('.mp-lab').dataset.index == String(i)", arg=i0 - 1)
    wait_version(page, lab)
    assert lab.frozen and lab.index == i0 - 1
    after = canvas_pixels(page)
    assert not np.array_equal(before, after)
    assert np.array_equal(after, lab.render_frame(lab.index))
    page.evaluate("() => { const s = document.querySelector('.mp-scrub'); s.value = '5'; s.dispatchEvent(new Event('input')); }")
    page.wait_for_function("() => document.querySelector('.mp-lab').dataset.index == '5'")
    wait_version(page, lab)
    assert lab.index == 5
    assert np.array_equal(canvas_pixels(page), lab.render_frame(5))
    page.screenshot(path=str(ARTIFACTS / "lab_scrubbed.png"))


def test_zoom_keeps_spot_centred(served):
    lab, page, _ = served
    wait_version(page, lab)
    x0 = lab.x_half
    page.click(".mp-zoom-in")
    page.wait_for_function("() => document.querySelector('.mp-status').textContent.includes('±')")
    wait_version(page, lab)
    assert lab.x_half == pytest.approx(x0 / 1.5)
    px = canvas_pixels(page).astype(int)
    centre = np.array([0.85, 0.86, 0.90]) * 255
    row = px[5, :, :3]
    cols = np.flatnonzero(np.abs(row - centre).max(axis=1) < 25)
    assert cols.size and abs(cols.mean() - (W / 2 - 0.5)) < 1.0
    page.click(".mp-debug")
    page.wait_for_function("() => document.querySelector('.mp-debug').classList.contains('mp-on')")
    page.screenshot(path=str(ARTIFACTS / "lab_zoom_debug.png"))


def test_fast_slider_drags_are_coalesced(served):
    """25 slider events at once: the lab renders the first and the newest, not a backlog of 25."""
    lab, page, _ = served
    wait_version(page, lab)
    v0, n = lab.version, lab.n_frames
    target = n - 2
    page.evaluate("""(last) => { const s = document.querySelector('.mp-scrub');
        for (let i = last - 24; i <= last; i++) { s.value = String(i); s.dispatchEvent(new Event('input')); } }""", target)
    page.wait_for_function("i => document.querySelector('.mp-lab').dataset.index == String(i)", arg=target, timeout=20_000)
    wait_version(page, lab)
    assert lab.index == target
    assert lab.version - v0 <= 3, f"{lab.version - v0} renders for one drag"
    assert np.array_equal(canvas_pixels(page), lab.render_frame(target))


def test_stepping_past_the_end_still_answers(served):
    """A step that cannot move (already at the newest frame) still gets a reply, so the next
    scrub is not held back by the one-request-in-flight throttle."""
    lab, page, _ = served
    if page.text_content(".mp-freeze") == "Resume":  # whatever earlier tests left: resume (newest frame)
        page.click(".mp-freeze")
    page.wait_for_function("() => document.querySelector('.mp-freeze').textContent === 'Freeze'")
    wait_version(page, lab)
    last = lab.n_frames - 1
    v = lab.version
    page.click(".mp-step")                          # clamped to the same frame; only freezes
    page.wait_for_function("() => document.querySelector('.mp-freeze').textContent === 'Resume'")
    wait_version(page, lab)
    assert lab.version > v and lab.index == last and lab.frozen
    page.click(".mp-step-back")
    page.wait_for_function("i => document.querySelector('.mp-lab').dataset.index == String(i)", arg=last - 1, timeout=1_500)
