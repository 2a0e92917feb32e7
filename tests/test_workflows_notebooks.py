"""The workflow notebooks run top to bottom (small sizes via MARKETPHYS_NB_SMALL=1)."""

from __future__ import annotations

import os

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = ["02_replay_cell_by_cell", "03_hypothesis", "04_calibrate_and_export", "06_pipeline"]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs(repo_root, name, monkeypatch):
    monkeypatch.setenv("MARKETPHYS_NB_SMALL", "1")
    monkeypatch.setenv("PYTHONPATH", str(repo_root) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    nb = nbformat.read(repo_root / "notebooks" / f"{name}.ipynb", as_version=4)
    NotebookClient(nb, timeout=240, kernel_name="python3",
                   resources={"metadata": {"path": str(repo_root / "notebooks")}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
