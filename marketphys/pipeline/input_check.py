"""Input accounting before a build: is each MBO file whole, and which of two copies of a span to read.

A zstd file cut inside a frame is caught by ``bronze.check_zstd_frames``; a plain file cut
on a record boundary reads as a valid, shorter file. Its metadata says what it should hold:
``end`` (the span asked for) and ``limit`` (the record cap). A plain MBO file whose last
record stops well short of ``end`` (more than ``max(SHORT_MIN_S, SHORT_FRACTION × span)``)
without reaching ``limit`` is flagged as cut short. Of two MBO files covering the same span
(same dataset, start, end, symbols) the one with more record bytes is read; the other is
named in the summary. A flagged file with no complete copy is refused unless the caller
says the data really ends there (``allow_short``).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from .bronze import RTYPE_MBO, DbnError, DbnInfo, _open_stream

SHORT_MIN_S = 60.0
SHORT_FRACTION = 0.3


class ShortInputError(DbnError):
    """A plain DBN file whose records stop short of its metadata, with no complete copy to read instead."""


def _utc(ns: int) -> str:
    return dt.datetime.fromtimestamp(ns / 1e9, tz=dt.timezone.utc).isoformat(timespec="seconds")


def plain_mbo_extent(info: DbnInfo) -> tuple[int, int] | None:
    """(records, ts_recv of the last record) of a plain MBO file, from its size and last record; None when
    the file is compressed, not MBO or its tail is not a plain MBO record (interleaved other records)."""
    if info.compressed or info.schema != "mbo":
        return None
    rec = 56 + (8 if info.ts_out else 0)
    body = info.path.stat().st_size - info.header_bytes
    if body <= 0 or body % rec:
        return None
    with open(info.path, "rb") as fh:
        fh.seek(info.header_bytes + body - rec)
        last = fh.read(rec)
    if last[0] * 4 != rec or last[1] != RTYPE_MBO:
        return None
    return body // rec, int.from_bytes(last[40:48], "little")


def short_reason(info: DbnInfo) -> str | None:
    """Why a plain MBO file looks cut short of its metadata, or None."""
    ext = plain_mbo_extent(info)
    if ext is None or info.end_ns is None:
        return None
    n, last_ts = ext
    if info.limit and n >= info.limit:
        return None
    span = info.end_ns - info.start_ns
    gap = info.end_ns - last_ts
    if gap <= max(SHORT_MIN_S * 1e9, SHORT_FRACTION * span):
        return None
    limit = f", limit {info.limit:,}" if info.limit else ""
    return (f"{info.path.name}: looks cut short: {n:,} records ending at {_utc(last_ts)}, but its metadata asks "
            f"for data until {_utc(info.end_ns)}{limit} ({gap / 1e9:,.0f} s missing)")


def body_bytes(info: DbnInfo) -> int:
    """Bytes of records after the header (a full decompression pass for zstd; used only to compare copies)."""
    if not info.compressed:
        return info.path.stat().st_size - info.header_bytes
    stream, _ = _open_stream(info.path)
    n = 0
    try:
        while True:
            got = stream.read(1 << 22)
            if not got:
                break
            n += len(got)
    except Exception as err:                       # zstandard errors: name the file
        raise DbnError(f"{info.path}: corrupt compressed data near byte offset {n} ({err})") from None
    finally:
        stream.close()
    return n - info.header_bytes


def choose_inputs(infos: list[DbnInfo], allow_short: bool = False) -> tuple[list[DbnInfo], list[str]]:
    """The MBO files to read (one per span, the most complete), and one note per file left out or flagged."""
    groups: dict[tuple, list[DbnInfo]] = defaultdict(list)
    out, notes = [], []
    for info in infos:
        if info.schema != "mbo":
            out.append(info)
            continue
        groups[(info.dataset, info.start_ns, info.end_ns, tuple(info.symbols))].append(info)
    for copies in groups.values():
        if len(copies) > 1:
            sized = sorted(((body_bytes(i), str(i.path), i) for i in copies), key=lambda t: (-t[0], t[1]))
            best_n, _, best = sized[0]
            for n, _, other in sized[1:]:
                how = "same records" if n == best_n else f"{best_n - n:,} bytes of records fewer: cut short"
                notes.append(f"{other.path.name}: same span and symbols as {best.path.name} ({how}), "
                             f"read {best.path.name} once")
        else:
            best = copies[0]
        reason = short_reason(best)
        if reason and not allow_short:
            raise ShortInputError(reason + "; give the complete file, or pass --allow-short if the data "
                                           "really ends there")
        if reason:
            notes.append(reason + " (built anyway: --allow-short)")
        out.append(best)
    return out, notes



