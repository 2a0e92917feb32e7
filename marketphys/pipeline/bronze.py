"""Bronze ingest: DBN files (v1/v2/v3, plain or zstd) -> columnar records, streamed in chunks.

MBO records have the same fixed 56-byte layout in every DBN version, so they are
read straight from the decompressed byte stream as a NumPy structured array (no
Python object per record). Definitions and statistics change layout between
versions and are small, so Databento's own decoder reads them, upgraded to v3.
Every failure names the file and the byte offset (offsets count decompressed
bytes from the start of the DBN stream).
"""

from __future__ import annotations

import datetime as dt
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow as pa

from marketphys.dbn import (ACTIONS, F_BAD_TS_RECV, F_LAST, F_MAYBE_BAD_BOOK, F_MBP, F_SNAPSHOT,  # noqa: F401
                            F_TOB, MBO_DTYPE, MBO_FIELDS, RTYPE_DEFINITION, RTYPE_MBO, RTYPE_STATISTICS, SIDES,
                            UNDEF_PRICE)

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
DBN_MAGIC = b"DBN"

SUPPORTED_SCHEMAS = ("mbo", "definition", "statistics")


class DbnError(ValueError):
    """Unreadable, corrupt or truncated DBN input; names the file and the byte offset."""


class UnsupportedSchemaError(DbnError):
    """A valid DBN file of a schema the pipeline does not use (mbp-10, trades, bbo-1m, ...)."""


@dataclass
class DbnInfo:
    """What the metadata header says about one file."""

    path: Path
    version: int
    schema: str
    dataset: str
    start_ns: int
    end_ns: int | None
    ts_out: bool
    compressed: bool
    header_bytes: int
    symbols: list[str] = field(default_factory=list)
    mappings: dict[int, str] = field(default_factory=dict)  # instrument_id -> raw symbol
    limit: int = 0                                         # the query's record limit (0: none)

    @property
    def date(self) -> str:
        return dt.datetime.fromtimestamp(self.start_ns / 1e9, tz=dt.timezone.utc).date().isoformat()


ZSTD_SKIPPABLE = range(0x184D2A50, 0x184D2A60)


def check_zstd_frames(path: Path) -> None:
    """Raise ``DbnError`` when a zstd file ends inside a frame.

    zstandard's ``stream_reader`` returns whatever it has when the input runs out, so a
    file cut inside a frame whose output happens to end on a record boundary would read
    as a shorter valid file. Walking the frame and block headers (RFC 8878: 3-byte block
    headers carry last-block flag, type and size) finds the cut without decompressing;
    a per-frame ``decompressobj`` (which reports ``eof`` only at a frame's end) finds the
    same, but costs a copy of every decompressed byte.
    """
    import zstandard

    size = path.stat().st_size
    with open(path, "rb") as fh:
        pos = 0
        while pos < size:
            fh.seek(pos)
            head = fh.read(18)
            magic = int.from_bytes(head[:4], "little")
            if len(head) >= 8 and magic in ZSTD_SKIPPABLE:
                end = pos + 8 + int.from_bytes(head[4:8], "little")
            elif head[:4] == ZSTD_MAGIC:
                try:
                    end = pos + zstandard.frame_header_size(head)
                    has_checksum = zstandard.get_frame_parameters(head).has_checksum
                except zstandard.ZstdError as err:
                    raise DbnError(f"{path}: corrupt zstd frame header at compressed byte offset {pos} ({err})") from None
                last = False
                while not last and end + 3 <= size:
                    fh.seek(end)
                    block = int.from_bytes(fh.read(3), "little")
                    last, kind, bsize = block & 1, (block >> 1) & 3, block >> 3
                    end += 3 + (1 if kind == 1 else bsize)  # an RLE block stores one byte
                if not last:
                    end = size + 1
                end += 4 if has_checksum else 0
            else:
                raise DbnError(f"{path}: not a zstd frame at compressed byte offset {pos} (magic {head[:4].hex()})")
            if end > size:
                raise DbnError(f"{path}: truncated zstd frame: the frame at compressed byte offset {pos} runs past "
                               f"the end of the file ({size} bytes)")
            pos = end


def _open_stream(path: Path):
    """A binary stream of the decompressed DBN bytes, and whether it was zstd."""
    fh = open(path, "rb")
    head = fh.read(4)
    fh.seek(0)
    if head == ZSTD_MAGIC:
        import zstandard

        return zstandard.ZstdDecompressor().stream_reader(fh, read_across_frames=True, closefd=True), True
    return fh, False


def _read_chunk(stream, n: int, path, offset: int, into=None):
    """Up to ``n`` bytes (or, given ``into``, bytes read into that buffer: their count); a
    decompressor failure becomes a DbnError naming the file and offset."""
    try:
        return stream.read(n) if into is None else stream.readinto(into)
    except DbnError:
        raise
    except Exception as err:
        raise DbnError(f"{path}: corrupt compressed data near byte offset {offset} ({err})") from None


def _read_exact(stream, n: int, path: Path, offset: int, what: str) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        try:
            got = stream.read(n - len(buf))
        except DbnError:
            raise
        except Exception as err:  # zstandard.ZstdError and friends
            raise DbnError(f"{path}: corrupt compressed data near byte offset {offset + len(buf)} ({err})") from None
        if not got:
            raise DbnError(f"{path}: truncated {what} at byte offset {offset + len(buf)} (needed {n} bytes, got {len(buf)})")
        buf += got
    return bytes(buf)


def read_info(path: str | Path) -> DbnInfo:
    """Parse the metadata header of one DBN file (any version)."""
    import databento_dbn as dbn

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such DBN file: {path}")
    stream, compressed = _open_stream(path)
    try:
        prelude = _read_exact(stream, 8, path, 0, "DBN prelude")
        if prelude[:3] != DBN_MAGIC:
            raise DbnError(f"{path}: not a DBN file (byte offset 0 holds {prelude[:3]!r}, expected b'DBN')")
        version = prelude[3]
        if version not in (1, 2, 3):
            raise DbnError(f"{path}: unsupported DBN version {version} at byte offset 3 (this reader knows 1, 2, 3)")
        (meta_len,) = struct.unpack("<I", prelude[4:8])
        meta = _read_exact(stream, meta_len, path, 8, "metadata header")
    finally:
        stream.close()
    dec = dbn.DBNDecoder(upgrade_policy=dbn.VersionUpgradePolicy.UPGRADE_TO_V3)
    try:
        dec.write(prelude + meta)
        (md,) = dec.decode()
    except Exception as err:
        raise DbnError(f"{path}: corrupt metadata header (bytes 8..{8 + meta_len}): {err}") from None
    schema = str(md.schema) if md.schema is not None else "mixed"
    schema = getattr(md.schema, "value", schema)
    mappings: dict[int, str] = {}
    for raw_symbol, intervals in (md.mappings or {}).items():
        for iv in intervals:
            sym = iv.get("symbol") if isinstance(iv, dict) else getattr(iv, "symbol", None)
            if sym and str(sym).isdigit():
                mappings[int(sym)] = raw_symbol
    return DbnInfo(path=path, version=version, schema=str(schema), dataset=str(md.dataset), start_ns=int(md.start),
                   end_ns=int(md.end) if md.end is not None else None, ts_out=bool(md.ts_out), compressed=compressed,
                   header_bytes=8 + meta_len, symbols=list(md.symbols or []), mappings=mappings,
                   limit=int(md.limit or 0))


def check_supported(info: DbnInfo) -> None:
    if info.schema not in SUPPORTED_SCHEMAS:
        raise UnsupportedSchemaError(
            f"{info.path.name}: schema '{info.schema}' is not used by the pipeline "
            f"(supported: {', '.join(SUPPORTED_SCHEMAS)})")


# Record types an MBO stream may carry besides MBO (status, definition, imbalance, error,
# symbol mapping, system, statistics: live captures interleave them). Any other type, or an
# MBO record whose action or side is not a DBN code, is corrupt data: refused, never skipped.
OTHER_RTYPES_IN_MBO = frozenset({0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18})
_ACTION_SIDE_OK = np.zeros(1 << 16, bool)      # indexed by the (action, side) byte pair read as one uint16
for _a in ACTIONS:
    for _s in SIDES:
        _ACTION_SIDE_OK[_a | (_s << 8)] = True


def _check_mbo_fields(recs: np.ndarray, start_of, path: Path) -> None:
    """Raise DbnError at the first MBO record (rows of byte images) with an action or side no DBN writer emits;
    ``start_of(i)`` gives record i's byte offset (computed only for the error)."""
    ok = _ACTION_SIDE_OK.take(recs.view("<u2")[:, 19])     # bytes 38-39 of each record, no copy
    if not ok.all():
        i = int(np.flatnonzero(~ok)[0])
        raise DbnError(f"{path}: corrupt MBO record at byte offset {int(start_of(i))} (action byte 0x{recs[i, 38]:02x}, "
                       f"side byte 0x{recs[i, 39]:02x}): the data is damaged")


def _split_records(buf: np.ndarray, rec_size: int, rtype: int, path: Path, offset: int) -> tuple[np.ndarray, int]:
    """Walk record headers in ``buf``; return the byte image of the ``rtype`` records and bytes consumed.

    Fast path: every record has the expected length and rtype -> the buffer itself.
    Slow path (mixed records, e.g. system/error messages in live captures): walk lengths.
    Unknown record types and (for MBO) impossible action/side bytes raise, naming the offset.
    """
    n_full = len(buf) // rec_size
    if n_full:
        head = buf[: n_full * rec_size].reshape(n_full, rec_size)
        if np.all(head[:, 0] == rec_size // 4) and np.all(head[:, 1] == rtype):
            if rtype == RTYPE_MBO:
                _check_mbo_fields(head, lambda i: offset + rec_size * i, path)
            return head.reshape(-1), n_full * rec_size
    keep: list[np.ndarray] = []
    starts: list[int] = []
    pos = 0
    n = len(buf)
    while pos < n:
        length = int(buf[pos]) * 4
        if length < 16:
            raise DbnError(f"{path}: corrupt record header at byte offset {offset + pos} (length byte {buf[pos]})")
        if pos + length > n:
            break
        if buf[pos + 1] == rtype:
            if length != rec_size:
                raise DbnError(f"{path}: record at byte offset {offset + pos} has rtype 0x{rtype:02x} "
                               f"but length {length} (expected {rec_size})")
            keep.append(buf[pos: pos + length])
            starts.append(offset + pos)
        elif rtype == RTYPE_MBO and int(buf[pos + 1]) not in OTHER_RTYPES_IN_MBO:
            raise DbnError(f"{path}: corrupt record at byte offset {offset + pos}: record type 0x{buf[pos + 1]:02x} "
                           f"(length {length}) does not belong in an MBO stream: the data is damaged")
        pos += length
    if not keep:
        return np.empty(0, np.uint8), pos
    out = np.concatenate(keep)
    if rtype == RTYPE_MBO:
        _check_mbo_fields(out.reshape(-1, rec_size), starts.__getitem__, path)
    return out, pos


DECODE_RECORDS = 1 << 16  # records per decoded chunk when the buffer is reused: ~3.7 MB, stays in cache
MAX_RECORD = 255 * 4     # the longest DBN record (length byte x 4): the most a partial record can carry over


def iter_mbo(path_or_info, chunk_records: int = 1 << 20, *, reuse: bool = False,
             first_records: int | None = None) -> Iterator[np.ndarray]:
    """Stream MBO records as arrays of ``MBO_DTYPE`` (bounded memory: ~56 B x chunk_records).

    Records are decompressed straight into NumPy buffers (``readinto``: no bytes objects).
    ``reuse``: decompress every chunk after the first into one buffer, so each of those arrays
    is valid only until the next one is asked for (copy what you keep). With small chunks
    (``DECODE_RECORDS``) that buffer stays in cache and no fresh pages are touched
    (benchmarks/RESULTS.md, pipeline, third pass). ``first_records``: the size of the first
    chunk (a fresh array), e.g. a large sample to pick the instrument from.
    """
    info = path_or_info if isinstance(path_or_info, DbnInfo) else read_info(path_or_info)
    if info.schema != "mbo":
        raise DbnError(f"{info.path}: expected an MBO file, schema is '{info.schema}'")
    if int(chunk_records) < 1:
        raise ValueError(f"chunk_records must be >= 1, got {chunk_records}")
    rec_size = 56 + (8 if info.ts_out else 0)
    dtype = MBO_DTYPE if not info.ts_out else np.dtype(MBO_FIELDS + [("ts_out", "<u8")])
    first = int(first_records if first_records is not None else chunk_records)
    if first < 1:
        raise ValueError(f"first_records must be >= 1, got {first_records}")
    cap = first * rec_size
    stream, compressed = _open_stream(info.path)
    try:
        if compressed:
            check_zstd_frames(info.path)  # fail before any work, not after a silently short read
        _read_exact(stream, info.header_bytes, info.path, 0, "metadata header")
        mem = np.empty(cap + MAX_RECORD, np.uint8)
        carry = 0                   # bytes of a partial record at the start of ``mem``
        offset = info.header_bytes  # stream offset of mem[carry]
        while True:
            n = _read_chunk(stream, cap, info.path, offset, into=memoryview(mem)[carry: carry + cap])
            if not n:
                break
            recs, used = _split_records(mem[: carry + n], rec_size, RTYPE_MBO, info.path, offset - carry)
            offset += n
            if len(recs):
                arr = recs.view(dtype)
                yield arr if not info.ts_out else arr[[name for name, _ in MBO_FIELDS]]
            tail = mem[used: carry + n]
            carry = len(tail)
            if not reuse or first:
                cap = int(chunk_records) * rec_size
                mem = np.empty(cap + MAX_RECORD, np.uint8)  # a yielded array keeps the old one
                first = 0
            mem[:carry] = tail.copy()  # a few bytes; the copy makes the overlapping move safe
    finally:
        stream.close()
    if carry:
        raise DbnError(f"{info.path}: truncated record at byte offset {offset - carry} "
                       f"({carry} trailing bytes, a record is {rec_size})")


class RecordParts:
    """Gathers decoded chunks (possibly views of a reused decode buffer) into parts of ``part_records``.

    Decoding runs fastest in small chunks, while bronze lake parts stay large: ``add`` copies a
    chunk into one part buffer and yields each part as it fills; ``rest`` is the last, short one.
    A yielded part is a view of that buffer (or of the chunk itself, when a whole part arrives at
    once), valid until the next ``add``: consumers copy (``mbo_table`` does). The buffer is made
    on first need, so a large first chunk passed through whole costs no second copy of it.
    """

    def __init__(self, part_records: int, dtype=MBO_DTYPE):
        if int(part_records) < 1:
            raise ValueError(f"part_records must be >= 1, got {part_records}")
        self.part_records, self.dtype = int(part_records), np.dtype(dtype)
        self.buf: np.ndarray | None = None
        self.n = 0

    def add(self, chunk: np.ndarray) -> Iterator[np.ndarray]:
        cap = self.part_records
        i = 0
        while i < len(chunk):
            if self.n == 0 and len(chunk) - i >= cap:
                yield chunk[i: i + cap]  # a whole part: no copy
                i += cap
                continue
            if self.buf is None:
                self.buf = np.empty(cap, self.dtype)
            k = min(cap - self.n, len(chunk) - i)
            src, dst = chunk[i: i + k], self.buf[self.n: self.n + k]
            if src.dtype == dst.dtype and src.flags.c_contiguous:
                dst.view(np.uint8)[:] = src.view(np.uint8)  # a byte copy: ~8x faster than field by field
            else:
                dst[:] = src  # e.g. a ts_out file's records, a view with gaps
            self.n += k
            i += k
            if self.n == cap:
                self.n = 0
                yield self.buf

    def rest(self) -> np.ndarray:
        part = self.buf[: self.n] if self.buf is not None else np.empty(0, self.dtype)
        self.n = 0
        return part


def mbo_table(arr: np.ndarray) -> pa.Table:
    """MBO records as an Arrow table (bronze layout: the DBN fields, action/side as 1-char strings)."""
    cols = {}
    for name, _ in MBO_FIELDS:
        if name in ("length", "rtype"):
            continue
        col = np.ascontiguousarray(arr[name])
        if name in ("action", "side"):
            cols[name] = pa.array(col.view("S1").astype(str))
        else:
            cols[name] = pa.array(col)
    return pa.table(cols)


# ----------------------------------------------------------------------------- definitions + statistics

DEFINITION_COLUMNS = {
    "ts_recv": pa.uint64(), "ts_event": pa.uint64(), "instrument_id": pa.uint32(), "raw_symbol": pa.string(),
    "instrument_class": pa.string(), "security_update_action": pa.string(), "min_price_increment": pa.int64(),
    "display_factor": pa.int64(), "expiration": pa.uint64(), "activation": pa.uint64(),
    "unit_of_measure_qty": pa.int64(), "underlying_id": pa.uint32(), "underlying": pa.string(), "asset": pa.string(),
    "strike_price": pa.int64(), "currency": pa.string(), "exchange": pa.string(), "security_type": pa.string(),
    "cfi": pa.string(), "group": pa.string(), "contract_multiplier": pa.int32(),
}
STATISTICS_COLUMNS = {
    "ts_recv": pa.uint64(), "ts_event": pa.uint64(), "ts_ref": pa.uint64(), "instrument_id": pa.uint32(),
    "price": pa.int64(), "quantity": pa.int64(), "sequence": pa.uint32(), "ts_in_delta": pa.int32(),
    "stat_type": pa.uint16(), "channel_id": pa.uint16(), "update_action": pa.uint8(), "stat_flags": pa.uint8(),
}


def _plain(v):
    """Enum/char fields from the decoder -> str or int."""
    if isinstance(v, (int, str, float)) and type(v) in (int, str, float):
        return v
    val = getattr(v, "value", v)
    return val if isinstance(val, (int, str)) else str(val)


def iter_records_table(path_or_info, chunk_bytes: int = 1 << 24) -> Iterator[pa.Table]:
    """Definitions or statistics (any version, upgraded to v3) as Arrow tables, one per chunk."""
    import databento_dbn as dbn

    info = path_or_info if isinstance(path_or_info, DbnInfo) else read_info(path_or_info)
    columns = {"definition": DEFINITION_COLUMNS, "statistics": STATISTICS_COLUMNS}.get(info.schema)
    if columns is None:
        raise DbnError(f"{info.path}: expected definition or statistics, schema is '{info.schema}'")
    rtype = RTYPE_DEFINITION if info.schema == "definition" else RTYPE_STATISTICS
    dec = dbn.DBNDecoder(upgrade_policy=dbn.VersionUpgradePolicy.UPGRADE_TO_V3)
    if info.compressed:
        check_zstd_frames(info.path)
    stream, _ = _open_stream(info.path)
    offset = 0
    first = True
    skip = info.header_bytes  # record framing is walked here too: the decoder alone hides truncation
    tail = b""
    try:
        while True:
            buf = _read_chunk(stream, chunk_bytes, info.path, offset)
            if not buf:
                break
            dec.write(buf)
            data = tail + buf
            base = offset - len(tail)
            offset += len(buf)
            pos = min(skip, len(data))
            skip -= pos
            while pos < len(data) and skip == 0:
                length = data[pos] * 4
                if length < 16:
                    raise DbnError(f"{info.path}: corrupt record header at byte offset {base + pos} (length byte {data[pos]})")
                if pos + length > len(data):
                    break
                pos += length
            tail = data[pos:] if skip == 0 else b""
            try:
                recs = dec.decode()
            except Exception as err:
                raise DbnError(f"{info.path}: corrupt record before byte offset {offset}: {err}") from None
            if first:
                recs = recs[1:]  # the Metadata object
                first = False
            rows = [r for r in recs if int(getattr(r, "rtype", -1)) == rtype]
            if rows:
                yield pa.table({name: pa.array([_plain(getattr(r, name)) for r in rows], type=typ)
                                for name, typ in columns.items()})
        if skip:
            raise DbnError(f"{info.path}: truncated metadata header (file ends at byte offset {offset})")
        if tail:
            raise DbnError(f"{info.path}: truncated record at byte offset {offset - len(tail)} "
                           f"({len(tail)} trailing bytes)")
    finally:
        stream.close()
