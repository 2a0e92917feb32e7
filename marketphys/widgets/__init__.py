"""The Physics Lab widget and Altair charts (docs/architecture.md#visual-encoding).

``PhysicsLab`` (anywidget) and the chart functions import lazily so that
``import marketphys.widgets`` stays cheap where Jupyter packages are absent.
"""

from __future__ import annotations

__all__ = ["PhysicsLab", "sample_session"]


def __getattr__(name):
    if name == "PhysicsLab":
        from marketphys.widgets.lab import PhysicsLab

        return PhysicsLab
    if name == "sample_session":
        from marketphys.widgets.sample import sample_session

        return sample_session
    raise AttributeError(name)
