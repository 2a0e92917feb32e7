"""The Altair charts in a real headless Chromium with the network blocked: Vega comes from the offline
bundle the toolkit enables (Altair's chart widget, Vega bundled by vl-convert), never from a CDN.

The page is served by Playwright's request routing: the chart widget's own ESM and a stub of anywidget's
model; every other request is refused and recorded. The control: the online ESM (imports from a CDN)
draws nothing under the same block.
"""

from __future__ import annotations

import json
import os
import re

import altair as alt
import numpy as np
import pandas as pd
import pytest

from fixtures_browser import ARTIFACTS, CHROMIUM, FLAGS
from marketphys.widgets import charts as C
from marketphys.widgets import offline

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

ORIGIN = "http://charts.invalid"
PAGE = """<!doctype html><html><head><meta charset="utf-8"></head><body><div id="root"></div>
<script type="module">
import mod from "/widget.js";
const state = %s;
const model = {get: (k) => state[k], set: (k, v) => { state[k] = v; }, save_changes: () => {},
               on: () => {}, off: () => {}, send: () => {}};
mod.render({model, el: document.getElementById("root")}).then(() => { window.__rendered = true; },
                                                              (e) => { window.__error = String(e); });
</script></body></html>"""


def table(n=160, H=4, seed=0):
    rng = np.random.default_rng(seed)
    origin = pd.Timestamp("2026-03-02 14:30", tz="UTC").value + np.arange(n, dtype=np.int64) * 500_000_000
    x = rng.normal(0, 1, n * H)
    return C.forecast_table(pd.DataFrame({
        "origin_ts_ns": np.repeat(origin, H), "horizon": np.tile(np.arange(1, H + 1), n),
        "spot": np.repeat(5000 + np.cumsum(rng.normal(0, 0.25, n)), H), "x_hat": x, "actual": x + rng.normal(0, 1, n * H),
        "q05": x - 2, "q95": x + 2}))


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"Debian chromium missing at {CHROMIUM} on this platform (scripts/ensure_test_tools.sh installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield b
        b.close()


def draw(browser, chart, esm: str, renderer: str = "svg", wait_ms: int = 20_000):
    """Open the chart with ``esm`` as the widget module, network blocked; returns (page, blocked URLs)."""
    state = {"spec": chart.to_dict(), "embed_options": {"renderer": renderer, "actions": False},
             "debounce_wait": 10, "max_wait": True, "_vl_selections": {}, "_params": {}, "_js_watch_plan": None}
    page = browser.new_page(viewport={"width": 900, "height": 600})
    blocked = []

    def route(r):
        url = r.request.url
        if url == ORIGIN + "/":
            r.fulfill(body=PAGE % json.dumps(state), content_type="text/html")
        elif url == ORIGIN + "/widget.js":
            r.fulfill(body=esm, content_type="text/javascript")
        else:
            blocked.append(url)
            r.abort()

    page.route("**/*", route)
    page.goto(ORIGIN + "/")
    try:
        page.wait_for_function("window.__rendered || window.__error", timeout=wait_ms)
    except Exception:
        pass
    return page, blocked


@pytest.fixture(scope="module")
def offline_esm():
    was = alt.JupyterChart._is_offline
    offline.enable_offline_charts()
    alt.JupyterChart.enable_offline(True)
    yield alt.JupyterChart._esm
    offline.disable_offline_charts()
    if was:
        alt.JupyterChart.enable_offline(True)


def test_offline_chart_draws_marks_with_the_network_blocked(browser, offline_esm):
    page, blocked = draw(browser, C.actual_vs_predicted(table(), tz="America/Chicago"), offline_esm)
    assert page.evaluate("window.__error || null") is None and not blocked, blocked
    assert page.locator("#root svg .mark-line path").count() >= 5          # 4 horizons + actual
    assert page.locator("#root svg .mark-area path").count() >= 1          # the band
    texts = page.locator("#root svg text").all_text_contents()
    assert "actual" in texts and "target time (America/Chicago)" in texts
    ticks = [t for t in texts if re.fullmatch(r"\d\d:\d\d:\d\d", t)]
    assert len(ticks) >= 5 and all(t.startswith("08:3") for t in ticks), ticks   # 14:30 UTC = 08:30 CST, 24 h
    assert len(set(ticks)) == len(ticks)                                   # no repeated labels
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "chart_actual_vs_predicted_offline.png"))
    page.close()


def test_offline_canvas_render_paints_pixels(browser, offline_esm):
    page, blocked = draw(browser, C.error_by_horizon(table()), offline_esm, renderer="canvas")
    assert not blocked and page.evaluate("window.__error || null") is None
    painted = page.evaluate("""() => { const c = document.querySelector('#root canvas');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;
        for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 0 && (d[i] < 200 || d[i + 1] < 200 || d[i + 2] < 200)) n++;
        return n; }""")
    assert painted > 2000, painted                                         # lines, axes, labels
    page.close()


def test_cdn_chart_draws_nothing_offline(browser):
    """Control: Altair's online widget module imports Vega from a CDN; blocked, it draws no marks."""
    from altair.jupyter.jupyter_chart import load_js_src

    page, blocked = draw(browser, C.actual_vs_predicted(table()), load_js_src(), wait_ms=5_000)
    assert any("esm.sh" in u or "jsdelivr" in u for u in blocked), blocked
    assert page.locator("#root svg .mark-line path").count() == 0
    page.close()
