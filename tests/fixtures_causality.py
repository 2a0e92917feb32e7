"""Causality by truncation: cut DBN files at a time T, and compare every table of two lakes up to T."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from marketphys.pipeline.bronze import RTYPE_DEFINITION, RTYPE_MBO, RTYPE_STATISTICS, _open_stream, read_info

# byte offset of ts_recv inside a record: MBO (after the order fields); definitions and statistics
# (right after the 16-byte record header) in every DBN version
TS_RECV_AT = {RTYPE_MBO: 40, RTYPE_STATISTICS: 16, RTYPE_DEFINITION: 16}
TIME_COLUMNS = ("window_end_ts_ns", "ts_recv")
NONDETERMINISTIC = {"computed_at_ns"}  # when a calibration was written, not what it says
# the book's state after the last record read (carried to the next day): in a cut build it is the state at
# the cut, by design; it is no windowed value, and its own test (test_pipeline_book_carry) pins it
END_STATE = {"future_mbo.book_state"}


def cut_dbn(src: Path, dst: Path, t_ns: int) -> int:
    """Write ``src`` as plain DBN keeping only records with ts_recv <= t_ns; returns the records kept."""
    info = read_info(src)
    stream, _ = _open_stream(Path(src))
    try:
        data = stream.read()
    finally:
        stream.close()
    out = bytearray(data[: info.header_bytes])
    pos, kept = info.header_bytes, 0
    while pos < len(data):
        length, rtype = data[pos] * 4, data[pos + 1]
        off = TS_RECV_AT.get(rtype)
        if off is None:
            raise ValueError(f"{src}: record type 0x{rtype:02x} at byte {pos}: no known ts_recv offset")
        ts = int.from_bytes(data[pos + off: pos + off + 8], "little")
        if ts <= t_ns:
            out += data[pos: pos + length]
            kept += 1
        pos += length
    Path(dst).parent.mkdir(parents=True, exist_ok=True)
    Path(dst).write_bytes(bytes(out))
    return kept


def cut_inputs(files, folder: Path, t_ns: int) -> list[Path]:
    """The files as a stream cut at ``t_ns`` would have left them (a file with nothing left is not there)."""
    out = []
    for f in files:
        dst = Path(folder) / Path(f).parent.name / Path(f).name.removesuffix(".zst")
        if cut_dbn(Path(f), dst, t_ns):
            out.append(dst)
        else:
            dst.unlink()
    return out


def lake_tables(lake: Path) -> dict[tuple, pa.Table]:
    """(layer, product, dataset, date) -> that day's committed table (all parts, read through the manifest)."""
    from marketphys.pipeline.lake import partition_dir

    out = {}
    for d in sorted(Path(lake).glob("*/*/*/date=*")):
        layer, product, dataset, date = d.parts[-4], d.parts[-3], d.parts[-2], d.name[5:]
        parts = sorted(partition_dir(lake, f"{layer}.{dataset}", product, date).glob("part-*.parquet"))
        if parts:
            out[(layer, product, dataset, date)] = pa.concat_tables([pq.read_table(p) for p in parts])
    return out


def _date(t_ns: int) -> str:
    import datetime as dt
    return dt.datetime.fromtimestamp(t_ns / 1e9, tz=dt.timezone.utc).date().isoformat()


def _upto(t: pa.Table, t_ns: int) -> pa.Table:
    for c in TIME_COLUMNS:
        if c in t.column_names:
            col = t.column(c).to_numpy(zero_copy_only=False).astype(np.int64)
            return t.filter(pa.array(col <= t_ns))
    return t


def assert_same_up_to(full_lake: Path, cut_lake: Path, t_ns: int) -> list[tuple]:
    """Every column of every table identical for rows up to ``t_ns``; returns the keys compared."""
    full, cut = lake_tables(full_lake), lake_tables(cut_lake)
    compared = []
    for key, tf in full.items():
        if key[2] in END_STATE:
            continue
        a = _upto(tf, t_ns)
        if key not in cut:
            timed = any(c in tf.column_names for c in TIME_COLUMNS)
            assert timed and a.num_rows == 0 or key[3] > _date(t_ns), \
                f"{key}: {a.num_rows} rows up to T in the full build, table missing from the cut build"
            continue
        b = _upto(cut[key], t_ns)
        assert a.column_names == b.column_names, f"{key}: columns differ"
        assert a.num_rows == b.num_rows, f"{key}: {a.num_rows} rows up to T in the full build, {b.num_rows} cut"
        for c in a.column_names:
            if c in NONDETERMINISTIC:
                continue
            if not a.column(c).equals(b.column(c)):
                x, y = a.column(c).to_numpy(zero_copy_only=False), b.column(c).to_numpy(zero_copy_only=False)
                bad = np.flatnonzero(~((x == y) | (np.asarray(x != x) & np.asarray(y != y))))
                raise AssertionError(f"{key} column {c}: {bad.size} rows differ up to T, first at row {bad[:1]} "
                                     f"({x[bad[:1]]} vs {y[bad[:1]]})")
        compared.append(key)
    return compared
