"""Imports point down the layers (the RANK table below, lowest first): a module imports only from its own package or
a lower layer, function-level imports included. Read from the source (ast), so an import hidden in a
function that no test calls is still seen."""

from __future__ import annotations

import ast

RANK = {"atomic": 0, "dbn": 0, "core": 1, "kernels": 2, "baselines": 2, "pipeline": 3, "chain": 4, "synth": 4,
        "frames": 5, "replay": 6, "serving": 6, "render": 6, "widgets": 7, "cli": 8, "demo": 8}

# Upward edges still open, each named; this list may only shrink (a new upward import fails the test).
KNOWN = {
    ("pipeline", "chain"),        # silver_options prices the chain with chain.profile (the data layer's own GEX math)
    ("replay", "render"), ("replay", "widgets"),   # Session.lab()/charts() and replay figures draw
    ("replay", "serving"), ("serving", "replay"),  # lake -> frames, until marketphys.frames holds it
}


def _imports(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield node.lineno, a.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module


def _edges(repo_root):
    root = repo_root / "marketphys"
    for path in sorted(root.rglob("*.py")):
        own = path.relative_to(root).parts[0].removesuffix(".py")
        if own == "__init__":
            continue                                   # the package face sits on top of everything
        for line, name in _imports(path):
            parts = name.split(".")
            if parts[0] != "marketphys" or len(parts) < 2 or parts[1] == own:
                continue
            yield own, parts[1], f"{path.relative_to(repo_root)}:{line} imports {name}"


def test_every_import_points_down(repo_root):
    bad = [where for own, to, where in _edges(repo_root)
           if RANK.get(to, -1) >= RANK[own] and (own, to) not in KNOWN]
    assert not bad, "upward (or sideways) imports:\n" + "\n".join(bad)


def test_the_edges_this_redesign_removed_stay_removed(repo_root):
    edges = {(own, to) for own, to, _ in _edges(repo_root)}
    for gone in [("core", "kernels"), ("kernels", "render"), ("baselines", "widgets"), ("chain", "widgets"),
                 ("pipeline", "cli"), ("replay", "cli"), ("serving", "cli"), ("synth", "cli"), ("chain", "cli"),
                 ("kernels", "cli"), ("demo", "cli")]:
        assert gone not in edges, gone


def test_every_package_has_a_rank(repo_root):
    names = {p.name.removesuffix(".py") for p in (repo_root / "marketphys").iterdir()
             if (p.is_dir() and (p / "__init__.py").exists()) or (p.suffix == ".py" and p.name != "__init__.py")}
    assert names <= set(RANK), sorted(names - set(RANK))
