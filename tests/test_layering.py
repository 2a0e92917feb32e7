"""Imports only point down the layers of docs/architecture.md ("Layers").

Every module under marketphys/ is parsed with ``ast``; every import (module level, inside functions,
under ``TYPE_CHECKING``, relative or absolute, and ``importlib.import_module("marketphys....")`` with a
literal name) is mapped to a layer. An import of a higher layer, or of a different package on the same
layer (replay <-> serving), is a violation reported as ``file:line importer -> target``. A module that
no layer names is a violation too, so a new top-level package must be placed before it can land.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Lowest first. The key is the top-level name under marketphys ("" is marketphys/__init__, the public face).
RANKS: dict[str, int] = {
    "atomic": 0, "dbn": 0, "_version": 0,
    "core": 1,
    "kernels": 2, "baselines": 2,
    "pipeline": 3,
    "chain": 4, "synth": 4,
    "frames": 5,
    "replay": 6, "serving": 6, "render": 6,
    "widgets": 7,
    "cli": 8, "demo": 8, "": 8,
}  # fmt: skip

# (importer module, target module) -> reason. Keep it short; an entry is a documented debt.
EXCEPTIONS: dict[tuple[str, str], str] = {
    ("marketphys.replay.session", "marketphys.widgets.lab"):
        "Session.lab() is the notebook's one-call way to open the lab on a replay; loaded only when called",
    ("marketphys.replay.session", "marketphys.widgets.charts"):
        "Session.charts() is the notebook's one-call way to chart a replay; loaded only when called",
}


@dataclass(frozen=True)
class Edge:
    path: str  # relative to the scanned root
    line: int
    importer: str  # dotted module name
    target: str  # dotted module name

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.importer} -> {self.target}"


def _module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve_from(root: Path, base: str, names: list[str]) -> list[str]:
    """``from base import a, b``: a name that is a submodule of base is the target, otherwise base is."""
    targets = []
    for name in names:
        sub = f"{base}.{name}"
        as_path = root.joinpath(*sub.split("."))
        if as_path.with_suffix(".py").is_file() or (as_path / "__init__.py").is_file():
            targets.append(sub)
        else:
            targets.append(base)
    return targets


def imports_of(root: Path, path: Path) -> list[tuple[int, str]]:
    """(line, dotted target) for every marketphys import in the file at ``path``."""
    module = _module_name(root, path)
    is_pkg = path.name == "__init__.py"
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                pkg = module.split(".") if is_pkg else module.split(".")[:-1]
                up = node.level - 1
                if up > len(pkg) - 1:
                    raise ValueError(f"{path}:{node.lineno}: relative import beyond the marketphys package")
                anchor = pkg[: len(pkg) - up]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            found += [(node.lineno, t) for t in _resolve_from(root, base, [a.name for a in node.names])]
        elif isinstance(node, ast.Call):
            fn = node.func
            name = fn.attr if isinstance(fn, ast.Attribute) else fn.id if isinstance(fn, ast.Name) else ""
            if name == "import_module" and node.args and isinstance(node.args[0], ast.Constant):
                if isinstance(node.args[0].value, str):
                    found.append((node.lineno, node.args[0].value))
    ours = {(line, t) for line, t in found if t == "marketphys" or t.startswith("marketphys.")}
    return sorted(ours)


def package_of(dotted: str) -> str:
    """The layer key of a dotted module: the name right under marketphys ("" for marketphys itself)."""
    parts = dotted.split(".")
    return parts[1] if len(parts) > 1 else ""


def violations(root: Path, exceptions: dict[tuple[str, str], str] | None = None) -> list[str]:
    """Every import that breaks the layering, over all modules of the package at ``root/marketphys``."""
    exceptions = EXCEPTIONS if exceptions is None else exceptions
    out: list[str] = []
    for path in sorted((root / "marketphys").rglob("*.py")):
        if any((root / p).is_symlink() for p in [path.relative_to(root), *path.relative_to(root).parents]):
            continue  # marketphys/shaders links to ../shaders: not part of the package's Python
        importer = _module_name(root, path)
        src = package_of(importer)
        rel = str(path.relative_to(root))
        if src not in RANKS:
            out.append(f"{rel}: module {importer} is on no layer (add '{src}' to RANKS in tests/test_layering.py)")
            continue
        for line, target in imports_of(root, path):
            dst = package_of(target)
            edge = Edge(rel, line, importer, target)
            if dst == src or (importer, target) in exceptions:
                continue
            if dst not in RANKS:
                out.append(f"{edge}  (target is on no layer)")
            elif RANKS[dst] > RANKS[src]:
                a, b = src or "marketphys", dst or "marketphys"
                out.append(f"{edge}  (upward: {a} rank {RANKS[src]} -> {b} rank {RANKS[dst]})")
            elif RANKS[dst] == RANKS[src]:
                out.append(f"{edge}  (sideways: {src} and {dst} share rank {RANKS[src]})")
    return out


def test_imports_only_point_down():
    bad = violations(ROOT)
    assert not bad, f"{len(bad)} imports break the layering:\n" + "\n".join(bad)


def test_every_exception_names_known_layers_a_reason_and_a_live_edge():
    if not EXCEPTIONS:
        return
    live = "\n".join(violations(ROOT, {}))
    for (src, dst), reason in EXCEPTIONS.items():
        assert package_of(src) in RANKS and package_of(dst) in RANKS, (src, dst)
        assert len(reason.split()) >= 3, f"exception {src} -> {dst} needs a reason"
        assert f" {src} -> {dst} " in live, f"stale exception {src} -> {dst}"


# --- the checker itself bites: a synthetic tree with planted imports -----------------------------------


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    for d in {p.parent for p in tmp_path.rglob("*.py")}:
        (d / "__init__.py").touch()
    return tmp_path


def test_checker_reports_an_upward_function_level_import(tmp_path):
    root = _tree(tmp_path, {
        "marketphys/core/engine.py": "import numpy\n\n\ndef reset():\n    from marketphys.kernels import base\n",
        "marketphys/kernels/base.py": "from marketphys.core import engine\n",
    })  # fmt: skip
    assert violations(root, {}) == [
        "marketphys/core/engine.py:5: marketphys.core.engine -> marketphys.kernels.base  "
        "(upward: core rank 1 -> kernels rank 2)"
    ]


def test_checker_resolves_relative_imports_and_flags_sideways(tmp_path):
    root = _tree(tmp_path, {
        "marketphys/replay/sources.py": "from ..serving.source import lake_source\nfrom . import log\n",
        "marketphys/replay/log.py": "",
        "marketphys/serving/source.py": "",
        "marketphys/atomic.py": "",
    })  # fmt: skip
    assert violations(root, {}) == [
        "marketphys/replay/sources.py:1: marketphys.replay.sources -> marketphys.serving.source  "
        "(sideways: replay and serving share rank 6)"
    ]


def test_checker_flags_type_checking_import_module_and_unranked(tmp_path):
    root = _tree(tmp_path, {
        "marketphys/pipeline/gold.py": (
            "from typing import TYPE_CHECKING\nimport importlib\n"
            "if TYPE_CHECKING:\n    from marketphys.replay.session import Session\n"
            "m = importlib.import_module('marketphys.widgets')\n"
        ),
        "marketphys/oddity.py": "",
    })  # fmt: skip
    got = violations(root, {})
    assert [g.split("  ")[0] for g in got] == [
        "marketphys/oddity.py: module marketphys.oddity is on no layer "
        "(add 'oddity' to RANKS in tests/test_layering.py)",
        "marketphys/pipeline/gold.py:4: marketphys.pipeline.gold -> marketphys.replay.session",
        "marketphys/pipeline/gold.py:5: marketphys.pipeline.gold -> marketphys.widgets",
    ]


def test_checker_accepts_downward_and_public_face_imports(tmp_path):
    root = _tree(tmp_path, {
        "marketphys/__init__.py": "from marketphys.replay.session import Session\nfrom .pipeline import build\n",
        "marketphys/replay/session.py": "from marketphys.core.engine import Engine\nfrom ..atomic import write\n",
        "marketphys/core/engine.py": "from marketphys import atomic\n",
        "marketphys/atomic.py": "",
        "marketphys/pipeline/build.py": "",
    })  # fmt: skip
    assert violations(root, {}) == []
    # the same upward edge disappears only through a named exception
    (root / "marketphys/core/engine.py").write_text("from marketphys.replay import session\n")
    assert len(violations(root, {})) == 1
    assert violations(root, {("marketphys.core.engine", "marketphys.replay.session"): "planted for the test"}) == []


def test_importing_the_public_face_from_below_is_upward(tmp_path):
    root = _tree(tmp_path, {"marketphys/core/theta.py": "import marketphys\nfrom marketphys import __version__\n"})
    got = violations(root, {})
    assert len(got) == 2 and all("-> marketphys  (upward: core rank 1 -> marketphys rank 8)" in g for g in got)
