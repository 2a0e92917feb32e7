"""docs/frontend_data.json and DOCS_FRONTEND.md against the code's contract registry."""

from __future__ import annotations

import json

from marketphys.pipeline import frontend_docs
from marketphys.pipeline.contracts import by_surface, load_all


def test_json_is_what_the_code_generates(repo_root):
    committed = json.loads((repo_root / "docs" / "frontend_data.json").read_text())
    assert committed == json.loads(frontend_docs.render()), \
        "docs/frontend_data.json is stale: run python -m marketphys.pipeline.frontend_docs --write"


def test_json_matches_contract_schemas_exactly(repo_root):
    doc = json.loads((repo_root / "docs" / "frontend_data.json").read_text())
    served = by_surface()
    assert set(doc["surfaces"]) == set(served)
    for key, c in served.items():
        s = doc["surfaces"][key]
        assert s["dataset"] == c.name and s["window_ms"] == c.window_ms and s["rows_per_window"] == c.rows_per_window
        assert [(x["name"], x["type"]) for x in s["columns"]] == [(f.name, str(f.type)) for f in c.schema]
        assert all(x["unit"] and x["meaning"] for x in s["columns"])
    reg = load_all()
    for name, d in doc["datasets"].items():
        assert [(x["name"], x["type"]) for x in d["columns"]] == [(f.name, str(f.type)) for f in reg[name].schema]


def test_default_and_optional_surfaces(repo_root):
    doc = json.loads((repo_root / "docs" / "frontend_data.json").read_text())
    assert doc["stream"]["default_surfaces"] == ["snap", "wall", "vacuum", "physics", "gex", "bucket_radar"]
    assert doc["stream"]["optional_surfaces"] == ["gex_flow"]
    assert doc["surfaces"]["gex"]["rows_per_window"] == 25 and not doc["surfaces"]["gex_flow"]["served_by_default"]
    gex_cols = [c["name"] for c in doc["surfaces"]["gex"]["columns"]]
    for extended in ("gex_call_abs", "gex_put_abs", "d1_gex_abs", "d2_gex_abs", "d3_gex_abs", "d1_gex", "d2_gex",
                     "d3_gex", "d1_gex_imbalance_ratio", "d2_gex_imbalance_ratio", "d3_gex_imbalance_ratio"):
        assert extended in gex_cols


def test_markdown_covers_every_surface_and_options_column(repo_root):
    md = (repo_root / "docs" / "DOCS_FRONTEND.md").read_text()
    assert "TBD" not in md
    for key, c in by_surface().items():
        assert f"`{key}`" in md, key
        if key in ("gex", "gex_flow"):
            for f in c.schema:
                assert f"`{f.name}`" in md or f.name in ("window_end_ts_ns", "strike_price_int", "strike_points",
                                                         "rel_ticks") or f.name in md, f.name
    assert "dealer" in md.lower() and "USD per 1 % move" in md and "calibrate-norms" in md


def test_json_default_surfaces_are_what_the_server_sends(repo_root):
    from marketphys.serving.protocol import DEFAULT_SURFACES, PATH, SURFACE_ORDER

    doc = json.loads((repo_root / "docs" / "frontend_data.json").read_text())
    assert doc["stream"]["path"] == PATH
    assert tuple(doc["stream"]["default_surfaces"]) == DEFAULT_SURFACES
    assert set(doc["stream"]["optional_surfaces"]) == set(SURFACE_ORDER) - set(DEFAULT_SURFACES)
