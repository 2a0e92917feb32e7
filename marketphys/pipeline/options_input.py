"""Options inputs from DBN files: MBO chunks, definitions and open interest.

A small adapter so the options stage reads real Databento files (and the synthetic
ones, which are real DBN) without depending on the order in which other readers
land. MBO records are fixed-size (56 bytes in every DBN version), so a chunk of
them is read straight into one structured NumPy dtype, in bounded memory; the few
definition and statistics records go through ``databento_dbn``'s own decoder.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd

PRICE_SCALE = 1_000_000_000          # Databento fixed-point prices: 1e-9
UNDEF_PRICE = np.iinfo(np.int64).max
RTYPE_MBO = 0xA0
STAT_OPEN_INTEREST = 9               # databento_dbn.StatType.OPEN_INTEREST
STAT_ACTION_DELETE = 2

# One MBO record (DBN v1-v3 share it): header + body, little endian, no padding.
MBO_DTYPE = np.dtype([
    ("length", "u1"), ("rtype", "u1"), ("publisher_id", "<u2"), ("instrument_id", "<u4"),
    ("ts_event", "<u8"), ("order_id", "<u8"), ("price", "<i8"), ("size", "<u4"),
    ("flags", "u1"), ("channel_id", "u1"), ("action", "S1"), ("side", "S1"),
    ("ts_recv", "<u8"), ("ts_in_delta", "<i4"), ("sequence", "<u4"),
])
assert MBO_DTYPE.itemsize == 56


class DbnInputError(ValueError):
    """A DBN file is not what the options stage needs; names the file and the problem."""


def _open(path: Path):
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"DBN file not found: {path}")
    fh = open(path, "rb")
    if path.suffix == ".zst":
        import zstandard

        return zstandard.ZstdDecompressor().stream_reader(fh, closefd=True)
    return fh


def _read_exact(fh, n: int) -> bytes:
    parts, got = [], 0
    while got < n:
        b = fh.read(n - got)
        if not b:
            break
        parts.append(b)
        got += len(b)
    return b"".join(parts)


def _skip_metadata(fh, path) -> int:
    head = _read_exact(fh, 8)
    if len(head) < 8 or head[:3] != b"DBN":
        raise DbnInputError(f"{path}: not a DBN file (first bytes {head[:8]!r})")
    (meta_len,) = struct.unpack("<I", head[4:8])
    _read_exact(fh, meta_len)
    return head[3]


def iter_mbo(path, chunk_records: int = 1 << 20) -> Iterator[np.ndarray]:
    """Yield MBO records of a DBN file as structured arrays of at most ``chunk_records`` rows."""
    if chunk_records <= 0:
        raise ValueError(f"chunk_records must be positive, got {chunk_records}")
    with _open(path) as fh:
        _skip_metadata(fh, path)
        while True:
            buf = _read_exact(fh, chunk_records * MBO_DTYPE.itemsize)
            if not buf:
                return
            if len(buf) % MBO_DTYPE.itemsize:
                raise DbnInputError(f"{path}: truncated MBO record at the end of the file")
            recs = np.frombuffer(buf, dtype=MBO_DTYPE)
            bad = (recs["rtype"] != RTYPE_MBO) | (recs["length"] != MBO_DTYPE.itemsize // 4)
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise DbnInputError(f"{path}: expected only MBO records (rtype 0xA0), found rtype "
                                    f"{int(recs['rtype'][i]):#x} length {int(recs['length'][i]) * 4}")
            yield recs


def _decode_all(path):
    import databento_dbn as dbn

    with _open(path) as fh:
        raw = fh.read()
    dec = dbn.DBNDecoder()
    dec.write(raw)
    return [r for r in dec.decode() if not isinstance(r, dbn.Metadata)]


DEFINITION_COLUMNS = ["instrument_id", "raw_symbol", "is_call", "strike_price_int", "expiration_ns",
                      "underlying", "asset", "multiplier", "ts_recv"]


def read_option_definitions(path) -> pd.DataFrame:
    """Options (instrument_class 'C'/'P') of a definition file: the last record per instrument.

    Columns: instrument_id, raw_symbol, is_call, strike_price_int (1e-9 units), expiration_ns,
    underlying (e.g. 'ESM4'), asset ('ES'), multiplier (unit_of_measure_qty, 50 for ES), ts_recv.
    """
    rows = []
    for r in _decode_all(path):
        cls = getattr(r, "instrument_class", None)
        cls = getattr(cls, "value", cls)
        if cls not in ("C", "P"):
            continue
        if r.strike_price == UNDEF_PRICE or r.strike_price <= 0:
            raise DbnInputError(f"{path}: option {r.raw_symbol!r} (instrument_id {r.instrument_id}) "
                                f"has no strike_price ({r.strike_price})")
        uom = r.unit_of_measure_qty
        rows.append((r.instrument_id, r.raw_symbol, cls == "C", r.strike_price, r.expiration,
                     r.underlying, r.asset, uom / PRICE_SCALE if uom != UNDEF_PRICE else np.nan, r.ts_recv))
    df = pd.DataFrame(rows, columns=DEFINITION_COLUMNS)
    df = df.sort_values("ts_recv").drop_duplicates("instrument_id", keep="last")
    return df.astype({"instrument_id": "uint32", "strike_price_int": "int64", "expiration_ns": "int64",
                      "ts_recv": "int64", "is_call": bool}).reset_index(drop=True)


def read_open_interest(path) -> pd.DataFrame:
    """Open-interest statistics: ts_recv, instrument_id, open_interest (deletes give 0)."""
    rows = []
    for r in _decode_all(path):
        st = getattr(r, "stat_type", None)
        if st is None or int(st) != STAT_OPEN_INTEREST:
            continue
        q = r.quantity
        if int(r.update_action) == STAT_ACTION_DELETE or q in (np.iinfo(np.int64).max, np.iinfo(np.int32).max):
            q = 0
        rows.append((r.ts_recv, r.instrument_id, q))
    df = pd.DataFrame(rows, columns=["ts_recv", "instrument_id", "open_interest"])
    return df.astype({"ts_recv": "int64", "instrument_id": "uint32", "open_interest": "int64"}).sort_values(
        "ts_recv", kind="stable").reset_index(drop=True)
