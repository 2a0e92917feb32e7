"""Bronze ingest: every DBN version, the numpy fast path against Databento's decoder, clear errors."""

from __future__ import annotations

import databento_dbn as dbn
import numpy as np
import pytest
import zstandard

from marketphys.pipeline import bronze

ES_FILE = "glbx/orderbooks_mbo_2024-05-08T00-00-00_2024-05-08T00-00-02.dbn.zst"


def raw_bytes(path):
    return zstandard.ZstdDecompressor().stream_reader(open(path, "rb")).read()


@pytest.mark.parametrize("version", [1, 2, 3])
def test_every_version_reads(conformance_dir, version):
    d = conformance_dir / "dbn"
    mbo = np.concatenate(list(bronze.iter_mbo(d / f"test_data.mbo.v{version}.dbn.zst")))
    assert len(mbo) == 2 and set(mbo["instrument_id"]) == {5482}
    assert bronze.read_info(d / f"test_data.mbo.v{version}.dbn.zst").version == version
    (defs,) = list(bronze.iter_records_table(d / f"test_data.definition.v{version}.dbn.zst"))
    assert defs.num_rows == 2 and defs.column("raw_symbol").to_pylist() == ["MSFT", "MSFT"]
    (stats,) = list(bronze.iter_records_table(d / f"test_data.statistics.v{version}.dbn.zst"))
    assert stats.num_rows == 2 and stats.column("price").to_pylist()[0] == 100_000_000_000


def test_fast_mbo_path_equals_databento_decoder(conformance_dir):
    path = conformance_dir / ES_FILE
    ours = np.concatenate(list(bronze.iter_mbo(path, chunk_records=1000)))  # many chunk boundaries
    dec = dbn.DBNDecoder()
    dec.write(raw_bytes(path))
    recs = dec.decode()[1:]
    assert len(ours) == len(recs) == 13_796
    for name in ("order_id", "price", "size", "ts_recv", "ts_event", "sequence", "instrument_id"):
        assert np.array_equal(ours[name], np.array([getattr(r, name) for r in recs], dtype=ours[name].dtype)), name
    assert ours["action"].tobytes().decode() == "".join(str(r.action.value) for r in recs)
    assert np.array_equal(ours["flags"], np.array([int(r.flags) for r in recs], np.uint8))


def test_plain_and_zstd_agree(conformance_dir, tmp_path):
    plain = tmp_path / "es.dbn"
    plain.write_bytes(raw_bytes(conformance_dir / ES_FILE))
    a = np.concatenate(list(bronze.iter_mbo(plain)))
    b = np.concatenate(list(bronze.iter_mbo(conformance_dir / ES_FILE)))
    assert np.array_equal(a, b)


def test_truncated_and_corrupt_files_name_file_and_offset(conformance_dir, tmp_path):
    raw = raw_bytes(conformance_dir / ES_FILE)
    cut = tmp_path / "cut.dbn"
    cut.write_bytes(raw[:-30])
    with pytest.raises(bronze.DbnError, match=r"cut\.dbn: truncated record at byte offset \d+"):
        list(bronze.iter_mbo(cut))
    zcut = tmp_path / "cut.dbn.zst"
    z = (conformance_dir / ES_FILE).read_bytes()
    zcut.write_bytes(z[: len(z) // 2])
    with pytest.raises(bronze.DbnError, match=r"cut\.dbn\.zst: .*byte offset \d+"):
        list(bronze.iter_mbo(zcut))
    bad = bytearray(raw)
    hdr = 8 + int.from_bytes(raw[4:8], "little")
    bad[hdr + 56 * 100] = 0
    corrupt = tmp_path / "corrupt.dbn"
    corrupt.write_bytes(bytes(bad))
    with pytest.raises(bronze.DbnError, match=f"corrupt.dbn: corrupt record header at byte offset {hdr + 5600}"):
        list(bronze.iter_mbo(corrupt))
    junk = tmp_path / "junk.dbn"
    junk.write_bytes(b"not dbn at all")
    with pytest.raises(bronze.DbnError, match="junk.dbn: not a DBN file"):
        bronze.read_info(junk)
    dcut = tmp_path / "def.dbn"
    draw = raw_bytes(conformance_dir / "dbn/test_data.definition.v2.dbn.zst")
    dcut.write_bytes(draw[:-7])
    with pytest.raises(bronze.DbnError, match=r"def\.dbn: truncated record at byte offset \d+"):
        list(bronze.iter_records_table(dcut))


@pytest.mark.parametrize("name,schema", [("dbn/test_data.mbp-10.v3.dbn.zst", "mbp-10"),
                                         ("dbn/test_data.trades.v3.dbn.zst", "trades"),
                                         ("glbx/options_bbo-1m_2024-05-09T09-55_2024-05-09T10-05.dbn.zst",
                                          "bbo-1m")])
def test_unsupported_schema_one_line(conformance_dir, name, schema):
    info = bronze.read_info(conformance_dir / name)
    with pytest.raises(bronze.UnsupportedSchemaError) as err:
        bronze.check_supported(info)
    msg = str(err.value)
    assert f"schema '{schema}'" in msg and "\n" not in msg
