"""Bounded server memory and a quiet secret: per-client memory, release on close, no CLOSE-WAIT, a
connection limit, the token kept out of every log line, read from a file or the environment, and a
floor on ``speed``."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import re
import selectors
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pyarrow as pa
import pytest
import websockets

from fixtures_serving import FIXTURE_DATE, build_fixture_lake, ensure_contracts, lake  # noqa: F401 (fixture)
from marketphys.pipeline import lake as lakemod
from marketphys.serving import protocol as P
from marketphys.serving.client import StreamError, batches
from marketphys.serving.logs import RedactToken
from marketphys.serving.producer import release_memory
from marketphys.serving.server import TOKEN_ENV, ServeConfig, ServeError, ServerThread, resolve_token

pytestmark = pytest.mark.timeout(120)
DATE = FIXTURE_DATE
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def long_lake(tmp_path_factory):
    """A 5-minute day at real size (±400-tick levels) in one part per surface: 20 generated seconds, tiled."""
    src, d = tmp_path_factory.mktemp("src"), tmp_path_factory.mktemp("longlake")
    build_fixture_lake(src, DATE, seconds=20, level_ticks=400)
    for c in ensure_contracts().values():
        t = lakemod.read_partition(src, c.name, "ES", DATE).select(c.schema.names).cast(c.schema)
        ts = t.column("window_end_ts_ns").to_numpy()
        copies = []
        for k in range(15):
            copies.append(t.set_column(0, "window_end_ts_ns", pa.array(ts + k * 20_000_000_000, pa.int64())))
        lakemod.write_partition(d, c.name, "ES", DATE, pa.concat_tables(copies))
    return d


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def close_wait_sockets(port: int) -> int:
    """Sockets on our side of ``port`` in CLOSE-WAIT (state 08 in /proc/net/tcp)."""
    n = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(table):
            continue
        with open(table) as fh:
            for line in fh.readlines()[1:]:
                f = line.split()
                if int(f[1].rsplit(":", 1)[1], 16) == port and f[3] == "08":
                    n += 1
    return n


def wait_for(pred, timeout=5.0) -> bool:
    t_end = time.monotonic() + timeout
    while time.monotonic() < t_end:
        if pred():
            return True
        time.sleep(0.05)
    return False


def _stalled_client(port: int, query: str) -> socket.socket:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    s.sendall((f"GET {P.PATH}?{query} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    return s


def _first_batches(url: str, k: int) -> int:
    async def go():
        return len([b async for b in batches(url, limit=k)])
    return asyncio.run(go())


@pytest.mark.skipif(not os.path.exists("/proc/self/status") or not os.path.exists("/proc/net/tcp"),
                    reason="needs Linux /proc/self/status and /proc/net/tcp")
def test_stalled_clients_hold_their_queue_not_the_day_and_give_it_all_back(long_lake):
    n_clients, queue_bytes = 3, 2 << 20
    cfg = ServeConfig(long_lake, port=0, speed=None, queue_bytes=queue_bytes, send_timeout_s=60)
    with ServerThread(cfg) as s:
        assert _first_batches(s.url + "?speed=max", 4) == 4  # warm every code path once
        assert wait_for(lambda: s.stats.producers == 0)
        gc.collect()
        release_memory()
        time.sleep(0.3)
        base, arrow_base = rss_mb(), pa.total_allocated_bytes()
        gc.disable()  # what the server holds must be freed by reference counting, not by a later gc pass
        try:
            _stall_and_release(s, n_clients, queue_bytes, base, arrow_base)
        finally:
            gc.enable()


def _stall_and_release(s, n_clients: int, queue_bytes: int, base: float, arrow_base: int) -> None:
    """Stall ``n_clients`` at max speed, check what they hold, half-close them and check it all comes back."""
    socks = [_stalled_client(s.port, "speed=max") for _ in range(n_clients)]
    assert wait_for(lambda: s.stats.producers == n_clients)
    peak, last, t_end = 0.0, -1, time.monotonic() + 8
    while time.monotonic() < t_end:  # until every producer waits on its full queue
        time.sleep(0.5)
        peak = max(peak, rss_mb() - base)
        if s.stats.windows_encoded == last:
            break
        last = s.stats.windows_encoded
    # a whole part of this day is ~300 MB decoded per client; each client may hold its queue plus a
    # reader whose size does not depend on the day's length
    print(f"stalled: RSS +{peak:.0f} MB with {n_clients} clients")
    assert peak < n_clients * (queue_bytes / 2**20 + 80), f"RSS grew {peak:.0f} MB with {n_clients} stalled"
    for c in socks:
        c.shutdown(socket.SHUT_WR)  # half-close, never read: the server must not wait on its buffers
    assert wait_for(lambda: len(s.stats.active) == 0 and s.stats.producers == 0)
    assert wait_for(lambda: close_wait_sockets(s.port) == 0), "server sockets left in CLOSE-WAIT"
    assert wait_for(lambda: pa.total_allocated_bytes() - arrow_base < 1 << 20), \
        f"Arrow still holds +{(pa.total_allocated_bytes() - arrow_base) / 2**20:.1f} MB after every stream closed"
    assert wait_for(lambda: rss_mb() - base < 40, timeout=5.0), f"RSS still +{rss_mb() - base:.0f} MB"
    for c in socks:
        c.close()


def test_connection_limit_refuses_with_503_and_frees_the_slot(lake):
    with ServerThread(ServeConfig(lake, port=0, speed=None, max_clients=2)) as s:
        async def go():
            url = s.url + "?speed=0.5&surfaces=snap"
            a = await websockets.connect(url)
            b = await websockets.connect(url)
            with pytest.raises(websockets.InvalidStatus) as err:
                await websockets.connect(url)
            body = err.value.response.body.decode()
            await a.close()
            async with asyncio.timeout(5):
                while len(s.stats.active) > 1:
                    await asyncio.sleep(0.05)
            c = await websockets.connect(url)  # a slot came free
            await c.close()
            await b.close()
            return err.value.response.status_code, body
        status, body = asyncio.run(go())
    assert status == 503 and "limit of 2 streams" in body
    assert s.stats.refused_busy == 1


def test_speed_has_a_floor_with_a_clear_error(lake):
    with ServerThread(ServeConfig(lake, port=0, speed=None)) as s:
        r = httpx.get(s.http_url + P.PATH + "?speed=1e-300", headers={
            "Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
    assert r.status_code == 400
    assert r.json()["field"] == "speed" and "1e-300" in r.json()["error"] and "at least 0.01" in r.json()["error"]
    assert P.parse_speed("0.01") == 0.01
    with pytest.raises(P.ProtocolError, match="speed: must be at least"):
        P.parse_speed("0.0099")


def test_token_from_a_file_or_the_environment(tmp_path):
    f = tmp_path / "token"
    f.write_text("from-the-file-123\n# rotated 2024-03-15\n")
    assert resolve_token(None, f, env={}) == "from-the-file-123"
    assert resolve_token(None, None, env={TOKEN_ENV: " from-env-4567 "}) == "from-env-4567"
    assert resolve_token("given-on-cli-1", None, env={TOKEN_ENV: "from-env-4567"}) == "given-on-cli-1"
    assert resolve_token(None, None, env={}) is None
    with pytest.raises(ServeError, match="not both"):
        resolve_token("given-on-cli-1", f, env={})
    with pytest.raises(ServeError, match=r"token file .*missing.*cannot read"):
        resolve_token(None, tmp_path / "missing", env={})
    (tmp_path / "empty").write_text("  \n")
    with pytest.raises(ServeError, match="is empty"):
        resolve_token(None, tmp_path / "empty", env={})


def test_missing_token_file_is_one_line_exit_2(lake, tmp_path, capsys):
    from marketphys.cli import main

    assert main(["serve", "--lake", str(lake), "--port", "0", "--token-file", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "nope" in err


def test_redaction_keeps_uvicorn_access_arguments_whole():
    from uvicorn.logging import AccessFormatter

    rec = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                            ("127.0.0.1:5", "GET", "/v1/meta?date=2024-03-15&token=s3cret-token-9", "1.1", 200), None)
    assert RedactToken(("s3cret-token-9",)).filter(rec)
    line = AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s', use_colors=False).format(rec)
    assert line == '127.0.0.1:5 - "GET /v1/meta?date=2024-03-15&token=*** HTTP/1.1" 200 OK'


def _read_line(proc, timeout: float) -> str:
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    if not sel.select(timeout):
        raise AssertionError("server printed nothing")
    return proc.stdout.readline()


def test_token_never_reaches_a_log_line_of_the_real_server(lake):
    token, wrong = "env-secret-token-42", "wrong-guess-token-77"
    env = {**os.environ, TOKEN_ENV: token, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "marketphys.cli", "serve", "--lake", str(lake), "--port", "0",
                             "--log-level", "info"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env, cwd=ROOT)
    try:
        first = _read_line(proc, 60)
        port = int(re.search(r"ws://127\.0\.0\.1:(\d+)/", first).group(1))
        http = f"http://127.0.0.1:{port}"
        assert "token required" in first
        assert httpx.get(http + "/v1/meta").status_code == 401  # the environment's token is in force
        assert httpx.get(http + f"/v1/meta?token={token}").status_code == 200
        assert httpx.get(http + f"/v1/health?token={wrong}").status_code == 401
        assert httpx.get(http + "/v1/dates", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        url = f"ws://127.0.0.1:{port}{P.PATH}?surfaces=snap&speed=max"
        assert _first_batches(url + f"&token={token}", 2) == 2
        with pytest.raises(StreamError, match="HTTP 401"):
            _first_batches(url + f"&token={wrong}", 1)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            out, _ = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
    log = first + out
    assert "GET /v1/meta?token=***" in log and "WebSocket /v1/hud/stream" in log  # the access log did run
    assert token not in log and wrong not in log
