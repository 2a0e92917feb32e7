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
        build([bad], tmp_path / "lake", progress=False, keep_bronze_mbo=bronze_mbo)
    argv = ["build", "--input", str(bad), "--lake", str(tmp_path / "lake2"), "--quiet"]
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
