"""build: the conformance files as they are -> a lake whose every surface keeps its contract."""

from __future__ import annotations

import numpy as np
import pytest

from marketphys.cli import main
from marketphys.pipeline.build import build
from marketphys.pipeline import contracts_futures as cf
from marketphys.pipeline.bronze import DbnError
from marketphys.pipeline.lake import list_dates, read_partition

SURFACES = [cf.SNAP, cf.WALL, cf.VACUUM, cf.PHYSICS, cf.BUCKET_RADAR]


@pytest.fixture(scope="module")
def lake(conformance_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("lake")
    summary = build([conformance_dir], out, progress=False, tick_size=0.25)  # dbn/test_data.mbo has no definition
    return out, summary


def test_build_conformance_summary(lake):
    out, s = lake
    assert s.rows["bronze.future_mbo.mbo"] == 13_796 + 2
    assert s.rows["bronze.definition"] == 11 and s.rows["bronze.statistics"] == 6
    assert any("bbo-1m" in x for x in s.skipped) and any("mbp-10" in x for x in s.skipped)
    assert list_dates(out, "silver.future_mbo.snap", "ES") == ["2020-12-28", "2024-05-08"]
    assert not list(out.glob(".staging-*"))


def test_invariants_on_the_real_book(lake):
    out, _ = lake
    tables = {c.name: read_partition(out, c.name, "ES", "2024-05-08") for c in SURFACES}
    for c in SURFACES:
        c.validate(tables[c.name])  # schema + every invariant on what was stored
    snap = tables[cf.SNAP.name].to_pandas()
    assert snap.book_valid.all() and (np.diff(snap.window_end_ts_ns) == 500_000_000).all()
    assert (snap.best_bid_price_int < snap.best_ask_price_int).all()
    radar = tables[cf.BUCKET_RADAR.name]
    assert radar.num_rows == len(snap) * cf.BUCKET_RADAR.rows_per_window
    wall = tables[cf.WALL.name].to_pandas()
    assert set(wall.side) == {"A", "B"}
    assert (wall[wall.side == "B"].rel_ticks <= 0).all() and (wall[wall.side == "A"].rel_ticks >= 1).all()


def test_contract_rejects_broken_tables(lake):
    out, _ = lake
    snap = read_partition(out, cf.SNAP.name, "ES", "2024-05-08")
    with pytest.raises(cf.ContractError, match="strictly increasing"):
        cf.SNAP.validate(snap.take([0, 0, 1]))
    import pyarrow as pa
    bad = snap.set_column(snap.schema.get_field_index("spot_ref_price_int"), "spot_ref_price_int",
                          pa.array(np.zeros(snap.num_rows, np.int64)))
    with pytest.raises(cf.ContractError, match="spot_ref_price_int=0 with book_valid"):
        cf.SNAP.validate(bad)


def test_failed_build_leaves_lake_unchanged(conformance_dir, tmp_path):
    raw = (conformance_dir / "glbx/orderbooks_mbo_2024-05-08T00-00-00_2024-05-08T00-00-02.dbn.zst").read_bytes()
    broken = tmp_path / "in" / "es.dbn.zst"
    broken.parent.mkdir()
    broken.write_bytes(raw[: int(len(raw) * 0.9)])
    lake = tmp_path / "lake"
    with pytest.raises(DbnError, match="es.dbn.zst: truncated"):
        build([broken], lake, progress=False, chunk_records=2000, tick_size=0.25)
    assert [p for p in lake.rglob("*") if p.is_file()] == []


def test_cli_build_and_errors(conformance_dir, tmp_path, capsys):
    assert main(["build", "--input", str(conformance_dir / "glbx"), "--lake", str(tmp_path / "l"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "futures ES (ESM4, instrument 5602): 13,796 messages" in out and "skipped:" in out
    assert main(["build", "--input", str(tmp_path / "nope"), "--lake", str(tmp_path / "l")]) == 2
    assert "no such file or directory" in capsys.readouterr().err
    assert main(["build", "--input", str(conformance_dir / "dbn/test_data.trades.v3.dbn.zst"),
                 "--lake", str(tmp_path / "l"), "--strict"]) == 2
    err = capsys.readouterr().err
    assert "schema 'trades' is not used" in err and err.count("\n") == 1


from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@given(st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.just(1.7e308), st.just(-1.7e308)),
                max_size=40))
def test_finite_check_agrees_with_isfinite(values):
    """The one-pass finiteness check of the contracts says what np.isfinite says, overflow included."""
    from marketphys.pipeline.contracts_futures import _all_finite

    arr = np.array(values, dtype=np.float64)
    assert _all_finite(arr) == bool(np.all(np.isfinite(arr)))
