"""Several inputs as one stream: ``merge_by_ts_recv`` equals a stable sort of the inputs laid end to end
(ties keep input order), whatever the chunking, with reused chunk buffers."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from marketphys.cli import main
from marketphys.pipeline.bronze import MBO_DTYPE
from marketphys.pipeline.merge import merge_by_ts_recv


def chunks_reused(recs: np.ndarray, size: int):
    """Chunks written into one buffer, each valid until the next is asked for (as the decoder hands them)."""
    buf = np.zeros(size, MBO_DTYPE)
    for i in range(0, len(recs), size):
        part = recs[i:i + size]
        buf[:len(part)] = part
        yield buf[:len(part)]
        buf[:] = 0  # a consumer that kept a view would now see zeros


stream = st.lists(st.integers(0, 6), min_size=0, max_size=60).map(lambda d: np.cumsum(d, dtype=np.int64))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(stream, st.integers(1, 9)), min_size=1, max_size=4))
def test_merge_is_a_stable_sort_of_the_inputs(inputs):
    arrays = []
    for k, (ts, _) in enumerate(inputs):
        a = np.zeros(len(ts), MBO_DTYPE)
        a["ts_recv"], a["order_id"], a["instrument_id"] = ts, np.arange(len(ts)), k
        arrays.append(a)
    merged = [c.copy() for c in merge_by_ts_recv(chunks_reused(a, size) for a, (_, size) in zip(arrays, inputs))]
    got = np.concatenate(merged) if merged else np.zeros(0, MBO_DTYPE)
    both = np.concatenate(arrays)
    want = both[np.argsort(both["ts_recv"], kind="stable")]
    assert np.array_equal(got, want)


def test_cli_names_the_missing_tick_size(conformance_dir, tmp_path, capsys):
    es = conformance_dir / "glbx" / "orderbooks_mbo_2024-05-08T00-00-00_2024-05-08T00-00-02.dbn.zst"
    assert main(["build", "--input", str(es), "--lake", str(tmp_path / "l"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "no tick size for product 'ES' (instrument 5602)" in err and "--tick-size" in err
    assert main(["build", "--input", str(es), "--lake", str(tmp_path / "l"), "--quiet", "--tick-size", "0"]) == 2
    assert "--tick-size must be a positive price" in capsys.readouterr().err
    assert main(["build", "--input", str(es), "--lake", str(tmp_path / "l"), "--quiet", "--tick-size", "0.25"]) == 0
    out = capsys.readouterr().out
    assert "2024-05-08 ES: book started from snapshot" in out and "0 events on unknown order ids" in out
