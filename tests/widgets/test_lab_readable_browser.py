"""The Physics Lab readable at first sight, measured in a real headless Chromium on a replayed lake.

A two-minute synthetic session is generated, built into a lake and replayed through a
``Session`` into a default ``PhysicsLab`` (no zoom given). The checks measure what the
browser shows: marker and arrow pixels on the canvas, and the boxes of every string the
overlay draws (recorded by the front end with ``measureText``) against the canvas bounds.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from fixtures_browser import ARTIFACTS, CHROMIUM, FLAGS
from fixtures_browser import canvas_pixels as read_canvas
from marketphys.render.layout import PALETTE, band_heights

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

W, H = 960, 540
CURRENT_ROW = 0.90        # current arrows sit at 0.90 of band A (marketphys.render.reference.CURRENT_BASELINE)


@pytest.fixture(scope="module")
def replayed(tmp_path_factory):
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"Debian chromium missing at {CHROMIUM} on this platform (scripts/ensure_test_tools.sh installs it)")
    from playwright.sync_api import sync_playwright

    from marketphys.pipeline.build import build
    from marketphys.replay.session import Session
    from marketphys.synth import SynthConfig, generate_session
    from marketphys.widgets.host import WidgetHost
    from marketphys.widgets.lab import PhysicsLab

    base = tmp_path_factory.mktemp("readable")
    cfg = SynthConfig(minutes=2, seed=11)
    generate_session(cfg, base / "dbn", progress=False)
    build([base / "dbn"], base / "lake", progress=False)
    s = Session.from_lake(base / "lake", date=cfg.date)
    lab = PhysicsLab(width=W, height=H, backend="auto")
    s.watch(lab)
    s.run(progress=False)
    host = WidgetHost(lab)
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        page = browser.new_page(viewport={"width": 1100, "height": 800})
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(host.url)
        yield lab, page, errors
        browser.close()
    host.stop()


def wait_version(page, lab):
    page.wait_for_function("v => document.querySelector('.mp-lab') && document.querySelector('.mp-lab').dataset.version == String(v)",
                           arg=lab.version, timeout=20_000)


def show(page, lab, i: int) -> np.ndarray:
    """Scrub to frame ``i`` from Python (the fitted zoom stays on) and read the canvas back."""
    lab.frozen = True
    lab.index = i
    wait_version(page, lab)
    page.mouse.move(0, 0)                       # no hover crosshair on the overlay
    px = read_canvas(page, "canvas.mp-texture")
    assert px.shape == (H, W, 4)
    assert np.array_equal(px, lab.render_frame(i)), "the canvas is not the kernel's texture"
    return px[..., :3].astype(int)


def near(px: np.ndarray, colour, tol: float) -> np.ndarray:
    return np.abs(px - np.array(colour) * 255).max(axis=-1) < tol


def text_boxes(page) -> list[dict]:
    return page.evaluate("() => document.querySelector('.mp-lab').mpTextBoxes")


def test_default_zoom_fits_the_action(replayed):
    lab, page, errors = replayed
    wait_version(page, lab)
    grid_half = (lab.frame.U.size - 1) / 2 * lab.frame.dx
    assert lab.auto_zoom and 8.0 <= lab.x_half < grid_half / 4, lab.x_half
    for i in range(lab.n_frames):               # every frame's own action fits inside its view
        fr, v = lab.history[i], lab.view(i)
        action = [a for a in (fr.x_hat, fr.band_lo, fr.band_hi, fr.resolved_pred, fr.resolved_actual) if a is not None]
        extent = max(np.nanmax(np.abs(a)) if np.isfinite(a).any() else 0.0 for a in action)
        assert extent < v.x_half <= grid_half and v.x_half >= 8.0
    halves = np.array([lab.view(i).x_half for i in range(lab.n_frames)])
    assert (np.diff(halves) != 0).mean() < 0.5, "the fitted zoom changes on most frames"
    assert not errors


def test_a_half_tick_forecast_stands_off_the_spot_line(replayed):
    lab, page, _ = replayed
    a, b, _ = band_heights(H)
    nh = lab.frame.x_hat.size
    cands = [(i, h) for h in range(nh) for i in range(lab.n_frames - 1, 0, -1) if abs(lab.history[i].x_hat[h]) >= 0.5]
    assert cands, "no forecast of half a tick or more in the replay"
    i, h = cands[0]
    px = show(page, lab, i)
    y = int(a + b / nh * (h + 0.5))
    xt = lab.history[i].x_hat[h]
    want = W / 2 + xt * W / (2 * lab.x_half)
    cols = np.flatnonzero(near(px[y - 1:y + 2], PALETTE["forecast"], 40).any(axis=0))
    cols = cols[np.abs(cols - want) < 8]                  # the marker of that horizon, not the path to it
    assert cols.size, f"no forecast marker near x={want:.1f} in band B row {h}"
    offset = abs(cols.mean() + 0.5 - W / 2)
    print(f"forecast {xt:+.2f} t at horizon {h + 1}: marker {offset:.1f} px from the spot line at ±{lab.x_half:.1f} t")
    assert abs(cols.mean() + 0.5 - want) < 1.5
    assert offset >= 10, f"forecast {xt:+.2f} t drawn {offset:.1f} px from the spot line at ±{lab.x_half:.1f} t"
    page.screenshot(path=str(ARTIFACTS / "lab_readable_forecast.png"))


def visible_cells(lab, i: int) -> np.ndarray:
    fr = lab.history[i]
    x = (np.arange(fr.C.size) - (fr.C.size - 1) / 2) * fr.dx
    return np.abs(x) < lab.view(i).x_half * (1 - 12 / W)       # bucket centres on screen, off the edges


def test_current_arrows_show_at_the_median(replayed):
    """Where |C| is at its median over the replay (on screen), the current arrow is at least 6 px
    and a fair part of a full-length arrow; only the larger magnitudes clamp."""
    lab, page, _ = replayed
    a, _, _ = band_heights(H)
    med_per_frame = np.array([np.median(np.abs(lab.history[i].C[visible_cells(lab, i)])) for i in range(lab.n_frames)])
    refs = np.array([lab.view(i).c_ref for i in range(lab.n_frames)])
    assert (med_per_frame >= refs).mean() <= 0.3, "the typical current is drawn clamped on most frames"
    med = np.median(med_per_frame)
    i = int(len(med_per_frame) - 1 - np.argmin(np.abs(med_per_frame[::-1] - med)))
    px = show(page, lab, i)
    fr = lab.history[i]
    ppt = W / (2 * lab.x_half)
    vis = visible_cells(lab, i)
    k = np.flatnonzero(vis)[np.argmin(np.abs(np.abs(fr.C[vis]) - med_per_frame[i]))]
    x0 = W / 2 + (k - (fr.C.size - 1) / 2) * fr.dx * ppt
    y = int(CURRENT_ROW * a)
    row = near(px[y], PALETTE["current"], 60)
    d = 1 if fr.C[k] >= 0 else -1
    start = int(np.rint(x0))
    n = 0
    while 0 <= start + d * (n + 1) < W and row[start + d * (n + 1)]:
        n += 1
    full = 0.85 * fr.dx * ppt                     # a clamped arrow fills 85 % of its bucket (stride 1 here)
    msg = f"|C| = {abs(fr.C[k]):.3f} (median {med:.3f}): arrow {n} of {full:.0f} px at ±{lab.x_half:.1f} t, refs {lab.view(i).refs}"
    print(msg)
    assert n >= 6, msg
    assert n >= 0.25 * full, msg
    # the probe's force arrow is visible too (a magenta run on one row of band A)
    force = near(px[:a], PALETTE["force"], 60).sum(axis=1).max()
    if abs(fr.a0) >= np.median([abs(f.a0) for f in lab.history]):
        assert force >= 6, f"force arrow {force} px for a0 = {fr.a0:.3f}"


@pytest.mark.parametrize("debug", [False, True])
def test_no_text_is_clipped_or_overlapping(replayed, debug):
    lab, page, _ = replayed
    lab.debug = debug
    try:
        show(page, lab, lab.n_frames - 1)
        page.wait_for_function("d => document.querySelector('.mp-debug').classList.contains('mp-on') === d", arg=debug)
        boxes = text_boxes(page)
        kinds = {bx["kind"] for bx in boxes}
        assert {"spot", "xlabel", "hlabel", "key"} <= kinds and (("debug" in kinds) == debug)
        print(f"debug={debug}: {len(boxes)} strings, extent x {min(bx['left'] for bx in boxes):.1f}..{max(bx['right'] for bx in boxes):.1f}"
              f" y {min(bx['top'] for bx in boxes):.1f}..{max(bx['bottom'] for bx in boxes):.1f} in {W}x{H}")
        for bx in boxes:
            assert 0 <= bx["left"] and bx["right"] <= W and 0 <= bx["top"] and bx["bottom"] <= H, bx
        for p in range(len(boxes)):
            for q in range(p + 1, len(boxes)):
                u, v = boxes[p], boxes[q]
                apart = u["right"] <= v["left"] or v["right"] <= u["left"] or u["bottom"] <= v["top"] or v["bottom"] <= u["top"]
                assert apart, f"{u} overlaps {v}"
        ink = read_canvas(page, "canvas.mp-overlay")[..., 3]
        assert not ink[:, 0].any() and not ink[:, -1].any(), "text touches the canvas's left or right edge"
        if debug:
            page.screenshot(path=str(ARTIFACTS / "lab_readable_debug.png"))
    finally:
        lab.debug = False


def test_x_axis_has_five_labels_at_their_ticks(replayed):
    lab, page, _ = replayed
    show(page, lab, lab.n_frames - 1)
    labels = [bx for bx in text_boxes(page) if bx["kind"] == "xlabel"]
    print(f"x labels: {[bx['text'] for bx in labels]}")
    assert len(labels) >= 5, labels
    ticks = [0.0 if bx["text"] == "0" else float(bx["text"].replace("−", "-").rstrip("t")) for bx in labels]
    assert ticks == sorted(ticks) and 0.0 in ticks
    for t, bx in zip(ticks, labels):
        centre = (bx["left"] + bx["right"]) / 2
        assert abs(centre - (W / 2 + t * W / (2 * lab.x_half))) < 3, (t, bx)


def test_user_zoom_is_held_and_fit_restores(replayed):
    lab, page, _ = replayed
    show(page, lab, lab.n_frames - 1)
    fitted = lab.x_half
    page.click(".mp-zoom-out")
    page.wait_for_function("() => document.querySelector('.mp-status').textContent.includes('held')")
    wait_version(page, lab)
    assert not lab.auto_zoom and lab.x_half == pytest.approx(fitted * 1.5)
    page.click(".mp-step-back")                       # another frame keeps the held zoom
    page.wait_for_function("i => document.querySelector('.mp-lab').dataset.index == String(i)", arg=lab.n_frames - 2)
    assert lab.x_half == pytest.approx(fitted * 1.5)
    page.click(".mp-fit")
    page.wait_for_function("() => document.querySelector('.mp-status').textContent.includes('fit')")
    wait_version(page, lab)
    assert lab.auto_zoom and lab.x_half == lab.view(lab.index).x_half
    assert np.array_equal(read_canvas(page, "canvas.mp-texture"), lab.render_frame(lab.index))


def test_the_forecast_band_is_drawn_behind_band_b(replayed):
    lab, page, _ = replayed
    a, b, _ = band_heights(H)
    i = lab.n_frames - 1
    show(page, lab, i)
    fr = lab.history[i]
    assert fr.band_lo is not None, "the replay's forecasts carry no band"
    ink = read_canvas(page, "canvas.mp-overlay")[..., 3]
    nh = fr.x_hat.size
    for h in range(nh):
        y = int(a + b / nh * (h + 0.5))
        cols = np.flatnonzero(ink[y] > 0)
        cols = cols[cols > 60]                      # right of the horizon labels
        lo, hi = (W / 2 + np.array([fr.band_lo[h], fr.band_hi[h]]) * W / (2 * lab.x_half))
        assert cols.size and abs(cols.min() - lo) < 2 and abs(cols.max() + 1 - hi) < 2, (h, cols.min(), cols.max(), lo, hi)
