"""Dispatch of shaders/render.metal through the kernel backends (msl-cpu, metal).

The generic compile-and-call machinery belongs to marketphys.kernels; until it
offers a backend here, ``available()`` is empty and ``render`` says so plainly.
"""

from __future__ import annotations

import numpy as np

from marketphys.render.scene import Packed


def available() -> list[str]:
    return []


def render(pk: Packed, backend: str) -> np.ndarray:
    raise ValueError(f"render backend {backend!r} is not available here; available: {available() + ['numpy']}")
