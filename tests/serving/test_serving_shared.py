"""Encode once, serve many: clients of one stream share a producer, and a slow one never slows the others."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import socket
import threading
import time

import pytest
import websockets

from fixtures_serving import FIXTURE_DATE, build_fixture_lake, lake  # noqa: F401 (fixture)
from marketphys.serving.client import Reassembler
from marketphys.serving.server import ServeConfig, ServerThread
from marketphys.serving.session import ClientQueue, EncodedBatch

pytestmark = pytest.mark.timeout(90)
DATE = FIXTURE_DATE


@pytest.fixture(scope="module")
def big_lake(tmp_path_factory):
    """Real-size wall levels (±400 ticks): a client that stops reading fills its socket buffers within a second."""
    d = tmp_path_factory.mktemp("biglake")
    build_fixture_lake(d, DATE, seconds=20, level_ticks=400)
    return d


async def _read_all(url: str, *, delay_s: float = 0.0, rcvbuf: int | None = None, port: int | None = None):
    """Every message of one stream, with the time each batch_end arrived; ``delay_s`` of not reading first."""
    sock = None
    if rcvbuf:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.connect(("127.0.0.1", port))
    out, ends = [], []
    async with websockets.connect(url, max_size=None, max_queue=1 if rcvbuf else 16, sock=sock) as ws:
        if delay_s:
            await asyncio.sleep(delay_s)
        async with asyncio.timeout(60):
            async for m in ws:
                out.append(m)
                if isinstance(m, str) and '"batch_end"' in m:
                    ends.append(time.monotonic())
    return out, ends


def _starts(msgs) -> list[dict]:
    return [json.loads(m) for m in msgs if isinstance(m, str) and '"batch_start"' in m]


def test_clients_of_one_stream_share_one_producer_and_get_the_same_bytes(lake):
    with ServerThread(ServeConfig(lake, port=0, speed=None, share_join_s=0.5)) as s:
        async def go():
            url = s.url + "?speed=50&surfaces=snap,wall,gex"
            return await asyncio.gather(*[_read_all(url) for _ in range(4)])
        got = asyncio.run(go())
        assert s.stats.windows_encoded == 12  # each window read and encoded once, not once per client
        assert s.stats.windows_sent == 4 * 12
    first = got[0][0]
    assert json.loads(first[-1])["windows"] == 12
    for msgs, _ in got[1:]:
        assert msgs == first  # byte for byte


def test_a_replay_client_arriving_late_still_gets_the_date_from_its_start(lake):
    with ServerThread(ServeConfig(lake, port=0, speed=None, share_join_s=0.1)) as s:
        async def go():
            url = s.url + "?speed=8&surfaces=snap"
            early = asyncio.create_task(_read_all(url))
            await asyncio.sleep(0.4)  # the first producer is past its first window by now
            late = await _read_all(url)
            return await early, late
        (a, _), (b, _) = asyncio.run(go())
        assert s.stats.windows_encoded == 24  # two producers
    assert [x["window_end_ts_ns"] for x in _starts(a)] == [x["window_end_ts_ns"] for x in _starts(b)]
    assert len(_starts(b)) == 12


def _raw_ws_messages(data: bytes) -> list[str | bytes]:
    """Server-to-client WebSocket frames (unmasked, unfragmented) -> messages; a close frame ends the list."""
    out, i = [], 0
    while i + 2 <= len(data):
        op, n = data[i] & 0x0F, data[i + 1] & 0x7F
        i += 2
        if n == 126:
            n, i = int.from_bytes(data[i:i + 2], "big"), i + 2
        elif n == 127:
            n, i = int.from_bytes(data[i:i + 8], "big"), i + 8
        body, i = data[i:i + n], i + n
        if op == 8:
            break
        out.append(body.decode() if op == 1 else body)
    return out


def _stalled_then_drained(port: int, query: str, stall_until) -> list[str | bytes]:
    """A client that reads nothing at all (not even the handshake reply) until ``stall_until()``, then all of it."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.sendall((f"GET /v1/hud/stream?{query} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    t_end = time.monotonic() + 60
    while not stall_until() and time.monotonic() < t_end:
        time.sleep(0.05)
    sock.settimeout(10)
    chunks = []
    while (c := sock.recv(1 << 20)):
        chunks.append(c)
    sock.close()
    data = b"".join(chunks)
    head, _, rest = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101")
    return _raw_ws_messages(rest)


def test_a_slow_client_never_slows_the_fast_ones_of_its_producer(big_lake):
    speed, n = 10, 40
    cfg = ServeConfig(big_lake, port=0, speed=None, queue_bytes=3 << 20, send_timeout_s=30, share_join_s=0.5)
    with ServerThread(cfg) as s:
        fast_done = threading.Event()
        query = f"speed={speed}"  # the default six: ~250 KB a window, 10 MB in all, beyond what the socket buffers hold
        slow = concurrent.futures.ThreadPoolExecutor(1).submit(_stalled_then_drained, s.port, query, fast_done.is_set)

        async def go():
            return await asyncio.gather(*[_read_all(f"{s.url}?{query}") for _ in range(2)])
        time.sleep(0.1)
        t0 = time.monotonic()
        fast = asyncio.run(go())
        fast_done.set()
        slow_msgs = slow.result(timeout=60)
        assert s.stats.windows_encoded == n  # one producer for all three
        assert wait_for(lambda: s.stats.producers == 0)
    span = (n - 1) * 0.5 / speed
    for msgs, ends in fast:
        starts = _starts(msgs)
        assert len(starts) == n and not any("dropped" in x for x in starts)
        # paced by the shared producer, not held back by the neighbour that reads nothing
        assert ends[-1] - t0 < 0.5 + span + 2.0
    starts = _starts(slow_msgs)
    dropped = sum(x.get("dropped", 0) for x in starts)
    assert dropped > 0 and len(starts) + dropped == n  # the slow one lost whole batches, its own only
    r = Reassembler()
    assert sum(r.feed(m) is not None for m in slow_msgs) == len(starts) and r.ended is not None
    # what the slow client did get is the very payload the fast ones got for that window
    fast_frames = {m for m in fast[0][0] if isinstance(m, bytes)}
    assert all(m in fast_frames for m in slow_msgs if isinstance(m, bytes))


def wait_for(pred, timeout=5.0) -> bool:
    t_end = time.monotonic() + timeout
    while time.monotonic() < t_end:
        if pred():
            return True
        time.sleep(0.02)
    return False


def _batch(ts: int, nbytes: int) -> EncodedBatch:
    return EncodedBatch(ts, ["snap"], "{}", b"x" * nbytes, b"", [(2, 0, nbytes)])


def test_client_queue_is_bounded_in_batches_and_bytes():
    async def go():
        q = ClientQueue(max_batches=4, max_bytes=1000)
        for ts in range(3):
            assert q.offer(_batch(ts, 300)) == 0
        assert q.offer(_batch(3, 300)) == 1  # 1200 bytes would not fit: the oldest goes, whole
        assert q.nbytes == 900 and len(q) == 3
        assert q.offer(_batch(4, 5000)) == 3  # larger than the bound: it still fits alone
        assert len(q) == 1 and q.dropped_pending == 4
        for ts in range(5, 9):
            q.offer(_batch(ts, 10))
        assert len(q) == 4 and q.nbytes == 40  # the count bound
        got = [(await q.get()).ts for _ in range(4)]
        assert got == [5, 6, 7, 8]
        q.finish("end", 9)
        assert await q.get() == ("end", 9)

        q2 = ClientQueue(max_batches=1, max_bytes=10**6)
        await q2.put(_batch(0, 1))
        waiter = asyncio.create_task(q2.put(_batch(1, 1)))  # back-pressure: waits for room, drops nothing
        await asyncio.sleep(0.05)
        assert not waiter.done() and len(q2) == 1
        assert (await q2.get()).ts == 0
        await asyncio.wait_for(waiter, 1.0)
        assert (await q2.get()).ts == 1 and q2.dropped_total == 0
    asyncio.run(go())


def test_a_window_framed_once_reads_back_as_the_messages_it_was_made_of(big_lake):
    """The per-message fallback and the raw frames carry the same messages (the raw path is what uvicorn uses)."""
    from fixtures_serving import ensure_contracts
    from marketphys.serving import protocol as P
    from marketphys.serving.producer import encode_window
    from marketphys.frames.cursors import SurfaceCursor, WindowMerger

    cs = ensure_contracts()
    m = WindowMerger([SurfaceCursor(big_lake, cs[s], "ES", DATE) for s in ("snap", "wall", "gex")])
    m.fill(4)
    m.next_ready()
    w = m.next_ready()  # the 1 s window: all three surfaces
    b = encode_window(w, ["snap", "wall", "gex"], {"snap": "1", "wall": "1", "gex": "1"})
    msgs = list(b.messages())
    assert msgs == _raw_ws_messages(b.wire)
    assert _raw_ws_messages(b.start_wire) == [b.start]
    assert [json.loads(x)["type"] for x in msgs if isinstance(x, str)] == ["surface_header"] * 3 + ["batch_end"]
    for s, payload in zip(b.surfaces, [x for x in msgs if isinstance(x, bytes)]):
        assert P.decode_ipc(payload).equals(w.tables[s])
    assert b.nbytes == len(b.wire) + len(b.start_wire)


def test_live_tail_clients_share_one_producer_and_a_joiner_starts_whole(tmp_path):
    build_fixture_lake(tmp_path, DATE, seconds=2, parts=1)
    with ServerThread(ServeConfig(tmp_path, port=0, poll_s=0.05, grace_s=0.5)) as s:
        url = s.url + "?mode=tail&surfaces=snap,gex"

        async def go():
            first = asyncio.create_task(_first_starts(url, 4))
            await asyncio.sleep(0.3)  # the producer runs; a second client joins it
            second = asyncio.create_task(_first_starts(url, 3))
            await asyncio.sleep(0.3)
            await asyncio.to_thread(build_fixture_lake, tmp_path, DATE, seconds=2, start="14:30:02", part_offset=1,
                                    seed=3)
            return await first, await second
        a, b = asyncio.run(go())
        # the 2 s start window and the new ones (the last may or may not go out before both left), once for both
        assert 4 <= s.stats.windows_encoded <= 5
    start = 1710513000000000000
    assert [x["window_end_ts_ns"] for x in a] == [start + k * 500_000_000 for k in (4, 5, 6, 7)]
    # the joiner first gets the newest batch holding every surface it asked for, then the shared stream
    assert b[0]["window_end_ts_ns"] == start + 2_000_000_000 and b[0]["surfaces"] == ["snap", "gex"]
    assert [x["window_end_ts_ns"] for x in b[1:]] == [start + k * 500_000_000 for k in (5, 6)]


async def _first_starts(url: str, k: int) -> list[dict]:
    out = []
    async with websockets.connect(url, max_size=None) as ws:
        async with asyncio.timeout(30):
            async for m in ws:
                if isinstance(m, str) and '"batch_start"' in m:
                    out.append(json.loads(m))
                    if len(out) == k:
                        return out
    return out
