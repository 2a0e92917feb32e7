"""Vega offline in notebooks: Altair's ``jupyter`` renderer with Vega bundled by vl-convert, no CDN.

Altair's default renderer loads Vega from a CDN, so charts are blank on firewalled machines. Every chart
module of the toolkit calls ``auto_offline()`` at import: inside a Jupyter kernel, and only while Altair's
renderer is still its ``default`` (a renderer the user picked is kept), it enables
``alt.renderers.enable("jupyter", offline=True)``. ``disable_offline_charts()`` restores the renderer that
was active before; setting ``MARKETPHYS_ONLINE_CHARTS=1`` before import leaves Altair untouched.
"""

from __future__ import annotations

import os

import altair as alt

OFFLINE_ENV = "MARKETPHYS_ONLINE_CHARTS"
"""Set to 1 before import to keep Altair's renderer untouched in notebooks (Vega from the CDN)."""

_saved_renderer: tuple[str, dict] | None = None


def is_enabled() -> bool:
    return _saved_renderer is not None


def enable_offline_charts() -> None:
    """Render Altair charts through the ``jupyter`` widget renderer with Vega bundled locally (no CDN).

    Remembers the renderer it replaces, so ``disable_offline_charts()`` can restore it; widgets made by
    ``LiveCharts`` load the same offline bundle.
    """
    global _saved_renderer
    if _saved_renderer is None:
        _saved_renderer = (alt.renderers.active, dict(alt.renderers.options))
    alt.renderers.enable("jupyter", offline=True)


def disable_offline_charts() -> None:
    """Opt out: restore the renderer active before ``enable_offline_charts()`` and load Vega from the CDN."""
    global _saved_renderer
    if _saved_renderer is not None:
        name, options = _saved_renderer
        alt.renderers.enable(name, **options)
        _saved_renderer = None
    if alt.JupyterChart._is_offline:
        alt.JupyterChart.enable_offline(False)


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    return getattr(get_ipython(), "kernel", None) is not None


def auto_offline() -> bool:
    """At import: go offline in a Jupyter kernel unless opted out or the user already chose a renderer."""
    if os.environ.get(OFFLINE_ENV, "") not in ("", "0") or not _in_kernel():
        return False
    if alt.renderers.active != "default":
        return False
    enable_offline_charts()
    return True
