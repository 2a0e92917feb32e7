"""Dispatch of shaders/render.metal through the kernel backends (msl-cpu, metal).

Two passes: ``render_prepass`` (one thread per column and per row: max(W, H)
threads) writes the column and row records, then ``render_pixels`` (one thread per
pixel) shades from them. Which backends work is marketphys.kernels' answer.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from marketphys.render.layout import COL_FIELDS, ROW_FIELDS
from marketphys.render.scene import Packed

SHADER_BACKENDS = ("metal", "msl-cpu")


@lru_cache(maxsize=1)
def available() -> tuple[str, ...]:
    """Shader backends that work here, fastest first (empty when none does).

    Probed once per process (a probe runs a kernel, ~2 ms): ``backend="auto"`` must not
    pay that on every frame."""
    try:
        from marketphys.kernels import available_backends
    except ImportError:
        return ()
    ok = {name for name, usable, _ in available_backends() if usable}
    return tuple(b for b in SHADER_BACKENDS if b in ok)


def prepass(pk: Packed, backend) -> tuple[np.ndarray, np.ndarray]:
    """The (W, len(COL_FIELDS)) column and (H, len(ROW_FIELDS)) row records, from the kernel."""
    be = _backend(backend)
    walls = pk.walls if pk.walls.size else np.zeros((1, pk.walls.shape[1]), np.float32)
    cols = np.empty((pk.width, len(COL_FIELDS)), np.float32)
    rows = np.empty((pk.height, len(ROW_FIELDS)), np.float32)
    n = max(pk.width, pk.height)
    p = pk.params.copy().reshape(1)
    p["n"] = n
    be.dispatch("render.metal", "render_prepass", n, p, np.ascontiguousarray(pk.fields), np.ascontiguousarray(walls),
                np.ascontiguousarray(pk.ladder), cols, rows)
    return cols, rows


def render(pk: Packed, backend) -> np.ndarray:
    """(H, W, 4) uint8 RGBA texture of ``pk`` from shaders/render.metal on ``backend`` (a name, or a
    shader backend instance such as the test suite's MetalBackend on its metalcompute stand-in)."""
    be = _backend(backend)
    cols, rows = prepass(pk, be)
    out = np.empty(pk.width * pk.height, dtype=np.uint32)
    be.dispatch("render.metal", "render_pixels", pk.width * pk.height, pk.params.reshape(1), cols, rows,
                np.ascontiguousarray(pk.ladder), out)
    return out.view(np.uint8).reshape(pk.height, pk.width, 4)


def _backend(backend):
    if hasattr(backend, "dispatch"):
        return backend
    if backend not in SHADER_BACKENDS:
        raise ValueError(f"render backend must be one of {(*SHADER_BACKENDS, 'numpy', 'auto')}, got {backend!r}")
    from marketphys.kernels import get_backend

    return get_backend(backend)
