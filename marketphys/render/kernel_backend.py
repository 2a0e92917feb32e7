"""Dispatch of shaders/render.metal through the kernel backends (msl-cpu, metal).

One thread per pixel; buffers are allocated per call (a 1280x720 texture is 3.7 MB,
small next to the render itself). Which backends work is marketphys.kernels' answer.
"""

from __future__ import annotations

import numpy as np

from marketphys.render.scene import Packed

SHADER_BACKENDS = ("metal", "msl-cpu")


def available() -> list[str]:
    """Shader backends that work here, fastest first (empty when none does)."""
    try:
        from marketphys.kernels import available_backends
    except ImportError:
        return []
    ok = {name for name, usable, _ in available_backends() if usable}
    return [b for b in SHADER_BACKENDS if b in ok]


def render(pk: Packed, backend: str) -> np.ndarray:
    if backend not in SHADER_BACKENDS:
        raise ValueError(f"render backend must be one of {(*SHADER_BACKENDS, 'numpy', 'auto')}, got {backend!r}")
    from marketphys.kernels import get_backend

    be = get_backend(backend)
    walls = pk.walls if pk.walls.size else np.zeros((1, pk.walls.shape[1]), np.float32)
    out = np.zeros(pk.width * pk.height, dtype=np.uint32)
    be.dispatch("render.metal", "render_bands", pk.width * pk.height, pk.params.reshape(1),
                np.ascontiguousarray(pk.fields), np.ascontiguousarray(walls), np.ascontiguousarray(pk.ladder), out)
    return out.view(np.uint8).reshape(pk.height, pk.width, 4)
