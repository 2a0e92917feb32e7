"""Bronze decode into one reused buffer (``iter_mbo(reuse=True)``): the same records and the same errors as
fresh chunks, whatever the chunk size, including records that straddle chunk ends and foreign records."""

from __future__ import annotations

import numpy as np
import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from marketphys.pipeline import bronze

ES_FILE = "glbx/orderbooks_mbo_2024-05-08T00-00-00_2024-05-08T00-00-02.dbn.zst"


def raw_bytes(path):
    return zstandard.ZstdDecompressor().stream_reader(open(path, "rb")).read()


def copies(path, **kw):
    """Every chunk copied as it comes (what a consumer of reused chunks must do to keep them)."""
    return [c.copy() for c in bronze.iter_mbo(path, **kw)]


def outcome(path, **kw):
    """The records read, or the error message."""
    try:
        chunks = copies(path, **kw)
    except bronze.DbnError as err:
        return str(err)
    return np.concatenate(chunks) if chunks else np.empty(0, bronze.MBO_DTYPE)


@pytest.fixture(scope="module")
def es_raw(conformance_dir):
    raw = raw_bytes(conformance_dir / ES_FILE)
    return raw, 8 + int.from_bytes(raw[4:8], "little")


def foreign_record(length: int = 80, rtype: int = 0x17) -> bytes:
    """A record of another type (e.g. a system message in a live capture), longer than an MBO record."""
    return bytes([length // 4, rtype]) + bytes(length - 2)


@pytest.mark.parametrize("chunk", [1, 13, 777, 1000, bronze.DECODE_RECORDS])
def test_reused_buffer_reads_the_same_records(conformance_dir, tmp_path, es_raw, chunk):
    want = np.concatenate(list(bronze.iter_mbo(conformance_dir / ES_FILE)))
    assert len(want) == 13_796
    got = np.concatenate(copies(conformance_dir / ES_FILE, chunk_records=chunk, reuse=True))
    assert np.array_equal(got, want)
    plain = tmp_path / "es.dbn"
    plain.write_bytes(es_raw[0])
    assert np.array_equal(np.concatenate(copies(plain, chunk_records=chunk, reuse=True)), want)


def test_chunks_share_one_buffer_only_when_asked(conformance_dir):
    """``reuse`` hands out views of one buffer after the first chunk (valid until the next chunk); the
    default hands out fresh arrays; ``first_records`` sizes the first chunk (a fresh one)."""
    chunks = [(len(c), c.__array_interface__["data"][0])
              for c in bronze.iter_mbo(conformance_dir / ES_FILE, chunk_records=1000, first_records=4321, reuse=True)]
    assert [n for n, _ in chunks] == [4321] + [1000] * 9 + [475]
    assert len({a for _, a in chunks[1:]}) == 1 and chunks[0][1] != chunks[1][1]
    kept = list(bronze.iter_mbo(conformance_dir / ES_FILE, chunk_records=1000))
    assert len(kept) == 14 and len({c.ctypes.data for c in kept}) == 14
    assert np.array_equal(np.concatenate(kept), np.concatenate(copies(conformance_dir / ES_FILE, reuse=True)))
    with pytest.raises(ValueError, match="first_records must be >= 1, got 0"):
        list(bronze.iter_mbo(conformance_dir / ES_FILE, first_records=0))


@pytest.mark.parametrize("reuse", [False, True])
def test_foreign_records_across_chunk_ends_are_skipped(tmp_path, es_raw, reuse):
    raw, hdr = es_raw
    body = raw[hdr:]
    recs = np.frombuffer(body, bronze.MBO_DTYPE)
    # foreign records at offsets that are not multiples of 56, so MBO records straddle chunk ends
    cuts = [5, 999, 1000, 4321]
    parts, prev = [], 0
    for k, c in enumerate(cuts):
        parts += [body[prev * 56: c * 56], foreign_record(80 + 4 * k)]
        prev = c
    parts.append(body[prev * 56:])
    path = tmp_path / "mixed.dbn"
    path.write_bytes(raw[:hdr] + b"".join(parts))
    for chunk in (7, 1000, 1 << 16):
        got = np.concatenate(copies(path, chunk_records=chunk, reuse=reuse))
        assert np.array_equal(got, recs), chunk


@pytest.mark.parametrize("reuse", [False, True])
def test_errors_name_file_and_offset_with_small_chunks(conformance_dir, tmp_path, es_raw, reuse):
    raw, hdr = es_raw
    cut = tmp_path / "cut.dbn"
    cut.write_bytes(raw[:-30])
    with pytest.raises(bronze.DbnError, match=rf"cut\.dbn: truncated record at byte offset {len(raw) - 56} "
                                              r"\(26 trailing bytes"):
        list(bronze.iter_mbo(cut, chunk_records=1000, reuse=reuse))
    bad = bytearray(raw)
    bad[hdr + 56 * 4321] = 0
    corrupt = tmp_path / "corrupt.dbn"
    corrupt.write_bytes(bytes(bad))
    with pytest.raises(bronze.DbnError, match=f"corrupt.dbn: corrupt record header at byte offset {hdr + 56 * 4321}"):
        list(bronze.iter_mbo(corrupt, chunk_records=1000, reuse=reuse))
    z = (conformance_dir / ES_FILE).read_bytes()
    zcut = tmp_path / "cut.dbn.zst"
    zcut.write_bytes(z[: len(z) // 2])
    with pytest.raises(bronze.DbnError, match=r"cut\.dbn\.zst: .*byte offset \d+"):
        list(bronze.iter_mbo(zcut, chunk_records=1000, reuse=reuse))
    with pytest.raises(ValueError, match="chunk_records must be >= 1, got 0"):
        list(bronze.iter_mbo(conformance_dir / ES_FILE, chunk_records=0))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(chunk=st.integers(1, 3000), cut=st.integers(0, 13_796 * 56), foreign=st.lists(st.integers(0, 13_795),
                                                                                       max_size=3))
def test_reuse_agrees_with_fresh_chunks_on_any_input(tmp_path, es_raw, chunk, cut, foreign):
    """Same records or the same error, reused buffer or not, for any chunk size, cut point and foreign records."""
    raw, hdr = es_raw
    body = bytearray(raw[hdr:])
    for k in sorted(foreign, reverse=True):
        body[k * 56: k * 56] = foreign_record()
    path = tmp_path / "any.dbn"
    path.write_bytes(raw[:hdr] + bytes(body[: len(body) - cut]))
    a = outcome(path, chunk_records=chunk, reuse=True)
    b = outcome(path, chunk_records=chunk)
    c = outcome(path)
    if isinstance(c, str):
        assert a == b == c
    else:
        assert np.array_equal(a, c) and np.array_equal(b, c)
