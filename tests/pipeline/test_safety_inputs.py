"""Strict input accounting: damaged records inside a valid zstd frame name the file and the exact
offset (with and without the bronze MBO table); cut plain files are flagged; of two copies of a
span the complete one wins; every instrument seen is accounted for in the build summary."""

from __future__ import annotations

import struct

import numpy as np
import pytest
import zstandard

from marketphys.cli import main
from marketphys.pipeline import bronze
from marketphys.pipeline.build import build

ES_FILE = "glbx/orderbooks_mbo_2024-05-08T00-00-00_2024-05-08T00-00-02.dbn.zst"


def raw_bytes(path) -> bytes:
    return zstandard.ZstdDecompressor().stream_reader(open(path, "rb"), read_across_frames=True).read()


def header_len(raw: bytes) -> int:
    return 8 + struct.unpack("<I", raw[4:8])[0]


@pytest.mark.parametrize("first, last, fill", [
    (0, 56 * 3, 0xE9),          # whole records overwritten: an unknown record type
    (1, 56 * 3, 0xE9),          # length byte intact
    (38, 39, 0xE9),             # only one record's action byte: header looks fine
    (39, 40, ord("X")),         # only one record's side byte
])
@pytest.mark.parametrize("bronze_mbo", [True, False])
def test_damaged_records_in_a_valid_zstd_frame_name_file_and_offset(conformance_dir, tmp_path, capsys, first, last,
                                                                    fill, bronze_mbo):
    raw = bytearray(raw_bytes(conformance_dir / ES_FILE))
    k = header_len(raw) + 56 * 5000                              # record 5000 starts here
    raw[k + first: k + last] = bytes([fill]) * (last - first)
    bad = tmp_path / "damaged.dbn.zst"
    bad.write_bytes(zstandard.ZstdCompressor().compress(bytes(raw)))   # a whole, valid frame of damaged data
    with pytest.raises(bronze.DbnError, match=rf"damaged\.dbn\.zst: corrupt .*record at byte offset {k}\b"):
        build([bad], tmp_path / "lake", progress=False, tick_size=0.25, keep_bronze_mbo=bronze_mbo)
    argv = ["build", "--input", str(bad), "--lake", str(tmp_path / "lake2"), "--quiet", "--tick-size", "0.25"]
    assert main(argv + ([] if bronze_mbo else ["--no-bronze-mbo"])) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"byte offset {k}" in err and "damaged.dbn.zst" in err
    assert not any(p.is_file() for p in (tmp_path / "lake").rglob("*"))


def test_interleaved_system_records_are_still_skipped(conformance_dir, tmp_path):
    """The refusal is for damage only: a system message between MBO records (live captures) reads as before."""
    raw = raw_bytes(conformance_dir / ES_FILE)
    k = header_len(raw) + 56 * 100
    system = bytes([80 // 4, 0x17]) + bytes(78)                  # an 80-byte system record
    f = tmp_path / "live.dbn.zst"
    f.write_bytes(zstandard.ZstdCompressor().compress(raw[:k] + system + raw[k:]))
    n = sum(len(c) for c in bronze.iter_mbo(f, chunk_records=64))
    assert n == (len(raw) - header_len(raw)) // 56


# ----------------------------------------------------------------------------- cut plain files, two copies of a span

STRETCH = 300                                                    # 2 s of the real book spread over 10 minutes


def stretched_es(conformance_dir) -> tuple[np.ndarray, int]:
    """The conformance ES MBO records with their clock stretched (a span long enough to tell a cut from a close)."""
    recs = np.concatenate([c.copy() for c in bronze.iter_mbo(conformance_dir / ES_FILE)])
    t0 = int(recs["ts_recv"][0]) // 10**9 * 10**9
    for f in ("ts_recv", "ts_event"):
        recs[f] = t0 + (recs[f].astype(np.int64) - t0) * STRETCH
    return recs, t0


def header(t0: int, end: int, limit: int = 0) -> bytes:
    import databento_dbn as dbn
    from marketphys.synth.dbn import metadata_bytes
    if not limit:
        return metadata_bytes("mbo", t0, end, {"ESM4": 5602}, "2024-05-08")
    md = dbn.Metadata.decode(metadata_bytes("mbo", t0, end, {"ESM4": 5602}, "2024-05-08"))
    return bytes(dbn.Metadata(dataset=md.dataset, start=md.start, end=md.end, stype_in=md.stype_in,
                              stype_out=md.stype_out, schema=md.schema, symbols=md.symbols,
                              mappings=[], limit=limit).encode())


@pytest.fixture
def es_copies(conformance_dir, tmp_path):
    recs, t0 = stretched_es(conformance_dir)
    end = int(recs["ts_recv"][-1]) + 10**9
    head = header(t0, end)
    full = tmp_path / "b_full.dbn.zst"
    full.write_bytes(zstandard.ZstdCompressor().compress(head + recs.tobytes()))
    cut = tmp_path / "a_cut.dbn"                                  # sorts first: main read it and dropped the full one
    cut.write_bytes(head + recs[:1000].tobytes())                 # cut exactly on a record boundary
    return full, cut, recs, t0, end


def snap_rows(lake) -> int:
    from marketphys.pipeline.lake import read_partition
    return read_partition(lake, "silver.future_mbo.snap", "ES", "2024-05-08").num_rows


def test_plain_file_cut_on_a_record_boundary_is_refused_naming_it(es_copies, tmp_path, capsys):
    full, cut, recs, t0, end = es_copies
    with pytest.raises(bronze.DbnError, match=r"a_cut\.dbn: looks cut short: 1,000 records ending at .* until"):
        build([cut], tmp_path / "lake", progress=False, tick_size=0.25)
    assert main(["build", "--input", str(cut), "--lake", str(tmp_path / "lake"), "--quiet", "--tick-size", "0.25"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "a_cut.dbn: looks cut short" in err and "--allow-short" in err
    assert not any(p.is_file() for p in (tmp_path / "lake").rglob("*"))
    s = build([cut], tmp_path / "lake", progress=False, tick_size=0.25, allow_short=True)      # the user says it ends there
    assert any("a_cut.dbn: looks cut short" in x and "built anyway" in x for x in s.skipped)
    # a cut that reaches the query's record limit is whole
    capped = tmp_path / "capped.dbn"
    capped.write_bytes(header(t0, end, limit=1000) + recs[:1000].tobytes())
    build([capped], tmp_path / "lake3", progress=False, tick_size=0.25)


def test_of_two_copies_of_a_span_the_complete_one_is_read(es_copies, tmp_path):
    full, cut, recs, t0, end = es_copies
    alone = build([full], tmp_path / "alone", progress=False, tick_size=0.25)
    both = build([cut, full], tmp_path / "both", progress=False, tick_size=0.25)
    assert snap_rows(tmp_path / "both") == snap_rows(tmp_path / "alone") > 800
    assert both.rows["bronze.future_mbo.mbo"] == alone.rows["bronze.future_mbo.mbo"] == len(recs)
    assert any(x.startswith("a_cut.dbn: same span") and "cut short" in x and "read b_full.dbn.zst" in x
               for x in both.skipped), both.skipped
    # two whole copies (plain and zstd) of the same records: read once, as before
    plain = tmp_path / "c_plain.dbn"
    plain.write_bytes(raw_bytes(full))
    s = build([plain, full], tmp_path / "twice", progress=False, tick_size=0.25)
    assert s.rows["bronze.future_mbo.mbo"] == len(recs)
    assert any("same records" in x for x in s.skipped)


# ----------------------------------------------------------------------------- instruments: mixed files, unmapped ids

def test_mixed_file_is_split_and_every_instrument_is_accounted_for(conformance_dir, tmp_path):
    """ES futures + a second outright + an option + a busier unmapped id in one file: the ES book is built as
    from ES alone, the option goes to the options table, and the summary names every id and its fate."""
    from marketphys.pipeline.lake import read_partition
    from marketphys.synth.dbn import metadata_bytes

    es = np.concatenate([c.copy() for c in bronze.iter_mbo(conformance_dir / ES_FILE)])
    extra = []
    for iid, n in ((5603, 3000), (990001, 2000), (777, 20000)):
        r = np.resize(es, n).copy()
        r["instrument_id"] = iid
        extra.append(r)
    recs = np.concatenate([es, *extra])
    recs = recs[np.argsort(recs["ts_recv"], kind="stable")]
    t0 = int(es["ts_recv"][0]) // 10**9 * 10**9
    head = metadata_bytes("mbo", t0, t0 + 2 * 10**9, {"ESM4": 5602, "ESU4": 5603, "ESM4 C5200": 990001},
                          "2024-05-08")
    mixed = tmp_path / "mixed.dbn.zst"
    mixed.write_bytes(zstandard.ZstdCompressor().compress(head + recs.tobytes()))
    ref = build([conformance_dir / ES_FILE], tmp_path / "ref", progress=False, tick_size=0.25)
    s = build([mixed], tmp_path / "lake", progress=False, tick_size=0.25)
    for ds in ("silver.future_mbo.snap", "silver.future_mbo.wall", "silver.future_mbo.bucket_radar"):
        assert read_partition(tmp_path / "lake", ds, "ES", "2024-05-08").equals(
            read_partition(tmp_path / "ref", ds, "ES", "2024-05-08")), ds
    assert s.futures[0].instrument_id == 5602 and ref.futures[0].instrument_id == 5602
    assert s.rows["bronze.future_mbo.mbo"] == len(es) + 3000 + 20000
    assert s.rows["bronze.future_option_mbo.mbo"] == 2000
    opt = read_partition(tmp_path / "lake", "bronze.future_option_mbo.mbo", "ES", "2024-05-08")
    assert set(opt.column("instrument_id").to_pylist()) == {990001}
    lines = "\n".join(s.lines())
    assert f"instrument 5602 ESM4 (future) in mixed.dbn.zst: {len(es):,} records -> futures surfaces of ES" in lines
    assert "instrument 5603 ESU4 (future) in mixed.dbn.zst: 3,000 records -> not built" in lines
    assert "instrument 777 (unmapped) in mixed.dbn.zst: 20,000 records -> ignored" in lines
    assert "options in mixed.dbn.zst: 1 instruments, 2,000 records" in lines
