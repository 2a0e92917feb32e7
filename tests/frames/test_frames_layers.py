"""Lake -> frames lives in ``marketphys.frames``: replay and serving both import it and never each other.

Every import counts, function-level ones included (read from the source, nothing is imported here).
"""

from __future__ import annotations

import ast
from pathlib import Path

import marketphys

ROOT = Path(marketphys.__file__).parent
FRAMES_MAY_IMPORT = {"frames", "pipeline", "core", "kernels", "baselines", "atomic", "dbn", "chain", "synth"}


def imported_packages(package: str, root: Path = ROOT) -> dict[str, set[str]]:
    """{marketphys subpackage imported: {file:line, ...}} over every .py file of ``package``."""
    out: dict[str, set[str]] = {}
    for path in sorted((root / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else []
            if isinstance(node, ast.ImportFrom) and node.module == "marketphys":
                names = [f"marketphys.{a.name}" for a in node.names]
            for n in names:
                parts = n.split(".")
                if parts[0] == "marketphys" and len(parts) > 1:
                    out.setdefault(parts[1], set()).add(f"{path.relative_to(root)}:{node.lineno}")
    return out


def test_frames_imports_only_lower_layers():
    bad = {p: sorted(w) for p, w in imported_packages("frames").items() if p not in FRAMES_MAY_IMPORT}
    assert bad == {}


def test_replay_and_serving_do_not_import_each_other():
    assert imported_packages("replay").get("serving", set()) == set()
    assert imported_packages("serving").get("replay", set()) == set()


def test_the_layer_check_sees_function_level_imports(tmp_path):
    pkg = tmp_path / "frames"
    pkg.mkdir()
    (pkg / "x.py").write_text("def f():\n    from marketphys.serving.client import LiveClient\n")
    assert imported_packages("frames", tmp_path) == {"serving": {"frames/x.py:2"}}
