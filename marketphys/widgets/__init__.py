"""The Physics Lab widget and Altair charts (docs/architecture.md#visual-encoding).

``PhysicsLab`` (anywidget) and the chart functions import lazily so that
``import marketphys.widgets`` stays cheap where Jupyter packages are absent. Chart builders
of the lower layers' results live here too (a scorecard, a chain's GEX): the layers below
hand over data, this layer draws it.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "PhysicsLab": "marketphys.widgets.lab", "sample_session": "marketphys.widgets.sample",
    "LiveCharts": "marketphys.widgets.charts", "disable_offline_charts": "marketphys.widgets.offline",
    "scorecard_charts": "marketphys.widgets.scorecard_charts", "theta_chart": "marketphys.widgets.scorecard_charts",
    "strike_bars": "marketphys.widgets.gex_charts", "calls_vs_puts": "marketphys.widgets.gex_charts",
    "profile_chart": "marketphys.widgets.gex_charts", "zero_gamma_chart": "marketphys.widgets.gex_charts",
}

__all__ = list(_EXPORTS)


def __getattr__(name):
    mod = _EXPORTS.get(name)
    if mod is None:
        raise AttributeError(f"module 'marketphys.widgets' has no attribute {name!r}")
    return getattr(importlib.import_module(mod), name)
