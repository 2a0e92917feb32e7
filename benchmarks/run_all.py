"""Every benchmark in benchmarks/ in its quick mode, one after another (``make bench``).

Each script prints its own figures next to its own same-run baseline; this runner only adds a small
lake they share (a short synthetic session built with the ``marketphys`` CLI), the wall time and exit
status of each script, and a summary. Quick figures are smoke figures: RESULTS.md takes full runs.

    python benchmarks/run_all.py [--only engine,synth] [--minutes 5] [--keep-lake DIR]

``benchmarks/compare.py`` uses the same pieces to run two checkouts side by side.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

# Every script, the order they run in. A script that needs the shared lake is in NEEDS_LAKE.
SCRIPTS = ["engine", "kernels", "synth", "pipeline", "options", "lobster", "render", "session_lab", "workflows",
           "demo", "scorecards", "serving", "decode", "lab_day"]  # fmt: skip
NEEDS_LAKE = {"demo", "scorecards"}
# The same sizes as each script's --quick, as flags that scripts without --quick (older revisions) accept.
FALLBACK_QUICK = {
    "engine": ["--frames", "1000"],
    "kernels": [],  # has had --quick from the start
    "synth": ["--minutes", "2"],
    "pipeline": ["--messages", "200000", "--repeat", "1"],
    "options": ["--minutes", "5", "--greeks", "100000"],
    "lobster": ["--repeat", "1"],
    "render": ["--no-browser"],
    "session_lab": ["--frames", "120", "--every-frame", "8"],
    "workflows": ["--frames", "150"],
    "demo": ["--frames", "300"],
    "scorecards": [],
    "serving": ["--seconds", "10", "--realtime-s", "3"],
    "decode": ["--minutes", "10", "--repeat", "2"],
    "lab_day": ["--minutes", "1", "--day-frames", "5000", "--steps", "10"],
}


@dataclass
class Result:
    script: str
    rc: int
    wall_s: float
    output: str
    args: list[str] = field(default_factory=list)


def tree_env(tree: Path) -> dict[str, str]:
    """The environment that makes ``tree``'s package the one imported (not an installed one)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(tree), str(tree / "tests"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def build_lake(tree: Path, out: Path, minutes: float, python: str = sys.executable) -> Path:
    """A short synthetic session as DBN, built into a lake, with ``tree``'s own command line."""
    dbn, lake = out / "dbn", out / "lake"
    for cmd in (["synth", "--minutes", str(minutes), "--seed", "1", "--out", str(dbn), "--quiet"],
                ["build", "--input", str(dbn), "--lake", str(lake), "--quiet"]):  # fmt: skip
        subprocess.run([python, "-m", "marketphys.cli", *cmd], cwd=tree, env=tree_env(tree), check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip
    return lake


def quick_args(tree: Path, script: str, lake: Path | None) -> list[str]:
    """``--quick`` where the script at ``tree`` has it, else the equivalent explicit sizes."""
    text = (tree / "benchmarks" / f"{script}.py").read_text()
    args = ["--quick"] if "--quick" in text else list(FALLBACK_QUICK[script])
    if script in NEEDS_LAKE:
        if lake is None:
            raise ValueError(f"benchmark {script!r} needs a lake (lake=None)")
        args += ["--lake", str(lake)]
    return args


def run_one(tree: Path, script: str, lake: Path | None, python: str = sys.executable, echo: bool = True) -> Result:
    args = quick_args(tree, script, lake)
    cmd = [python, str(tree / "benchmarks" / f"{script}.py"), *args]
    if echo:
        print(f"\n=== {script} ({tree.name}): {' '.join(cmd[1:])}", flush=True)
    t = time.perf_counter()
    p = subprocess.run(cmd, cwd=tree, env=tree_env(tree), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    res = Result(script, p.returncode, time.perf_counter() - t, p.stdout, args)
    if echo:
        print(res.output, end="" if res.output.endswith("\n") else "\n", flush=True)
    return res


def pick(only: str | None) -> list[str]:
    if not only:
        return list(SCRIPTS)
    names = [n.strip() for n in only.split(",") if n.strip()]
    unknown = [n for n in names if n not in SCRIPTS]
    if unknown:
        raise SystemExit(f"--only: unknown benchmark(s) {unknown}; known: {', '.join(SCRIPTS)}")
    return names


def skipped(res: Result) -> bool:
    return res.rc == 0 and bool(re.search(r"^skipped:", res.output, flags=re.M))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default=None, help="comma-separated subset of: " + ", ".join(SCRIPTS))
    ap.add_argument("--minutes", type=float, default=5.0, help="length of the shared synthetic lake session")
    ap.add_argument("--keep-lake", type=Path, default=None, help="build the shared lake here and keep it")
    a = ap.parse_args(argv)
    names = pick(a.only)
    with tempfile.TemporaryDirectory(prefix="mp-bench-") as tmp:
        lake = None
        if NEEDS_LAKE & set(names):
            t = time.perf_counter()
            lake = build_lake(ROOT, a.keep_lake or Path(tmp), a.minutes)
            print(f"shared lake: {a.minutes:g}-minute synthetic session in {time.perf_counter() - t:.1f} s at {lake}")
        results = [run_one(ROOT, n, lake) for n in names]
    print(f"\n{'benchmark':<12} {'status':<8} {'wall s':>7}")
    for r in results:
        status = "skipped" if skipped(r) else "ok" if r.rc == 0 else f"rc {r.rc}"
        print(f"{r.script:<12} {status:<8} {r.wall_s:7.1f}")
    failed = [r.script for r in results if r.rc != 0]
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
