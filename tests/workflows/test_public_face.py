"""The public face: ``import marketphys as mp`` gives the workflow, lazily, and the notebooks use nothing else.

Each check runs what a user would: a fresh interpreter for what ``import marketphys`` loads, the
notebooks' own code cells (parsed, not executed) for what they import and which ``mp.`` names they use.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys

import pytest

import marketphys as mp

WORKFLOW = {"Session", "EngineConfig", "build", "producer", "export_theta", "load_theta", "PhysicsLab", "scorecard",
            "gex"}


def _fresh(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()


def test_the_workflow_names_are_the_top_level_and_each_resolves_to_its_home():
    assert set(mp.__all__) == WORKFLOW | {"__version__"}
    from marketphys.baselines.scorecard import score_histories
    from marketphys.chain.exposure import chain_gex
    from marketphys.core.producers import producer
    from marketphys.pipeline.build import build
    from marketphys.replay.export import export_theta, load_theta
    from marketphys.replay.session import Session

    assert (mp.Session, mp.build, mp.producer, mp.export_theta, mp.load_theta, mp.scorecard, mp.gex) == \
        (Session, build, producer, export_theta, load_theta, score_histories, chain_gex)
    assert callable(mp.build) and not isinstance(mp.build, type(mp))     # the function, never the module
    for name in mp.__all__:
        assert getattr(mp, name) is not None, name


def test_internals_are_not_at_the_top_level():
    for name in ("Ledger", "WallSet", "RolloutResult", "Fields", "GaussNewtonLearner", "chain_gex"):
        with pytest.raises(AttributeError, match=f"no attribute '{name}'"):
            getattr(mp, name)


@pytest.mark.parametrize("package", sorted(mp._SUBPACKAGES - {"demo", "atomic"}))
def test_every_subpackage_name_in_its_all_resolves(package):
    sub = getattr(mp, package)
    names = getattr(sub, "__all__", None)
    assert names, f"marketphys.{package} has no __all__"
    assert len(names) == len(set(names)), f"marketphys.{package}.__all__ repeats a name"
    for name in names:
        assert getattr(sub, name) is not None, f"marketphys.{package}.{name}"


def test_import_marketphys_is_light():
    """Nothing heavy loads until a name is used: not NumPy, pandas or Arrow, and no subpackage (only the
    one-line ``_version`` module, which imports nothing)."""
    out = _fresh("import sys, marketphys\n"
                 "print(sorted(m for m in sys.modules if m.split('.')[0] in ('numpy', 'pandas', 'pyarrow', 'altair')"
                 " or (m.startswith('marketphys.') and m != 'marketphys._version')))")
    assert out == "[]"
    out = _fresh("import sys, marketphys as mp\nmp.gex\n"
                 "print(sorted({m.split('.')[1] for m in sys.modules if m.startswith('marketphys.')}))")
    loaded = set(ast.literal_eval(out))
    assert "chain" in loaded and not loaded & {"replay", "serving", "render", "widgets", "cli", "frames", "demo"}, \
        loaded             # a name loads its own layer and those below, never one above


def _code_cells(path) -> list[str]:
    nb = json.loads(path.read_text())
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]


def _notebooks(repo_root):
    paths = sorted((repo_root / "notebooks").glob("*.ipynb"))
    assert len(paths) >= 7
    return paths


def _mp_chains(tree: ast.AST) -> list[list[str]]:
    """Every ``mp.a.b`` attribute chain in a cell, outermost names first (``['replay', 'ablate']``)."""
    chains = []
    inner = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Attribute)}   # part of a longer chain
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and id(node) not in inner:
            parts, cur = [], node
            while isinstance(cur, ast.Attribute):
                parts.append(cur.attr)
                cur = cur.value
            if isinstance(cur, ast.Name) and cur.id == "mp":
                chains.append(parts[::-1])
    return chains


def test_notebooks_import_only_marketphys_as_mp_and_the_standard_library(repo_root):
    for path in _notebooks(repo_root):
        for src in _code_cells(path):
            for node in ast.walk(ast.parse(src)):
                if isinstance(node, ast.Import):
                    for a in node.names:
                        if a.name.split(".")[0] == "marketphys":
                            assert (a.name, a.asname) == ("marketphys", "mp"), f"{path.name}: import {a.name}"
                        else:
                            assert a.name.split(".")[0] in sys.stdlib_module_names, f"{path.name}: import {a.name}"
                elif isinstance(node, ast.ImportFrom):
                    assert node.module.split(".")[0] in sys.stdlib_module_names, f"{path.name}: from {node.module}"


def test_notebooks_use_only_public_names(repo_root):
    """Every ``mp.X`` a notebook uses is a workflow name, and every ``mp.sub.Y`` is in that subpackage's
    ``__all__``: a notebook never reaches past the public face."""
    used = set()
    for path in _notebooks(repo_root):
        for src in _code_cells(path):
            for chain in _mp_chains(ast.parse(src)):
                head = chain[0]
                if head in mp.__all__:
                    continue
                assert head in mp._SUBPACKAGES and len(chain) > 1, f"{path.name}: mp.{'.'.join(chain)}"
                sub = getattr(mp, head)
                assert chain[1] in getattr(sub, "__all__", ()), f"{path.name}: mp.{'.'.join(chain)} is not public"
                used.add(".".join(chain[:2]))
    assert {"synth.generate_session", "replay.ablate", "serving.LiveClient"} <= used   # the check saw real cells


def _check_public(chain: list[str], where: str) -> None:
    head = chain[0]
    if head in mp.__all__ or (chain == [head] and head in mp._SUBPACKAGES):     # a name, or a subpackage named
        return
    assert head in mp._SUBPACKAGES, f"{where}: mp.{'.'.join(chain)}"
    assert chain[1] in getattr(mp, head).__all__, f"{where}: mp.{'.'.join(chain)} is not public"


def test_docs_show_the_workflow_through_the_public_face(repo_root):
    """README and docs/*.md: their Python blocks import marketphys only as mp, and every ``mp.`` name they
    mention (code or prose) is public."""
    import re

    pages = [repo_root / "README.md", *sorted((repo_root / "docs").glob("*.md"))]
    seen = 0
    for page in pages:
        text = page.read_text()
        for block in re.findall(r"```python\n(.*?)```", text, flags=re.S):
            for node in ast.walk(ast.parse(block)):
                if isinstance(node, ast.ImportFrom):
                    assert node.module.split(".")[0] != "marketphys", f"{page.name}: from {node.module}"
                if isinstance(node, ast.Import):
                    for a in node.names:
                        if a.name.split(".")[0] == "marketphys":
                            assert (a.name, a.asname) == ("marketphys", "mp"), f"{page.name}: import {a.name}"
        for m in re.finditer(r"(?<![\w.])mp((?:\.[A-Za-z_]\w*)+)", text):
            _check_public(m.group(1).split(".")[1:3], page.name)
            seen += 1
    assert seen > 20
