"""Citations stay inside the repository: no file points at design notes a clone does not contain, and
every `docs/<page>.md#<section>` a comment or page cites names a heading that exists."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SKIP_DIRS = {".git", ".venv", "out", "build", "node_modules", "__pycache__", ".pytest_cache", ".ruff_cache",
             ".mypy_cache", "test-artifacts", "mutants", "lake", "cache", "sample"}  # fmt: skip

# Design notes that live outside the repository, and the ways the code used to cite them.
OUTSIDE = [
    re.compile(r"DESIGN\.md"),
    re.compile(r"\bDESIGN\s*§"),
    re.compile(r"market-particle-physics"),
    re.compile(r"\bseed\s+(?:section|sections|§)", re.I),
    re.compile(r"\bseed\s+\"Medium Scope"),
    re.compile(r"\.\./shared\b"),
    re.compile(r"\bshared/seed\b"),
]
CITE = re.compile(r"\b(docs/[\w.-]+\.md)#([\w-]+)")


def repo_files() -> list[Path]:
    """The repository's files: what git tracks plus new unignored files; a walk when there is no git."""
    try:
        out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout  # fmt: skip
        files = [ROOT / line for line in out.splitlines() if line]
    except (OSError, subprocess.CalledProcessError):
        files = [p for p in ROOT.rglob("*") if not SKIP_DIRS & set(p.relative_to(ROOT).parts[:-1])]
    return [p for p in files if p.is_file() and not p.is_symlink()]


def text_of(path: Path) -> str | None:
    data = path.read_bytes()
    if b"\0" in data[:8192]:
        return None
    return data.decode("utf-8", errors="replace")


def outside_citations(text: str) -> list[tuple[int, str]]:
    """(line number, matched text) of every citation of a design note outside the repository."""
    return [(n, m.group()) for n, line in enumerate(text.splitlines(), 1) for rx in OUTSIDE for m in rx.finditer(line)]


def slug(heading: str) -> str:
    """The anchor a Markdown renderer gives a heading: lower case, punctuation dropped, spaces -> '-'."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)  # headings only, not code blocks
    return {slug(m.group(1)) for m in re.finditer(r"^#{1,6}\s+(.+?)\s*#*\s*$", text, flags=re.M)}


@pytest.fixture(scope="module")
def texts() -> dict[str, str]:
    me = Path(__file__).resolve()
    out = {}
    for p in repo_files():
        if p.resolve() == me:
            continue
        t = text_of(p)
        if t is not None:
            out[str(p.relative_to(ROOT))] = t
    return out


def test_no_file_cites_design_notes_outside_the_repository(texts):
    assert any(k.endswith(".ipynb") for k in texts) and any(k.startswith("marketphys/") for k in texts)
    bad = [f"{rel}:{n}: {hit}" for rel, t in texts.items() for n, hit in outside_citations(t)]
    assert not bad, "cite docs/ instead (docs/architecture.md#design-reference):\n" + "\n".join(bad)


def test_every_docs_citation_names_an_existing_section(texts):
    cited = [(rel, page, anchor) for rel, t in texts.items() for page, anchor in CITE.findall(t)]
    assert len(cited) >= 30, "the code cites docs/architecture.md sections; the scan found too few"
    pages: dict[str, set[str]] = {}
    bad = []
    for rel, page, anchor in cited:
        if page not in pages:
            pages[page] = anchors(ROOT / page) if (ROOT / page).is_file() else set()
        if anchor not in pages[page]:
            bad.append(f"{rel}: {page}#{anchor}")
    assert not bad, "citations of missing pages or sections:\n" + "\n".join(sorted(set(bad)))


def test_the_scanners_catch_planted_citations(tmp_path):
    planted = 'x = 1  # see DESIGN.md section 3\n"""(seed section 6)"""\n// seed "Medium Scope Visual Encoding Spec"\n'
    planted += "data at ../shared/realdata\n"
    assert [n for n, _ in outside_citations(planted)] == [1, 2, 3, 4]
    assert outside_citations("seed = 1\nrng(seed=7)\n# docs/architecture.md#dynamics\n") == []
    page = tmp_path / "p.md"
    page.write_text("# Top\n## 8. From the command line\n```\n## not a heading\n```\n### Replay, sessions, export\n")
    assert anchors(page) == {"top", "8-from-the-command-line", "replay-sessions-export"}
