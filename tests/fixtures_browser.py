"""Shared pieces of the headless-Chromium tests: the browser, its flags, and reading a canvas back."""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np

CHROMIUM = "/usr/bin/chromium"          # Debian's chromium (scripts/ensure_test_tools.sh installs it)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"

# base64 of getImageData: a JSON list of every byte takes seconds per 480x300 canvas on a busy machine
_READ_CANVAS = """sel => { const c = document.querySelector(sel);
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let s = '';
    for (let i = 0; i < d.length; i += 0x8000) s += String.fromCharCode.apply(null, d.subarray(i, i + 0x8000));
    return [c.width, c.height, btoa(s)]; }"""


def canvas_pixels(page, selector: str) -> np.ndarray:
    """The (H, W, 4) RGBA pixels of the canvas matching ``selector`` (unpremultiplied, as getImageData gives)."""
    w, h, data = page.evaluate(_READ_CANVAS, selector)
    return np.frombuffer(base64.b64decode(data), dtype=np.uint8).reshape(h, w, 4)
