"""The real server on a free loopback port, driven by a real WebSocket client."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time

import httpx
import numpy as np
import pyarrow as pa
import pytest
import websockets

from fixtures_serving import (FIXTURE_DATE, GEX_EXTENDED, build_fixture_lake, ensure_contracts,  # noqa: F401
                              lake)  # the shared fixture
from marketphys.pipeline import lake as lakemod
from marketphys.serving import protocol as P
from marketphys.serving.client import StreamError, batches, raw_messages
from marketphys.serving.server import ServeConfig, ServeError, ServerThread, bind_socket

pytestmark = pytest.mark.timeout(60)
DATE = FIXTURE_DATE


@pytest.fixture(scope="module")
def server(lake):
    with ServerThread(ServeConfig(lake, port=0, speed=None)) as s:
        yield s


def collect(url, **params) -> list:
    async def go():
        return [m async for m in raw_messages(url, **params)]
    return asyncio.run(go())


def collect_batches(url, **params) -> list:
    async def go():
        return [b async for b in batches(url, **params)]
    return asyncio.run(go())


def wait_for(pred, timeout=5.0):
    t_end = time.monotonic() + timeout
    while time.monotonic() < t_end:
        if pred():
            return True
        time.sleep(0.02)
    return False


def test_default_stream_is_the_six_surfaces_byte_for_byte(server):
    default = collect(server.url)
    explicit = collect(server.url, surfaces="bucket_radar,gex,physics,vacuum,wall,snap")  # any order
    assert default == explicit
    texts = [m for m in default if isinstance(m, str)]
    assert not any("gex_flow" in m for m in texts)
    starts = [json.loads(m) for m in texts if '"batch_start"' in m]
    assert len(starts) == 12
    for i, s in enumerate(starts):  # futures every 500 ms; gex on the 1 s windows only
        expect = list(P.DEFAULT_SURFACES) if i % 2 == 1 else [x for x in P.DEFAULT_SURFACES if x != "gex"]
        assert s["surfaces"] == expect
    assert json.loads(texts[-1]) == {"type": "stream_end", "windows": 12, "reason": "end of date"}


def test_stream_reproduces_the_lake_exactly(server, lake):
    got = collect_batches(server.url, surfaces="snap,wall,vacuum,physics,gex,bucket_radar,gex_flow")
    contracts = ensure_contracts()
    for s, c in contracts.items():
        want = lakemod.read_partition(lake, c.name, "ES", DATE).select(c.schema.names)
        streamed = pa.concat_tables([b.tables[s] for b in got if s in b.tables and b.tables[s].num_rows])
        assert streamed.equals(want.cast(c.schema)), s
    assert [b.ts for b in got] == sorted({b.ts for b in got})


def test_gated_set_adds_gex_flow_only_when_asked(server):
    got = collect_batches(server.url, surfaces="snap,gex_flow")
    assert {tuple(b.surfaces) for b in got} == {("snap",), ("snap", "gex_flow")}
    flows = [b.tables["gex_flow"] for b in got if "gex_flow" in b.surfaces]
    assert len(flows) == 6 and all(t.num_rows == 25 for t in flows)
    assert all(np.all(t.column("rel_ticks").to_numpy() % 20 == 0) for t in flows)


def test_gex_payload_carries_extended_columns(server):
    got = collect_batches(server.url, surfaces="gex")
    gex = got[0].tables["gex"]
    for col in ("gex", "gex_abs", "gex_imbalance_ratio", *GEX_EXTENDED):
        assert col in gex.column_names
    assert gex.num_rows == 25 and gex.schema.field("d3_gex_imbalance_ratio").type == pa.float64()


def test_metadata_endpoints(server):
    h = httpx.get(server.http_url + "/v1/health").json()
    assert h["status"] == "ok" and h["contract_version"]
    meta = httpx.get(server.http_url + "/v1/meta").json()
    assert meta["default_surfaces"] == list(P.DEFAULT_SURFACES)
    assert meta["dates"] == [DATE]
    assert meta["surfaces"]["gex_flow"]["default"] is False
    assert meta["surfaces"]["gex"]["window_ms"] == 1000 and meta["surfaces"]["snap"]["window_ms"] == 500
    assert httpx.get(server.http_url + "/v1/dates").json()["by_surface"]["gex"] == [DATE]


@pytest.mark.parametrize("query, field, status, text", [
    ({"surfaces": "snap,nope"}, "surfaces", 400, "nope"),
    ({"surfaces": "snap,,gex"}, "surfaces", 400, "empty name"),
    ({"date": "2024-13-01"}, "date", 400, "2024-13-01"),
    ({"date": "../../etc"}, "date", 400, "../../etc"),
    ({"date": "2020-01-02"}, "date", 404, "2020-01-02"),
    ({"speed": "0"}, "speed", 400, "'0'"),
    ({"speed": "fast-ish"}, "speed", 400, "fast-ish"),
    ({"speed": "nan"}, "speed", 400, "nan"),
    ({"mode": "rewind"}, "mode", 400, "rewind"),
])
def test_bad_requests_are_refused_before_upgrade(server, query, field, status, text):
    qs = "&".join(f"{k}={v}" for k, v in query.items())
    r = httpx.get(server.http_url + P.PATH + "?" + qs, headers={
        "Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
    assert r.status_code == status
    body = r.json()
    assert body["field"] == field and text in body["error"]
    with pytest.raises(StreamError, match=f"HTTP {status}"):
        collect(server.url + "?" + qs)


def test_unknown_query_parameter_is_named(server):
    with pytest.raises(StreamError, match="surface"):
        collect(server.url + "?surface=gex_flow")


def test_error_frame_then_1008_when_not_refusing_before_upgrade(lake):
    with ServerThread(ServeConfig(lake, port=0, reject_before_upgrade=False)) as s:
        async def go():
            async with websockets.connect(s.url + "?surfaces=bogus") as ws:
                msg = json.loads(await ws.recv())
                with pytest.raises(websockets.ConnectionClosed):
                    await ws.recv()
                return msg, ws.close_code
        msg, code = asyncio.run(go())
    assert msg["type"] == "error" and msg["field"] == "surfaces" and "bogus" in msg["message"]
    assert code == 1008


def test_binding_beyond_loopback_requires_a_token(lake):
    with pytest.raises(ServeError, match="token"):
        ServeConfig(lake, host="0.0.0.0")
    assert ServeConfig(lake, host="0.0.0.0", token="s3cret-token").token  # allowed with a token (not bound here)


def test_token_checked_on_every_connection(lake, monkeypatch):
    import hmac

    calls = []
    real = hmac.compare_digest
    monkeypatch.setattr(hmac, "compare_digest", lambda a, b: calls.append(1) or real(a, b))
    with ServerThread(ServeConfig(lake, port=0, token="s3cret-token", speed=None)) as s:
        with pytest.raises(StreamError, match="HTTP 401"):
            collect(s.url)
        with pytest.raises(StreamError, match="HTTP 401"):
            collect(s.url, token="wrong-token")
        assert len(collect_batches(s.url, token="s3cret-token")) == 12
        assert httpx.get(s.http_url + "/v1/meta").status_code == 401
        ok = httpx.get(s.http_url + "/v1/meta", headers={"Authorization": "Bearer s3cret-token"})
        assert ok.status_code == 200
    assert len(calls) >= 3  # every credentialed connection went through the constant-time compare


def test_replay_speed_paces_windows(server):
    t0 = time.monotonic()
    got = collect_batches(server.url, surfaces="snap", speed="20x")
    elapsed = time.monotonic() - t0
    span = (got[-1].ts - got[0].ts) / 1e9 / 20
    assert elapsed >= span * 0.9
    assert elapsed < span + 3.0


def test_disconnect_mid_batch_cleans_up(server):
    async def go():
        async with websockets.connect(server.url + "?speed=1") as ws:
            assert json.loads(await ws.recv())["type"] == "batch_start"
            assert json.loads(await ws.recv())["type"] == "surface_header"
        # leaving the block closes the socket before the payload is read
    asyncio.run(go())
    assert wait_for(lambda: httpx.get(server.http_url + "/v1/health").json()["clients"] == 0)
    assert len(collect_batches(server.url, surfaces="snap")) == 12  # still serving


def test_port_in_use_is_one_clear_line(server, lake, capsys):
    with pytest.raises(ServeError, match=f"port {server.port} on 127.0.0.1 is already in use"):
        bind_socket("127.0.0.1", server.port)
    from marketphys.cli import main

    assert main(["serve", "--lake", str(lake), "--port", str(server.port)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "already in use" in err


# ----------------------------------------------------------------------------- slow consumers

@pytest.fixture(scope="module")
def big_lake(tmp_path_factory):
    """Real-size wall/vacuum levels (±400 ticks) so a stalled client fills the socket buffers."""
    d = tmp_path_factory.mktemp("biglake")
    build_fixture_lake(d, DATE, seconds=20, level_ticks=400)
    return d


def _small_buffer_socket(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    return s


def test_paced_slow_client_gets_whole_batches_with_drops_counted(big_lake):
    with ServerThread(ServeConfig(big_lake, port=0, queue_batches=2, speed=None)) as s:
        async def go():
            async with websockets.connect(s.url + "?speed=100&surfaces=snap,wall,vacuum", max_size=None, max_queue=1,
                                          sock=_small_buffer_socket(s.port)) as ws:
                await asyncio.sleep(1.0)  # stall while the server paces 40 windows at 100x
                return [m async for m in ws]
        msgs = asyncio.run(go())
        starts = [json.loads(m) for m in msgs if isinstance(m, str) and '"batch_start"' in m]
        dropped = sum(x.get("dropped", 0) for x in starts)
        assert dropped > 0
        assert len(starts) + dropped == 40
        ts = [x["window_end_ts_ns"] for x in starts]
        assert ts == sorted(set(ts))
        from marketphys.serving.client import Reassembler

        r = Reassembler()
        done = [b for b in map(r.feed, msgs) if b is not None]
        assert len(done) == len(starts) and r.ended is not None  # every delivered batch is whole
        assert s.stats.batches_dropped == dropped


def test_max_speed_slow_client_loses_nothing(big_lake):
    with ServerThread(ServeConfig(big_lake, port=0, queue_batches=2, speed=None)) as s:
        async def go():
            async with websockets.connect(s.url + "?speed=max&surfaces=snap,wall", max_size=None, max_queue=1,
                                          sock=_small_buffer_socket(s.port)) as ws:
                await asyncio.sleep(0.5)
                return [m async for m in ws]
        msgs = asyncio.run(go())
        assert sum('"batch_start"' in m for m in msgs if isinstance(m, str)) == 40
        assert s.stats.batches_dropped == 0


def test_stalled_client_is_disconnected_with_1008(big_lake):
    with ServerThread(ServeConfig(big_lake, port=0, queue_batches=2, send_timeout_s=0.5, speed=None)) as s:
        sock = _small_buffer_socket(s.port)
        key = "dGhlIHNhbXBsZSBub25jZQ=="
        sock.sendall((f"GET {P.PATH}?speed=max HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        # never read: the server's sends stall, then it gives up on us
        assert wait_for(lambda: s.stats.slow_disconnects == 1, timeout=15)
        assert wait_for(lambda: len(s.stats.active) == 0)
        sock.close()


# ----------------------------------------------------------------------------- live tail

def test_live_tail_follows_a_lake_being_written(tmp_path):
    build_fixture_lake(tmp_path, DATE, seconds=2, parts=1)
    with ServerThread(ServeConfig(tmp_path, port=0, poll_s=0.05, grace_s=1.0)) as s:
        def writer():
            time.sleep(0.5)
            build_fixture_lake(tmp_path, DATE, seconds=3, parts=2, start="14:30:02", part_offset=1, seed=3)

        th = threading.Thread(target=writer)
        th.start()
        got = collect_batches(s.url, mode="tail", surfaces="snap,gex", limit=6)
        th.join()
    ts = [b.ts for b in got]
    assert ts == sorted(set(ts))
    start = 1710513000000000000
    # starts at the newest window every surface has (the 2 s mark: snap + gex), then follows new parts
    assert ts[0] == start + 2_000_000_000 and got[0].surfaces == ["snap", "gex"]
    assert ts[1:] == [start + 2_000_000_000 + k * 500_000_000 for k in range(1, 6)]
