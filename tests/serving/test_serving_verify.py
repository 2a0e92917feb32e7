"""``marketphys verify-stream`` against servers this test starts (a good lake and a broken one)."""

from __future__ import annotations

import pyarrow as pa
import pytest

from fixtures_serving import build_fixture_lake, ensure_contracts
from marketphys.cli import main
from marketphys.pipeline import lake as lakemod
from marketphys.serving.client import Batch
from marketphys.serving.server import ServeConfig, ServerThread
from marketphys.serving.verify import check_batch

pytestmark = pytest.mark.timeout(60)
DATE = "2024-03-15"


@pytest.fixture(scope="module")
def good_server(tmp_path_factory):
    d = tmp_path_factory.mktemp("lake")
    build_fixture_lake(d, DATE, seconds=4)
    with ServerThread(ServeConfig(d, port=0, speed=None)) as s:
        yield s


def test_verify_stream_passes_default_and_gated(good_server, capsys):
    rc = main(["verify-stream", "--url", good_server.url, "--surfaces", "snap,gex,gex_flow"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "default: 8 batches" in out and "gated gex,gex_flow,snap: 8 batches" in out and "FAIL" not in out


def test_verify_stream_flags_a_short_strike_surface(tmp_path, capsys):
    build_fixture_lake(tmp_path, DATE, seconds=4)
    c = ensure_contracts()["gex"]
    t = lakemod.read_partition(tmp_path, c.name, "ES", DATE)
    keep = pa.array([i % 25 != 0 for i in range(t.num_rows)])  # drop one strike per window
    lakemod.write_partition(tmp_path, c.name, "ES", DATE, t.filter(keep))
    with ServerThread(ServeConfig(tmp_path, port=0, speed=None)) as s:
        rc = main(["verify-stream", "--url", s.url, "--batches", "4"])
    out = capsys.readouterr().out
    assert rc == 1
    assert "gex at" in out and "24 rows, strike surfaces have 25" in out


def test_verify_stream_bad_input_is_one_line(capsys):
    assert main(["verify-stream", "--url", "http://127.0.0.1:1/v1/hud/stream"]) == 2
    assert main(["verify-stream", "--url", "ws://127.0.0.1:1/v1/hud/stream"]) == 2  # nothing listening
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(e.startswith("error: ") for e in err)


META = {"surfaces": {
    "snap": {"schema_version": "1", "rows_per_window": 1,
             "columns": [{"name": "window_end_ts_ns", "type": "int64"}, {"name": "spot_ref_price_int", "type": "int64"},
                         {"name": "book_valid", "type": "bool"}]},
    "gex_flow": {"schema_version": "1", "rows_per_window": 25,
                 "columns": [{"name": "window_end_ts_ns", "type": "int64"}, {"name": "rel_ticks", "type": "int32"}]},
}}


def _snap(ts, ref=5000, valid=True, row_ts=None):
    return pa.table({"window_end_ts_ns": pa.array([row_ts or ts], pa.int64()), "spot_ref_price_int": pa.array([ref], pa.int64()),
                     "book_valid": [valid]})


def _b(ts, tables, version="1"):
    return Batch(ts, list(tables), tables, {s: {"schema_version": version} for s in tables})


def test_check_batch_rules():
    ok = _b(10, {"snap": _snap(10)})
    assert check_batch(ok, META, {"snap"}, default=True) == []
    assert "spot_ref_price_int <= 0" in check_batch(_b(10, {"snap": _snap(10, ref=0)}), META, {"snap"}, True)[0]
    assert check_batch(_b(10, {"snap": _snap(10, ref=0, valid=False)}), META, {"snap"}, True) == []
    assert "carry window_end_ts_ns" in check_batch(_b(10, {"snap": _snap(10, row_ts=9)}), META, {"snap"}, True)[0]
    assert "schema_version" in check_batch(_b(10, {"snap": _snap(10)}, version="2"), META, {"snap"}, True)[0]
    flow = pa.table({"window_end_ts_ns": pa.array([10] * 25, pa.int64()), "rel_ticks": pa.array(range(-12, 13), pa.int32())})
    msgs = check_batch(_b(10, {"gex_flow": flow}), META, {"snap"}, default=True)
    assert any("not requested (default set)" in m for m in msgs)
    assert any("multiples of 20" in m for m in msgs)
