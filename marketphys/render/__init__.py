"""The three-band instrument texture (docs/architecture.md#visual-encoding).

``render_texture(scene)`` returns an (H, W, 4) uint8 RGBA array. Backends: ``numpy``
(the reference, always there) and ``msl-cpu`` / ``metal`` once the kernel backends
can run shaders/render.metal; ``auto`` picks the fastest that works and says which.
"""

from __future__ import annotations

import numpy as np

from marketphys.render.layout import BAND_FRACTIONS, HAZE_CAP, band_heights, px_to_tick, tick_to_px
from marketphys.render.reference import render_packed
from marketphys.render.scene import Packed, RenderScene, normalize_potential, pack

__all__ = ["BAND_FRACTIONS", "HAZE_CAP", "Packed", "RenderScene", "band_heights", "normalize_potential", "pack",
           "px_to_tick", "render_texture", "tick_to_px", "render_backends"]


def render_backends() -> list[str]:
    """Backends that can render here, fastest first."""
    from marketphys.render import kernel_backend

    return [*kernel_backend.available(), "numpy"]


def render_texture(scene: RenderScene, backend: str = "numpy") -> np.ndarray:
    """Render one frame of the instrument; (H, W, 4) uint8 RGBA, row 0 at the top."""
    pk = pack(scene)
    if backend == "auto":
        backend = render_backends()[0]
    if backend == "numpy":
        return render_packed(pk)
    from marketphys.render import kernel_backend

    return kernel_backend.render(pk, backend)
