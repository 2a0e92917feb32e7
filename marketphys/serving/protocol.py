"""The ``/v1/hud/stream`` wire protocol (docs/architecture.md#serving).

Per window the server sends, in this order::

    text    {"type":"batch_start","window_end_ts_ns":T,"surfaces":[s1,s2,...]}
    text    {"type":"surface_header","surface":s1,"window_end_ts_ns":T,"rows":R1,"schema_version":V}
    binary  Arrow IPC stream holding exactly R1 rows of s1 (every row has window_end_ts_ns == T)
    ...     (one header + one binary frame per surface, in the order of batch_start.surfaces)
    text    {"type":"batch_end","window_end_ts_ns":T}

and, when a replay reaches the end of its date, ``{"type":"stream_end","windows":N}``
before closing with code 1000. ``batch_start`` may carry ``"dropped": k`` when the
server discarded k whole batches for this client since the previous batch (slow
consumer policy, see ``marketphys.serving.session``).

Cadence and holding: surfaces are grouped by their contract's ``window_ms``. At a
window end T every requested surface of each cadence group that has data at T is
sent (a member of that group with no rows at T is sent with 0 rows), so futures
surfaces (500 ms) arrive in every futures batch and options surfaces (gex, gex_flow,
1 s) only in every other one. A client keeps the last payload of each surface and
uses it until the next batch that lists that surface (it never looks ahead).

Messages are compact JSON with a fixed key order, and surfaces are always listed in
canonical order (``SURFACE_ORDER``), so the same request yields the same bytes.
"""

from __future__ import annotations

import io
import json
import math
from typing import Iterable

import pyarrow as pa
import pyarrow.ipc as ipc

PATH = "/v1/hud/stream"
DEFAULT_SURFACES: tuple[str, ...] = ("snap", "wall", "vacuum", "physics", "gex", "bucket_radar")
SURFACE_ORDER: tuple[str, ...] = (*DEFAULT_SURFACES, "gex_flow")
STRIKE_SURFACES: frozenset[str] = frozenset({"gex", "gex_flow"})
STRIKE_ROWS = 25
STRIKE_STEP_TICKS = 20
MAX_SPEED = 100_000.0
MIN_SPEED = 0.01  # a hundredth of real time: one 500 ms window every 50 s; slower is a stall, not a pace


class ProtocolError(ValueError):
    """A bad request parameter or a malformed stream; the message names the field and value."""


def canonical_order(surfaces: Iterable[str]) -> list[str]:
    """Known surfaces in ``SURFACE_ORDER``, any others after them alphabetically."""
    s = set(surfaces)
    known = [x for x in SURFACE_ORDER if x in s]
    return known + sorted(s - set(SURFACE_ORDER))


def parse_surfaces(raw: str | None, available: Iterable[str]) -> list[str]:
    """``?surfaces=a,b`` -> canonical list; None or empty -> the default six."""
    available = set(available)
    if raw is None or raw.strip() == "":
        return list(DEFAULT_SURFACES)
    names = [x.strip() for x in raw.split(",")]
    if any(n == "" for n in names):
        raise ProtocolError(f"surfaces: empty name in {raw!r}; use a comma-separated list like 'snap,gex_flow'")
    unknown = sorted({n for n in names if n not in available})
    if unknown:
        raise ProtocolError(f"surfaces: unknown surface(s) {unknown}; available: {canonical_order(available)}")
    return canonical_order(names)


def parse_speed(raw: str | float | None, default: float | None = None) -> float | None:
    """'1', '1x', '10x', '0.5' -> a factor of real time; 'max' (or None with no default) -> None (as fast as possible)."""
    if raw is None or (isinstance(raw, str) and raw.strip() == ""):
        return default
    if isinstance(raw, str):
        s = raw.strip().lower()
        if s in ("max", "fast", "asap"):
            return None
        if s.endswith("x"):
            s = s[:-1]
        try:
            v = float(s)
        except ValueError:
            raise ProtocolError(f"speed: expected a positive factor like 1, 1x, 10x or 'max', got {raw!r}") from None
    else:
        v = float(raw)
    if not math.isfinite(v) or v <= 0 or v > MAX_SPEED:
        raise ProtocolError(f"speed: must be > 0 and <= {MAX_SPEED:g} (or 'max'), got {raw!r}")
    if v < MIN_SPEED:
        raise ProtocolError(f"speed: must be at least {MIN_SPEED:g} (a hundredth of real time), got {raw!r}")
    return v


def dumps(obj: dict) -> str:
    return json.dumps(obj, separators=(",", ":"), allow_nan=False)


def batch_start(ts: int, surfaces: list[str], dropped: int = 0) -> str:
    msg = {"type": "batch_start", "window_end_ts_ns": int(ts), "surfaces": list(surfaces)}
    if dropped:
        msg["dropped"] = int(dropped)
    return dumps(msg)


def surface_header(surface: str, ts: int, rows: int, schema_version: str) -> str:
    return dumps({"type": "surface_header", "surface": surface, "window_end_ts_ns": int(ts), "rows": int(rows),
                  "schema_version": schema_version})


def batch_end(ts: int) -> str:
    return dumps({"type": "batch_end", "window_end_ts_ns": int(ts)})


def stream_end(windows: int, reason: str = "end of date") -> str:
    return dumps({"type": "stream_end", "windows": int(windows), "reason": reason})


def error(message: str, field: str | None = None) -> str:
    return dumps({"type": "error", "field": field, "message": message})


def encode_ipc(table: pa.Table) -> bytes:
    """One surface window -> the bytes of an Arrow IPC stream (schema + one record batch)."""
    sink = io.BytesIO()
    with ipc.new_stream(sink, table.schema) as w:
        for b in table.combine_chunks().to_batches() or [pa.RecordBatch.from_pylist([], schema=table.schema)]:
            w.write_batch(b)
    return sink.getvalue()


TEXT, BINARY = 0x1, 0x2


def ws_frame(opcode: int, payload: bytes) -> bytes:
    """One whole, unmasked server-to-client WebSocket frame (RFC 6455 section 5.2), no extensions.

    Lets a producer frame a window once and write the same bytes to every client's socket.
    """
    n = len(payload)
    if n < 126:
        head = bytes((0x80 | opcode, n))
    elif n < 1 << 16:
        head = bytes((0x80 | opcode, 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 127)) + n.to_bytes(8, "big")
    return head + payload


def decode_ipc(payload: bytes) -> pa.Table:
    try:
        return ipc.open_stream(pa.BufferReader(payload)).read_all()
    except pa.ArrowInvalid as err:
        raise ProtocolError(f"binary frame is not an Arrow IPC stream ({err})") from None
