"""The three-band view of one session moment as a PNG (for reports and `make demo`).

The pixels are the Physics Lab's own: ``marketphys.render.render_texture`` of the scene
the lab would show for the session's engine right now (band A the medium, B the
forecast ladder, C the resolved errors; seed "Medium Scope Visual Encoding Spec"), on
the fastest render backend here. Text overlays are the widget's JS and are not drawn.
"""

from __future__ import annotations

from pathlib import Path


def three_band_png(session, path, title: str | None = None, width: int = 1280, height: int = 720,
                   backend: str = "auto") -> str:
    """Render the session's current frame and write it as PNG (atomically); returns the path.

    ``title`` goes into the PNG's metadata (Title) since the texture has no text.
    """
    from marketphys.render import render_texture
    from marketphys.widgets.history import snapshot

    if session.forecast is None:
        raise ValueError("three_band_png: the session has not stepped yet (no forecast to draw)")
    rgba = render_texture(snapshot(session.engine, session.forecast).scene(width, height), backend=backend)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        plt.imsave(fh, rgba, format="png", metadata={"Title": title or f"{session!r}"[:200]})
    tmp.replace(path)
    return str(path)
