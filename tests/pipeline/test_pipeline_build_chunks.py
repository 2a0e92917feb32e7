"""Decode chunking is invisible in the lake: bronze parts hold ``chunk_records`` records each, silver
tables are the same whatever the part size, and small reused decode chunks are gathered correctly."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from marketphys.pipeline import bronze
from marketphys.pipeline import contracts_futures as cf
from marketphys.pipeline.build import build
from marketphys.pipeline.lake import partition_dir, read_partition
from marketphys.pipeline.silver_futures import futures_chunks

ES_FILE = "glbx/orderbooks_mbo_2024-05-08T00-00-00_2024-05-08T00-00-02.dbn.zst"
SURFACES = [cf.SNAP, cf.WALL, cf.VACUUM, cf.PHYSICS, cf.BUCKET_RADAR]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 50), max_size=12), st.integers(1, 40), st.booleans())
def test_record_parts_regroup_chunks_exactly(sizes, part, gappy):
    recs = np.zeros(sum(sizes), bronze.MBO_DTYPE)
    recs["order_id"] = np.arange(len(recs))
    recs["price"] = 7 * np.arange(len(recs))
    # one reused "decode buffer", overwritten for every chunk; ``gappy``: records with a trailing
    # field, handed out as a view without it (as for a ts_out file)
    wide = np.dtype(bronze.MBO_FIELDS + [("ts_out", "<u8")])
    buf = np.zeros(64, wide if gappy else bronze.MBO_DTYPE)
    names = [n for n, _ in bronze.MBO_FIELDS]
    parts, gather, i = [], bronze.RecordParts(part), 0
    for n in sizes:
        for name in names:
            buf[name][:n] = recs[name][i: i + n]
        i += n
        chunk = buf[:n][names] if gappy else buf[:n]
        parts += [p.copy() for p in gather.add(chunk)]
        buf[:] = 0
    assert all(len(p) == part for p in parts)
    parts.append(gather.rest().copy())
    assert len(parts[-1]) < part
    got = np.concatenate(parts)
    assert all(np.array_equal(got[name], recs[name]) for name in names)


def test_futures_chunks_head_then_small_reused_chunks(conformance_dir):
    info = bronze.read_info(conformance_dir / ES_FILE)
    sizes = [len(c) for c in futures_chunks([info], head_records=5000)]
    assert sizes[0] == 5000 and sum(sizes) == 13_796
    want = np.concatenate(list(bronze.iter_mbo(info)))
    got = np.concatenate([c.copy() for c in futures_chunks([info], head_records=5000)])
    assert np.array_equal(got, want)
    # two inputs are one stream in ts_recv order; equal times keep input order (the first file's first)
    both = np.concatenate([want, want])
    merged = np.concatenate([c.copy() for c in futures_chunks([info, info], head_records=5000)])
    assert np.array_equal(merged, both[np.argsort(both["ts_recv"], kind="stable")])


@pytest.fixture(scope="module")
def lakes(conformance_dir, tmp_path_factory):
    es = conformance_dir / ES_FILE
    out = {}
    for chunk in (1000, 1 << 20):
        lake = tmp_path_factory.mktemp(f"lake{chunk}")
        build([es], lake, progress=False, chunk_records=chunk, tick_size=0.25)
        out[chunk] = lake
    return es, out


def test_bronze_parts_hold_chunk_records_each(lakes):
    es, out = lakes
    d = partition_dir(out[1000], cf.BRONZE_MBO.name, "ES", "2024-05-08")
    sizes = [pq.read_metadata(p).num_rows for p in sorted(d.glob("part-*.parquet"))]
    assert sizes == [1000] * 13 + [796]
    want = bronze.mbo_table(np.concatenate(list(bronze.iter_mbo(es))))
    for lake in out.values():
        assert read_partition(lake, cf.BRONZE_MBO.name, "ES", "2024-05-08").equals(want)


def test_silver_does_not_depend_on_the_part_size(lakes):
    _, out = lakes
    for c in SURFACES:
        a, b = (read_partition(out[k], c.name, "ES", "2024-05-08") for k in (1000, 1 << 20))
        assert a.num_rows > 0 and pa.Table.equals(a, b), c.name
