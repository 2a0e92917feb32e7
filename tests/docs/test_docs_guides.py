"""The user docs name commands, flags and notebooks that exist (docs drift is a bug too)."""

from __future__ import annotations

import re

import pytest

from marketphys.cli import build_parser

PAGES = ["README.md", "docs/user_guide.md", "docs/databento.md"]


def _subparsers():
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return action.choices


@pytest.mark.parametrize("page", PAGES)
def test_every_marketphys_command_and_flag_in_the_docs_exists(repo_root, page):
    text = (repo_root / page).read_text()
    subs = _subparsers()
    used = re.findall(r"(?:^|`)marketphys ([a-z][a-z-]+)((?:[^\n`]|\\\n)*)", text, flags=re.M)
    assert used, f"{page} shows no marketphys command"
    for cmd, rest in used:
        assert cmd in subs, f"{page}: `marketphys {cmd}` is not a command ({sorted(subs)})"
        known = {o for a in subs[cmd]._actions for o in a.option_strings}
        for flag in re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", rest):
            assert flag in known, f"{page}: `marketphys {cmd} {flag}` is not a flag of {cmd} ({sorted(known)})"


@pytest.mark.parametrize("page", PAGES)
def test_notebooks_and_doc_links_named_in_the_docs_exist(repo_root, page):
    text = (repo_root / page).read_text()
    for nb in set(re.findall(r"\b(0\d_[a-z_]+)\b", text)):
        assert (repo_root / "notebooks" / f"{nb}.ipynb").exists(), f"{page} names notebook {nb}"
    for doc in set(re.findall(r"\bdocs/([\w.]+\.(?:md|json))", text)):
        assert (repo_root / "docs" / doc).exists(), f"{page} links docs/{doc}"
