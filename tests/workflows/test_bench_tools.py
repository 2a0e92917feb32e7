"""`make bench` runs every benchmark, and compare.py pairs the figures of two runs line by line."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "benchmarks"


def _load(name: str):
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = mod  # dataclasses look their module up
        spec.loader.exec_module(mod)
        return mod
    finally:
        sys.path.remove(str(BENCH))


def test_every_benchmark_script_runs_in_make_bench_with_a_quick_mode():
    run_all = _load("run_all")
    scripts = {p.stem for p in BENCH.glob("*.py")} - {"run_all", "compare"}
    assert set(run_all.SCRIPTS) == scripts, "benchmarks/run_all.py SCRIPTS must list every benchmark script"
    assert set(run_all.FALLBACK_QUICK) == scripts
    for name in scripts:
        assert '"--quick"' in (BENCH / f"{name}.py").read_text(), f"benchmarks/{name}.py has no --quick"
        args = run_all.quick_args(ROOT, name, Path("/lake"))
        assert args[0] == "--quick" and (("--lake" in args) == (name in run_all.NEEDS_LAKE)), (name, args)


def test_compare_pairs_figures_of_matching_lines_and_drops_equal_ones():
    compare = _load("compare")
    this = (
        "frames: 150\nbaseline: Engine.run alone   83.6 frames/s\n"
        "Session  61.3 frames/s  (1.36x the engine's time)\nonly here 5 s\n"
    )
    rev = "frames: 150\nSession  59.9 frames/s  (1.52x the engine's time)\nbaseline: Engine.run alone   91.1 frames/s\n"
    rows = compare.pair_rows(this, rev)
    assert [(a, b) for _, a, b in rows] == [(83.6, 91.1), (61.3, 59.9), (1.36, 1.52)]
    assert rows[0][0].startswith("baseline: Engine.run alone @ frames/s")
    assert compare.pair_rows("1,234,567 msg/s\n", "1,234,000 msg/s\n")[0][1:] == (1234567.0, 1234000.0)
