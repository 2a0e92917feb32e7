"""Protocol pieces without a server: parameter parsing, Arrow IPC round trips, framing checks."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from marketphys.serving import protocol as P
from marketphys.serving.client import Reassembler, StreamError, stream_url

AVAILABLE = list(P.SURFACE_ORDER)


def test_default_surfaces_are_exactly_the_six():
    assert P.parse_surfaces(None, AVAILABLE) == ["snap", "wall", "vacuum", "physics", "gex", "bucket_radar"]
    assert P.parse_surfaces("", AVAILABLE) == list(P.DEFAULT_SURFACES)
    assert "gex_flow" not in P.DEFAULT_SURFACES


@given(st.lists(st.sampled_from(AVAILABLE), min_size=1, unique=True))
def test_any_subset_in_any_order_gives_the_canonical_list(subset):
    got = P.parse_surfaces(",".join(subset), AVAILABLE)
    assert got == [s for s in P.SURFACE_ORDER if s in subset]


def test_unknown_surface_is_named():
    with pytest.raises(P.ProtocolError, match=r"unknown surface\(s\) \['options_wall'\]"):
        P.parse_surfaces("snap,options_wall", AVAILABLE)


@pytest.mark.parametrize("raw, want", [("1", 1.0), ("1x", 1.0), ("10X", 10.0), ("0.5", 0.5), ("max", None),
                                       (None, 2.0), (" ", 2.0)])
def test_speed_parsing(raw, want):
    assert P.parse_speed(raw, default=2.0) == want


@pytest.mark.parametrize("raw", ["0", "-1", "nan", "inf", "x", "1e9", "fast?"])
def test_bad_speed_is_named(raw):
    with pytest.raises(P.ProtocolError, match="speed"):
        P.parse_speed(raw)


@settings(max_examples=30)
@given(st.lists(st.floats(allow_nan=False, width=64), max_size=40))
def test_ipc_round_trip(values):
    t = pa.table({"window_end_ts_ns": pa.array([7] * len(values), pa.int64()), "v": pa.array(values, pa.float64())})
    back = P.decode_ipc(P.encode_ipc(t))
    assert back.equals(t)


def test_ipc_bytes_are_deterministic():
    t = pa.table({"a": [1, 2, 3]})
    assert P.encode_ipc(t) == P.encode_ipc(pa.table({"a": [1, 2, 3]}))


def test_garbage_payload_is_a_protocol_error():
    with pytest.raises(P.ProtocolError, match="Arrow IPC"):
        P.decode_ipc(b"not arrow at all")


def test_stream_url_adds_parameters():
    u = stream_url("ws://127.0.0.1:9/v1/hud/stream", surfaces=["snap", "gex_flow"], speed="max")
    assert u == "ws://127.0.0.1:9/v1/hud/stream?surfaces=snap,gex_flow&speed=max"
    with pytest.raises(StreamError, match="ws://"):
        stream_url("http://x/v1/hud/stream")


# ----------------------------------------------------------------------------- framing

def _batch(ts, tables):
    msgs = [P.batch_start(ts, list(tables))]
    for s, t in tables.items():
        msgs += [P.surface_header(s, ts, t.num_rows, "1.0.0"), P.encode_ipc(t)]
    return msgs + [P.batch_end(ts)]


def _t(ts, n=1):
    return pa.table({"window_end_ts_ns": pa.array([ts] * n, pa.int64())})


def test_reassembler_accepts_a_good_stream():
    r = Reassembler()
    msgs = _batch(1, {"snap": _t(1), "gex": _t(1, 25)}) + _batch(2, {"snap": _t(2)}) + [P.stream_end(2)]
    out = [b for b in map(r.feed, msgs) if b is not None]
    assert [b.ts for b in out] == [1, 2] and out[0].tables["gex"].num_rows == 25 and r.ended["windows"] == 2


@pytest.mark.parametrize("mutate, match", [
    (lambda m: m[:2] + m[3:], "expected a binary payload"),                            # payload missing
    (lambda m: [m[0], m[3], m[4], m[1], m[2], m[5]], "order"),                          # headers out of order
    (lambda m: m[:1] + [P.surface_header("snap", 1, 5, "1.0.0")] + m[2:], "header says 5 rows"),
    (lambda m: m[:-1], "batch_start before"),                                          # no batch_end
    (lambda m: m[:1] + m[2:], "binary frame without"),                                  # header missing
    (lambda m: m[:1] + [json.dumps({"type": "surface_header", "surface": "wall", "window_end_ts_ns": 1,
                                    "rows": 1, "schema_version": "1"})] + m[2:], "out of place"),
    (lambda m: m[:3] + [P.batch_end(1)], "ended without"),
])
def test_reassembler_rejects_broken_framing(mutate, match):
    msgs = mutate(_batch(1, {"snap": _t(1), "gex": _t(1, 25)})) + _batch(2, {"snap": _t(2)})
    r = Reassembler()
    with pytest.raises(StreamError, match=match):
        for m in msgs:
            r.feed(m)


def test_server_error_frame_raises_with_field():
    with pytest.raises(StreamError, match=r"server error \(date\)"):
        Reassembler().feed(P.error("bad date", "date"))


@pytest.mark.parametrize("n", [0, 5, 125, 126, 65535, 65536, 300_000])
@pytest.mark.parametrize("opcode", [P.TEXT, P.BINARY])
def test_preframed_websocket_frames_parse_as_the_reference_library_frames_them(n, opcode):
    from websockets.frames import Frame, Opcode
    from websockets.streams import StreamReader

    payload = bytes(range(256)) * (n // 256) + bytes(n % 256)
    wire = P.ws_frame(opcode, payload)
    reader = StreamReader()
    reader.feed_data(wire)
    reader.feed_eof()
    parser = Frame.parse(reader.read_exact, mask=False)
    try:
        next(parser)
    except StopIteration as done:
        frame = done.value
    assert frame.fin and frame.opcode == Opcode(opcode) and frame.data == payload
    assert wire == Frame(Opcode(opcode), payload).serialize(mask=False)  # byte for byte
