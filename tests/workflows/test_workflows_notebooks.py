"""The seven workflow notebooks run top to bottom (small sizes via MARKETPHYS_NB_SMALL=1).

Beyond "no cell raised", each notebook must show what it teaches: the Physics Lab
widget where a session is replayed or streamed, Altair charts where they are drawn (rendered offline:
Vega bundled, no CDN).
"""

from __future__ import annotations

import os
import re

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = ["01_quickstart", "02_replay_cell_by_cell", "03_hypothesis", "04_calibrate_and_export", "05_live",
             "06_pipeline", "07_gamma_profile"]
WIDGET = "application/vnd.jupyter.widget-view+json"
VEGA = "vega-lite chart"
SHOWS = {"01_quickstart": {WIDGET, VEGA}, "02_replay_cell_by_cell": {WIDGET, VEGA}, "03_hypothesis": {VEGA},
         "05_live": {WIDGET}, "06_pipeline": {WIDGET}, "07_gamma_profile": {VEGA}}

SHOWS_BACKEND = {"01_quickstart", "02_replay_cell_by_cell", "03_hypothesis", "04_calibrate_and_export", "05_live",
                 "06_pipeline"}  # every notebook that runs the engine prints the backend it ran on


def _offline_chart(nb, output) -> bool:
    """A Vega-Lite chart that renders without the network: Altair's chart widget with Vega bundled (the
    toolkit's default in a notebook), or HTML with Vega inlined. A chart loading Vega from a CDN does not count."""
    data = output.get("data", {})
    html = str(data.get("text/html", ""))
    if "vegaEmbed" in html:
        return "cdn.jsdelivr" not in html
    model = data.get(WIDGET, {}).get("model_id")
    state = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    s = state.get(model, {}).get("state", {}) if model else {}
    return "vega-lite" in str(s.get("spec", {}).get("$schema", "")) and "cdn.jsdelivr" not in str(s.get("_esm", "")) \
        and len(str(s.get("_esm", ""))) > 200_000


def test_every_notebook_is_executed(repo_root):
    assert sorted(p.stem for p in (repo_root / "notebooks").glob("*.ipynb")) == NOTEBOOKS


@pytest.mark.timeout(300)
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs(repo_root, name, monkeypatch):
    monkeypatch.setenv("MARKETPHYS_NB_SMALL", "1")
    monkeypatch.setenv("PYTHONPATH", str(repo_root) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    nb = nbformat.read(repo_root / "notebooks" / f"{name}.ipynb", as_version=4)
    NotebookClient(nb, timeout=240, kernel_name="python3",
                   resources={"metadata": {"path": str(repo_root / "notebooks")}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    errors = [f"{o.ename}: {o.evalue}" for o in outputs if o.output_type == "error"]
    assert not errors, errors
    shown = {mime for o in outputs for mime in o.get("data", {})}
    if any(_offline_chart(nb, o) for o in outputs):
        shown.add(VEGA)
    missing = SHOWS.get(name, set()) - shown
    assert not missing, f"{name} shows no {missing}; it showed {sorted(shown)}"
    printed = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    if name in SHOWS_BACKEND:
        assert re.search(r"backend:? (metal|msl-cpu|numpy)\b", printed), f"{name} does not say which kernel backend ran"
