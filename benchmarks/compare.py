"""The quick benchmarks at this checkout and at a git revision, in the same run, side by side.

    python benchmarks/compare.py --against REV [--only engine,synth] [--minutes 5]

REV is checked out into a temporary git worktree (removed at the end). Each benchmark runs at this
checkout, then at REV, one right after the other so that both see the same machine load; each tree runs
its own scripts with its own package (``--quick`` where the script has it, else the same sizes as
explicit flags, see run_all.FALLBACK_QUICK). The table pairs the figures of lines that read the same
apart from their numbers, and prints both and their ratio (this / REV): for a rate (…/s) above 1 is
faster, for a time (s, ms, µs) below 1 is faster. Figures that are equal on both sides (sizes, counts)
are left out. This is what "no speed regression" in RESULTS.md is checked with. Numba caches are kept
per source path, so REV's first compile is part of its run: read its warm-up lines, not its wall time, for
compiled code.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run_all import NEEDS_LAKE, ROOT, Result, build_lake, pick, run_one  # noqa: E402

NUMBER = re.compile(r"(?<![\d.])[-+]?\d[\d,]*(?:\.\d+)?(?:e[-+]?\d+)?(?![\d])")


def template(line: str) -> str:
    return NUMBER.sub("#", line).strip()


def figures(line: str) -> list[tuple[str, float]]:
    """(label, value) for each number in a line; the label is the line around it, the figure as `@` and the
    other numbers as `#`, so two figures of one line read apart."""
    out = []
    ms = list(NUMBER.finditer(line))
    for i, m in enumerate(ms):
        marked = (
            "".join(
                (line[ms[j - 1].end() if j else 0 : x.start()] + ("@" if j == i else "#")) for j, x in enumerate(ms)
            )
            + line[ms[-1].end() :]
        )
        marked = re.sub(r"\s+", " ", marked).strip()
        at = marked.index("@")
        label = marked[max(0, at - 38) : at + 16]
        out.append((("…" if at > 38 else "") + label, float(m.group().replace(",", ""))))
    return out


def pair_rows(this: str, rev: str) -> list[tuple[str, float, float]]:
    """Figures of lines with the same template in both outputs (in order), where the two values differ."""
    by_t: dict[str, list[str]] = {}
    for line in rev.splitlines():
        by_t.setdefault(template(line), []).append(line)
    rows = []
    for line in this.splitlines():
        t = template(line)
        if "#" not in t or not by_t.get(t):
            continue
        other = by_t[t].pop(0)
        for (label, a), (_, b) in zip(figures(line), figures(other), strict=True):
            if a != b:
                rows.append((label, a, b))
    return rows


def table(results: list[tuple[Result, Result]], rev: str) -> str:
    lines = [f"{'benchmark':<12} {'figure':<56} {'this':>12} {rev[:12]:>12} {'this/REV':>9}"]
    for mine, theirs in results:
        status = "" if mine.rc == theirs.rc == 0 else f"  (exit {mine.rc} here, {theirs.rc} at REV)"
        ratio = mine.wall_s / theirs.wall_s if theirs.wall_s else float("nan")
        lines.append(f"{mine.script:<12} {'wall time of the script [s]' + status:<56} {mine.wall_s:12.2f} "
                     f"{theirs.wall_s:12.2f} {ratio:9.2f}")  # fmt: skip
        for label, a, b in pair_rows(mine.output, theirs.output):
            r = f"{a / b:9.2f}" if b else f"{'-':>9}"
            lines.append(f"{'':<12} {label:<56} {a:12.4g} {b:12.4g} {r}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--against", required=True, metavar="REV", help="git revision to compare with (commit, branch, tag)"
    )
    ap.add_argument("--only", default=None, help="comma-separated subset of the benchmarks")
    ap.add_argument("--minutes", type=float, default=5.0, help="length of the synthetic lake session (each tree)")
    ap.add_argument("--quiet", action="store_true", help="print only the table, not each script's output")
    a = ap.parse_args(argv)
    names = pick(a.only)
    sha = subprocess.run(["git", "rev-parse", "--verify", f"{a.against}^{{commit}}"], cwd=ROOT, text=True,
                         capture_output=True)  # fmt: skip
    if sha.returncode != 0:
        raise SystemExit(f"--against {a.against!r}: not a git revision here ({sha.stderr.strip()})")
    with tempfile.TemporaryDirectory(prefix="mp-compare-") as tmp:
        other = Path(tmp) / f"rev-{sha.stdout.strip()[:10]}"
        subprocess.run(["git", "worktree", "add", "--detach", "--quiet", str(other), sha.stdout.strip()], cwd=ROOT,
                       check=True)  # fmt: skip
        try:
            lakes = {ROOT: None, other: None}
            if NEEDS_LAKE & set(names):
                for tree in lakes:
                    out = Path(tmp) / f"lake-{tree.name}"
                    lakes[tree] = build_lake(tree, out, a.minutes)
            results = []
            for name in names:
                mine = run_one(ROOT, name, lakes[ROOT], echo=not a.quiet)
                theirs = run_one(other, name, lakes[other], echo=not a.quiet)
                results.append((mine, theirs))
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(other)], cwd=ROOT, check=False)
    print(f"\nthis checkout vs {a.against} ({sha.stdout.strip()[:10]}), quick sizes, same run:")
    print(table(results, a.against))
    return 1 if any(m.rc or t.rc for m, t in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
