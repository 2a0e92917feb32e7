"""Writing DBN v3 (zstd) files: Databento's encoder for the header and the rare records,
a byte-exact NumPy layout for the millions of MBO records.

The MBO dtype is :data:`marketphys.dbn.MBO_DTYPE` (``MboMsg`` of the DBN spec); a test checks
that a row's bytes equal ``bytes(databento_dbn.MBOMsg(...))`` and that Databento's own
decoder reads every file back. Files are written to a temp name, fsynced and renamed,
so a failure mid-write never leaves a truncated file under the final name.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from types import SimpleNamespace

import sys

import numba as nb
import numpy as np
import zstandard

from marketphys.atomic import atomic_output
from marketphys.dbn import F_LAST, MBO_DTYPE, MBO_WORDS, RTYPE_MBO
from marketphys.synth import events as E

PUBLISHER_GLBX = 1
DATASET = "GLBX.MDP3"
ZSTD_LEVEL = 3
CHUNK_RECORDS = 1 << 18


def recv_order(ev: np.ndarray) -> np.ndarray | None:
    """Record order by ts_recv (None when already in order). The sort is stable, so each
    event's records stay together and in order."""
    tr = ev[E.TS_RECV]
    if tr.shape[0] < 2 or bool(np.all(tr[1:] >= tr[:-1])):
        return None
    return np.argsort(tr, kind="stable")


def sort_events(ev: np.ndarray) -> np.ndarray:
    """The event matrix (fields x records) with its records ordered by ts_recv."""
    order = recv_order(ev)
    return ev if order is None else ev[:, order]


def to_mbo_records(ev: np.ndarray, order: np.ndarray | None = None, channel_id: int = 0) -> np.ndarray:
    """Event matrix (fields x records) -> MBO records, optionally gathered in ``order``.
    ``sequence`` counts matching events (it steps after each F_LAST)."""
    col = (lambda k: ev[k]) if order is None else (lambda k: ev[k][order])
    n = ev.shape[1]
    rec = np.zeros(n, dtype=MBO_DTYPE)
    rec["length"] = MBO_WORDS
    rec["rtype"] = RTYPE_MBO
    rec["publisher_id"] = PUBLISHER_GLBX
    rec["instrument_id"] = col(E.INST)
    rec["ts_event"] = col(E.TS_EVENT)
    rec["order_id"] = col(E.OID)
    rec["price"] = col(E.PRICE)
    rec["size"] = col(E.SIZE)
    flags = col(E.FLAGS)
    rec["flags"] = flags
    rec["channel_id"] = channel_id
    rec["action"] = col(E.ACTION)
    rec["side"] = col(E.SIDE)
    rec["ts_recv"] = col(E.TS_RECV)
    rec["ts_in_delta"] = 0
    last = (flags & F_LAST) != 0
    seq = np.empty(n, dtype=np.int64)
    if n:
        seq[0] = 0
        np.cumsum(last[:-1], out=seq[1:])
    rec["sequence"] = (seq + 1).astype(np.uint32)
    return rec


@nb.njit(cache=True)
def _pack_words(ev, order, use_order, channel_id, seq0):
    """One pass: gather each record (optionally in ``order``) into its seven little-endian u64 words."""
    n = order.shape[0] if use_order else ev.shape[1]
    out = np.empty((n, 7), np.uint64)
    seq = np.uint64(seq0)
    for r in range(n):
        i = order[r] if use_order else r
        head = np.uint64(MBO_WORDS) | (np.uint64(RTYPE_MBO) << np.uint64(8)) | \
            (np.uint64(PUBLISHER_GLBX) << np.uint64(16)) | (np.uint64(ev[2, i] & 0xFFFFFFFF) << np.uint64(32))
        out[r, 0] = head
        out[r, 1] = np.uint64(ev[0, i])
        out[r, 2] = np.uint64(ev[3, i])
        out[r, 3] = np.uint64(ev[4, i])
        out[r, 4] = np.uint64(ev[5, i] & 0xFFFFFFFF) | (np.uint64(ev[6, i] & 0xFF) << np.uint64(32)) | \
            (np.uint64(channel_id) << np.uint64(40)) | (np.uint64(ev[7, i] & 0xFF) << np.uint64(48)) | \
            (np.uint64(ev[8, i] & 0xFF) << np.uint64(56))
        out[r, 5] = np.uint64(ev[1, i])
        out[r, 6] = seq << np.uint64(32)  # ts_in_delta 0, sequence in the high half
        if ev[6, i] & F_LAST:
            seq += np.uint64(1)
    return out


def pack_mbo(ev: np.ndarray, order: np.ndarray | None = None, channel_id: int = 0, seq0: int = 1) -> np.ndarray:
    """Compiled equivalent of :func:`to_mbo_records` (same bytes, tested), for whole sessions.

    ``order`` may be a slice of the full order; ``seq0`` is then the sequence of its first record.
    """
    if sys.byteorder != "little":  # pragma: no cover - every supported platform is little endian
        return to_mbo_records(ev, order, channel_id)
    words = _pack_words(ev, np.zeros(1, np.int64) if order is None else order, order is not None, channel_id, seq0)
    return words.view(MBO_DTYPE).reshape(-1)


def packed_chunks(ev: np.ndarray, order: np.ndarray | None, channel_id: int = 0):
    """Record bytes in chunks of CHUNK_RECORDS, so a whole session never sits packed in memory at once."""
    ev = np.ascontiguousarray(ev, np.int64)
    n = ev.shape[1]
    if order is None:
        order = np.arange(n, dtype=np.int64)
    seq = 1
    for i in range(0, n, CHUNK_RECORDS):
        part = order[i:i + CHUNK_RECORDS]
        yield pack_mbo(ev, part, channel_id, seq).tobytes()
        seq += int(np.count_nonzero(ev[E.FLAGS][part] & F_LAST))


def metadata_bytes(schema: str, start_ns: int, end_ns: int, symbols: dict[str, int], date: str) -> bytes:
    """The DBN v3 header, encoded by databento_dbn (raw symbols mapped to instrument ids for the day)."""
    import databento_dbn as dbn

    d0 = dt.date.fromisoformat(date)
    mappings = [SimpleNamespace(raw_symbol=s, intervals=[SimpleNamespace(start_date=d0, end_date=d0 + dt.timedelta(days=1),
                                                                          symbol=str(i))])
                for s, i in symbols.items()]
    md = dbn.Metadata(dataset=DATASET, start=int(start_ns), end=int(end_ns), stype_in=dbn.SType.RAW_SYMBOL,
                      stype_out=dbn.SType.INSTRUMENT_ID, schema=getattr(dbn.Schema, schema.upper()),
                      symbols=list(symbols), mappings=mappings)
    return bytes(md.encode())


def write_dbn_zst(path: Path, header: bytes, body_chunks, progress=None) -> int:
    """Atomically write header + body chunks as one zstd frame; returns the compressed size."""
    path = Path(path)
    with atomic_output(path) as tmp, open(tmp, "wb") as fh:
        cctx = zstandard.ZstdCompressor(level=ZSTD_LEVEL, threads=0)
        with cctx.stream_writer(fh, closefd=False) as zw:
            zw.write(header)
            for chunk in body_chunks:
                zw.write(chunk)
                if progress is not None:
                    progress(len(chunk))
    return path.stat().st_size


def write_mbo(path: Path, ev: np.ndarray, symbols: dict[str, int], start_ns: int, end_ns: int, date: str,
              progress=None) -> int:
    """Sort, convert and write MBO rows; returns the record count."""
    write_dbn_zst(path, metadata_bytes("mbo", start_ns, end_ns, symbols, date), packed_chunks(ev, recv_order(ev)),
                  None if progress is None else (lambda nbytes: progress(nbytes // MBO_DTYPE.itemsize)))
    return int(ev.shape[1])


def write_records(path: Path, schema: str, records: list, symbols: dict[str, int], start_ns: int, end_ns: int,
                  date: str) -> int:
    """Write databento_dbn record objects (definitions, statistics)."""
    body = b"".join(bytes(r) for r in records)
    write_dbn_zst(path, metadata_bytes(schema, start_ns, end_ns, symbols, date), [body])
    return len(records)


def read_dbn(path: Path) -> list:
    """Decode a DBN(.zst) file with Databento's decoder: [Metadata, record, ...] (small files: tests, CLI checks)."""
    import databento_dbn as dbn

    raw = Path(path).read_bytes()
    if raw[:4] == b"\x28\xb5\x2f\xfd":
        raw = zstandard.ZstdDecompressor().stream_reader(raw).read()
    dec = dbn.DBNDecoder()
    dec.write(raw)
    return dec.decode()


def read_mbo_array(path: Path) -> np.ndarray:
    """The MBO records of one of our files as a structured array (fast path for tests and tools)."""
    raw = zstandard.ZstdDecompressor().stream_reader(Path(path).read_bytes()).read()
    if raw[:3] != b"DBN":
        raise ValueError(f"{path}: not a DBN stream (starts with {raw[:4]!r})")
    hdr_len = int.from_bytes(raw[4:8], "little")
    body = raw[8 + hdr_len:]
    if len(body) >= 2 and (body[0] != MBO_WORDS or body[1] != RTYPE_MBO):
        raise ValueError(f"{path}: not MBO records (first record has rtype 0x{body[1]:02x}, length {body[0] * 4} bytes)")
    if len(body) % MBO_DTYPE.itemsize:
        raise ValueError(f"{path}: body of {len(body)} bytes is not a whole number of 56-byte MBO records")
    return np.frombuffer(body, dtype=MBO_DTYPE)
