"""The render shader's self-test case, for ``marketphys backends --selftest``.

It lives with the renderer (the kernels layer below knows nothing of rendering); the command
line adds it to the kernels' own cases (``marketphys.cli.backends.selftest_cases``).
"""

from __future__ import annotations

import numpy as np

from marketphys.core.grid import Grid


def render_case():
    """("render_prepass+pixels", tolerance, run(backend) -> RGBA pixels, error): the shader's pixels
    against the NumPy reference renderer, within one colour level."""
    grid = Grid(n=24, dx=2.0)

    def render(be):
        from marketphys.render import kernel_backend
        from marketphys.render.reference import render_packed
        from marketphys.render.scene import RenderScene, pack

        x = np.arange(-grid.n, grid.n + 1) * grid.dx
        scene = RenderScene(U=-3 * np.exp(-0.5 * ((x - 8) / 6) ** 2), O=np.zeros_like(x), C=4 * np.tanh(x / 15),
                            G=2 * np.exp(-0.5 * ((x + 20) / 8) ** 2), dx=grid.dx, wall_center=np.array([20.0]),
                            wall_strength=np.array([5.0]), wall_width=np.array([3.0]), wall_s_max=np.array([10.0]),
                            wall_d_strength=np.array([0.5]), probe_v=10.0, probe_a=-40.0,
                            x_hat=np.array([1.0, 3.0, 4.0, 5.0]), width=97, height=61)
        pk = pack(scene)
        return render_packed(pk) if be.name == "numpy" else kernel_backend.render(pk, be)

    return ("render_prepass+pixels", 1.0, render, lambda a, b: float(np.abs(a.astype(int) - b.astype(int)).max()))
