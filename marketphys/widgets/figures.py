"""The three-band view of one session moment as a PNG (for reports and `make demo`).

The pixels are the Physics Lab's own: ``marketphys.render.render_texture`` of the scene
the lab would show for the session's engine right now (band A the medium, B the
forecast ladder, C the resolved errors; docs/architecture.md#visual-encoding), on
the fastest render backend here. Text overlays are the widget's JS and are not drawn.
"""

from __future__ import annotations


def three_band_png(session, path, title: str | None = None, width: int = 1280, height: int = 720,
                   backend: str = "auto") -> str:
    """Render the session's current frame and write it as PNG (atomically); returns the path.

    ``title`` is accepted for callers' captions; the texture itself carries no text.
    """
    from marketphys.render import render_texture
    from marketphys.widgets.history import snapshot

    if session.forecast is None:
        raise ValueError("three_band_png: the session has not stepped yet (no forecast to draw)")
    rgba = render_texture(snapshot(session.engine, session.forecast).scene(width, height), backend=backend)
    from marketphys.atomic import atomic_write_bytes
    from marketphys.render.png import encode_png

    atomic_write_bytes(path, encode_png(rgba))
    return str(path)
