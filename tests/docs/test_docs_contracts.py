"""docs/contracts.md is generated from the contract registry and must not drift from it."""

from __future__ import annotations

import re

import pyarrow as pa
import pytest

from marketphys.pipeline import contracts_docs
from marketphys.pipeline.contracts import Contract, load_all


def test_committed_page_matches_the_registry(repo_root):
    committed = (repo_root / "docs" / "contracts.md").read_text()
    assert committed == contracts_docs.render(), \
        "docs/contracts.md is stale: run python -m marketphys.pipeline.contracts_docs --write"


def test_every_dataset_and_column_is_documented(repo_root):
    page = (repo_root / "docs" / "contracts.md").read_text()
    sections = dict(re.findall(r"^## (\S+)\n(.*?)(?=^## |\Z)", page, flags=re.M | re.S))
    reg = load_all()
    assert set(sections) == set(reg)
    for name, c in reg.items():
        documented = re.findall(r"^\| `(\w+)` \| (\S+) \|", sections[name], flags=re.M)
        assert documented == [(f.name, str(f.type)) for f in c.schema], name


def test_invariants_are_described_with_their_own_arguments():
    reg = load_all()
    physics = [contracts_docs.invariant_text(i) for i in reg["silver.future_mbo.physics"].invariants]
    assert "`above_score`, `below_score` within [0, 1]." in physics
    assert "`book_imbalance`, `trade_imbalance` within [-1, 1]." in physics
    gex = [contracts_docs.invariant_text(i) for i in reg["silver.future_option_mbo.gex_surface_1s"].invariants]
    assert any("exactly 25 rows per window" in t for t in gex)
    assert "`gex_imbalance_ratio` within [-1, 1]." in gex


def test_undocumented_column_or_rule_fails_with_the_fix():
    c = Contract(name="silver.future_mbo.brand_new", schema=pa.schema([("mystery_qty", pa.int64())]))
    with pytest.raises(KeyError, match="mystery_qty.*frontend_docs.COLUMNS"):
        contracts_docs.column_note(c, "mystery_qty")

    def _my_new_rule(name):
        def check(t):
            return None
        return check

    with pytest.raises(KeyError, match="my_new_rule.*INVARIANTS"):
        contracts_docs.invariant_text(_my_new_rule("x"))
