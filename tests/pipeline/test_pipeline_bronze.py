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


def _frame_flushed_at(raw: bytes, k: int) -> tuple[bytes, bytes]:
    """One zstd frame of ``raw`` with a block flushed after byte ``k``; returns (bytes up to the flush, whole frame)."""
    cobj = zstandard.ZstdCompressor(level=3).compressobj()
    head = cobj.compress(raw[:k]) + cobj.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK)
    return head, head + cobj.compress(raw[k:]) + cobj.flush()


def test_zstd_cut_at_a_record_boundary_is_truncated(conformance_dir, tmp_path):
    """A frame cut where its output ends exactly on a record still reads as truncated, naming file and offset."""
    raw = raw_bytes(conformance_dir / ES_FILE)
    hdr = 8 + int.from_bytes(raw[4:8], "little")
    k = hdr + 56 * 5000
    head, full = _frame_flushed_at(raw, k)
    # a plain stream reader sees whole records in the cut bytes; zstandard's decompressobj sees an open frame
    assert zstandard.ZstdDecompressor().stream_reader(head).read(len(raw)) == raw[:k]
    frame = zstandard.ZstdDecompressor().decompressobj()
    assert frame.decompress(head) == raw[:k] and not frame.eof
    whole = tmp_path / "whole.dbn.zst"
    whole.write_bytes(full)
    assert sum(len(c) for c in bronze.iter_mbo(whole, chunk_records=1000)) == (len(raw) - hdr) // 56
    cut = tmp_path / "cut.dbn.zst"
    cut.write_bytes(head)
    msg = r"cut\.dbn\.zst: truncated zstd frame: the frame at compressed byte offset 0 runs past the end of the file"
    with pytest.raises(bronze.DbnError, match=msg):
        list(bronze.iter_mbo(cut))
    # the build names it too, and leaves nothing behind
    from marketphys.pipeline.build import build
    lake = tmp_path / "lake"
    with pytest.raises(bronze.DbnError, match=msg):
        build([cut], lake, progress=False)
    assert not any(p.is_file() for p in lake.rglob("*"))


@pytest.mark.parametrize("cut", [0, 1, 3, 5, "block"])
def test_zstd_frames_concatenated_skippable_and_cut_anywhere(conformance_dir, tmp_path, cut):
    """Several frames (and a skippable one) read as one stream; a cut in the last frame is found wherever it falls."""
    raw = raw_bytes(conformance_dir / ES_FILE)
    hdr = 8 + int.from_bytes(raw[4:8], "little")
    k = hdr + 56 * 3001
    first = zstandard.ZstdCompressor(level=1).compress(raw[:k])
    skippable = (0x184D2A50).to_bytes(4, "little") + (3).to_bytes(4, "little") + b"abc"
    head, last = _frame_flushed_at(raw[k:], 56 * 2000)
    last_checked = zstandard.ZstdCompressor(level=1, write_checksum=True).compress(raw[k:])
    blob = first + skippable + last_checked
    path = tmp_path / "frames.dbn.zst"
    path.write_bytes(blob)
    got = np.concatenate(list(bronze.iter_mbo(path, chunk_records=777)))
    assert np.array_equal(got, np.frombuffer(raw[hdr:], bronze.MBO_DTYPE))
    blob = first + skippable + (head if cut == "block" else last_checked[:len(last_checked) - cut])
    short = tmp_path / "short.dbn.zst"
    short.write_bytes(blob)
    if cut == 0:
        assert sum(len(c) for c in bronze.iter_mbo(short)) == len(got)
        return
    frame = zstandard.ZstdDecompressor().decompressobj()
    frame.decompress(blob[len(first) + len(skippable):])
    assert not frame.eof  # the library's decompressor agrees the last frame is open
    with pytest.raises(bronze.DbnError, match=rf"short\.dbn\.zst: truncated zstd frame: the frame at compressed "
                                              rf"byte offset {len(first) + len(skippable)} runs past the end"):
        list(bronze.iter_mbo(short))
