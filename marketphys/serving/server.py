"""The Starlette app behind ``marketphys serve``: HTTP metadata + the WebSocket surface stream.

Endpoints (all require the token when one is configured)::

    GET /v1/health       {"status":"ok", "clients":..., ...}
    GET /v1/meta         contract version, surfaces (dataset, cadence, columns, dates), default set
    GET /v1/dates        available dates, overall and per surface
    WS  /v1/hud/stream   ?surfaces=a,b &date=YYYY-MM-DD &speed=1|10x|max &mode=replay|tail &token=...

Bad parameters are refused before the upgrade with HTTP 400 (401 for a bad token,
503 when ``max_clients`` streams are open) and a JSON body {"error": ..., "field": ...};
where the ASGI server cannot send a response before the upgrade, the socket is accepted, sent a JSON ``error`` frame
and closed with code 1008. Nothing from a query string reaches the filesystem
except through ``pipeline.lake``'s validated names and dates.

Clients asking for the same stream share one producer (``producer``); every client
keeps its own bounded queue (``session``). The token never reaches a log line
(``logs``), and a socket whose client went away is closed, not left in CLOSE-WAIT
(``BoundedWebSocketProtocol``).
"""

from __future__ import annotations

import asyncio
import errno
import hmac
import ipaddress
import logging
import os
import socket
import threading
from dataclasses import dataclass
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from marketphys.pipeline import lake as lakemod
from marketphys.serving import protocol as P
from marketphys.serving import logs
from marketphys.serving.catalog import Catalog
from marketphys.serving.producer import Hub, ProducerConfig, StreamKey
from marketphys.serving.session import WIRE_EXTENSION, ClientQueue, SessionConfig, StreamStats, run_client
from marketphys.frames.cursors import SurfaceCursor, WindowMerger

log = logging.getLogger("marketphys.serving")

STREAM_PARAMS = frozenset({"surfaces", "date", "speed", "mode", "token"})
MODES = ("replay", "tail")
TOKEN_ENV = "MARKETPHYS_SERVE_TOKEN"


class ServeError(ValueError):
    """Bad server settings (host/token, port in use); the message says what to change."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class ServeConfig:
    lake: Path
    host: str = "127.0.0.1"
    port: int = 8765
    token: str | None = None
    speed: float | None = 1.0          # default pace when a client gives none; None = max
    product: str = "ES"
    queue_batches: int = 32
    queue_bytes: int = 8 << 20         # per-client queue bound in bytes (one batch always fits)
    max_clients: int = 256             # open streams; one more is refused with HTTP 503
    share_join_s: float = 0.25         # paced replay: how long a new stream waits for others to join it
    send_timeout_s: float = 10.0
    poll_s: float = 0.2
    grace_s: float = 2.0
    read_ahead: int = 16               # windows read ahead per surface by each producer
    reject_before_upgrade: bool = True

    def __post_init__(self) -> None:
        self.lake = Path(self.lake)
        if not is_loopback(self.host) and not self.token:
            raise ServeError(f"host {self.host!r} is not loopback: serving beyond this machine needs --token "
                             "(every connection must then present it)")
        if self.token is not None and len(self.token) < 8:
            raise ServeError("token must be at least 8 characters")
        if not (0 <= int(self.port) <= 65535):
            raise ServeError(f"port must be 0..65535, got {self.port!r}")
        if self.queue_batches < 1:
            raise ServeError(f"queue_batches must be >= 1, got {self.queue_batches!r}")
        if self.queue_bytes < 1:
            raise ServeError(f"queue_bytes must be >= 1, got {self.queue_bytes!r}")
        if self.max_clients < 1:
            raise ServeError(f"max_clients must be >= 1, got {self.max_clients!r}")
        if not (0 <= self.share_join_s <= 10):
            raise ServeError(f"share_join_s must be 0..10 seconds, got {self.share_join_s!r}")


def resolve_token(token: str | None = None, token_file: str | Path | None = None, env=os.environ) -> str | None:
    """The server token from, in order: the value given, a file holding it, or $MARKETPHYS_SERVE_TOKEN.

    A file or the environment keeps the secret out of ``ps`` and shell history.
    """
    if token and token_file:
        raise ServeError("give the token either as --token or as --token-file, not both")
    if token:
        return token
    if token_file:
        try:
            lines = Path(token_file).read_text(encoding="utf-8").strip().splitlines()
            value = lines[0].strip() if lines else ""
        except (OSError, UnicodeDecodeError) as err:
            raise ServeError(f"token file {str(token_file)!r}: cannot read it ({getattr(err, 'strerror', None) or err})"
                             ) from None
        if not value:
            raise ServeError(f"token file {str(token_file)!r} is empty")
        return value
    value = env.get(TOKEN_ENV, "").strip()
    return value or None


class BadRequest(Exception):
    def __init__(self, message: str, field: str | None = None, status: int = 400):
        super().__init__(message)
        self.field, self.status = field, status


def _token_ok(expected: str | None, headers, query) -> bool:
    if not expected:
        return True
    got = query.get("token")
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        got = auth[7:].strip()
    if got is None:
        return False
    return hmac.compare_digest(got.encode(), expected.encode())


def create_app(config: ServeConfig) -> Starlette:
    catalog = Catalog(config.lake, config.product)
    stats = StreamStats()
    hub = Hub(stats, ProducerConfig(join_s=config.share_join_s, poll_s=config.poll_s, read_ahead=config.read_ahead))

    def check_auth(request) -> None:
        if not _token_ok(config.token, request.headers, request.query_params):
            raise BadRequest("missing or wrong token (send ?token=... or 'Authorization: Bearer ...')", "token", 401)

    def parse_stream_request(query) -> tuple[list[str], str, float | None, str]:
        unknown = sorted(set(query.keys()) - STREAM_PARAMS)
        if unknown:
            raise BadRequest(f"unknown query parameter(s) {unknown}; accepted: {sorted(STREAM_PARAMS)}", unknown[0])
        try:
            surfaces = P.parse_surfaces(query.get("surfaces"), catalog.surfaces())
        except P.ProtocolError as err:
            raise BadRequest(str(err), "surfaces") from None
        try:
            speed = P.parse_speed(query.get("speed"), config.speed)
        except P.ProtocolError as err:
            raise BadRequest(str(err), "speed") from None
        mode = query.get("mode", "replay")
        if mode not in MODES:
            raise BadRequest(f"mode: expected one of {list(MODES)}, got {mode!r}", "mode")
        raw_date = query.get("date")
        if raw_date is None:
            date = catalog.default_date()
            if date is None:
                raise BadRequest("the lake holds no served data yet; build it or pass date= for live tail", "date", 404)
        else:
            try:
                date = lakemod.check_date(raw_date)
            except lakemod.LakeError as err:
                raise BadRequest(f"date: {err}", "date") from None
            have = set()
            for s in surfaces:
                have.update(catalog.dates(s))
            if date not in have and mode == "replay":
                raise BadRequest(f"date: no data for {date} in the requested surfaces; available: {sorted(have)}", "date",
                                 404)
        return surfaces, date, speed, mode

    async def health(request: Request):
        check_auth(request)
        return JSONResponse({"status": "ok", "contract_version": catalog.meta()["contract_version"], **stats.to_dict()})

    async def meta(request: Request):
        check_auth(request)
        return JSONResponse(await asyncio.to_thread(catalog.meta))

    async def dates(request: Request):
        check_auth(request)
        return JSONResponse({"dates": catalog.all_dates(), "by_surface": {s: catalog.dates(s) for s in catalog.surfaces()}})

    async def refuse(ws: WebSocket, err: BadRequest) -> None:
        body = {"error": str(err), "field": err.field}
        if config.reject_before_upgrade and "websocket.http.response" in ws.scope.get("extensions", {}):
            await ws.send_denial_response(JSONResponse(body, status_code=err.status))
        else:
            await ws.accept()
            await ws.send_text(P.error(str(err), err.field))
            await ws.close(code=1008, reason=str(err)[:120])

    async def stream(ws: WebSocket):
        try:
            check_auth(ws)
            surfaces, date, speed, mode = parse_stream_request(ws.query_params)
            if len(stats.active) >= config.max_clients:
                stats.refused_busy += 1
                raise BadRequest(f"server is at its limit of {config.max_clients} streams; try again later", None, 503)
        except BadRequest as err:
            log.info("refused stream request: %s", err)
            await refuse(ws, err)
            return
        key = object()
        stats.active.add(key)  # counted before the first await, so the limit holds under a burst
        try:
            await ws.accept()
            stats.connections += 1
            reason = await serve_stream(ws, StreamKey(date, speed, tuple(surfaces), mode))
            if reason in ("end", "error", "slow"):
                code, text = {"end": (1000, "end of date"), "error": (1011, "lake read failed"),
                              "slow": (1008, "consumer too slow")}[reason]
                try:
                    await asyncio.wait_for(ws.close(code=code, reason=text), 1.0)
                except Exception:
                    pass
        finally:
            stats.active.discard(key)

    async def serve_stream(ws: WebSocket, skey: StreamKey) -> str:
        contracts = catalog.contracts()
        follow = skey.mode == "tail"

        def open_merger() -> WindowMerger:
            cursors = [SurfaceCursor(config.lake, contracts[s], config.product, skey.date, follow=follow,
                                     from_latest=follow) for s in skey.surfaces]
            merger = WindowMerger(cursors, grace_s=config.grace_s)
            if follow:
                merger.start_at_latest()
            return merger

        versions = {s: catalog.schema_version(s) for s in skey.surfaces}
        queue = ClientQueue(config.queue_batches, config.queue_bytes)
        producer = hub.subscribe(skey, open_merger, versions, queue)
        try:
            cfg = SessionConfig(queue_batches=config.queue_batches, queue_bytes=config.queue_bytes,
                                send_timeout_s=config.send_timeout_s)
            return await run_client(ws, queue, cfg, stats)
        finally:
            producer.leave(queue)

    async def on_bad_request(request, exc: BadRequest):
        return JSONResponse({"error": str(exc), "field": exc.field}, status_code=exc.status)

    app = Starlette(routes=[Route("/v1/health", health), Route("/v1/meta", meta), Route("/v1/dates", dates),
                            WebSocketRoute(P.PATH, stream)],
                    exception_handlers={BadRequest: on_bad_request})
    app.state.config, app.state.catalog, app.state.stats, app.state.hub = config, catalog, stats, hub
    return app


# ----------------------------------------------------------------------------- running it

def bind_socket(host: str, port: int) -> socket.socket:
    """Bind first so 'port in use' is one clear line, then hand the socket to uvicorn."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as err:
        raise ServeError(f"cannot resolve host {host!r}: {err}") from None
    family, _, _, _, addr = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(addr)
    except OSError as err:
        sock.close()
        if err.errno == errno.EADDRINUSE:
            raise ServeError(f"port {port} on {host} is already in use; stop the other server or pick another --port") from None
        raise ServeError(f"cannot bind {host}:{port}: {err.strerror}") from None
    sock.listen(128)
    sock.setblocking(False)
    return sock


def _bounded_ws_protocol():
    from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

    class BoundedWebSocketProtocol(WebSocketsSansIOProtocol):
        """uvicorn's protocol, minus the ways a gone client keeps its socket and buffers.

        A peer that half-closes (EOF) while writes are pending would otherwise wait in
        CLOSE-WAIT for a buffer that never drains; and once the app has finished, what
        is still unsent gets ``linger_s`` to go out before the socket is aborted.
        """

        linger_s = 2.0

        async def run_asgi(self) -> None:
            self.scope["extensions"][WIRE_EXTENSION] = {"send": self.send_wire}
            await self._run_then_linger()

        async def send_wire(self, data: bytes) -> None:
            """Write whole, pre-framed WebSocket frames (no extension is ever negotiated: deflate is off)."""
            await self.writable.wait()
            if self.disconnected or self.close_sent or self.transport.is_closing():
                raise ConnectionResetError("client went away")
            self.transport.write(data)

        def eof_received(self) -> None:
            self.transport.abort()  # the peer sends nothing more: a stream client that does this is gone
            self.disconnected = True  # sends fail now, not after connection_lost runs

        async def _run_then_linger(self) -> None:
            await super().run_asgi()
            if not self.disconnected:
                self.loop.call_later(self.linger_s, self._abort_if_open)

        def _abort_if_open(self) -> None:
            if not self.disconnected:
                self.transport.abort()

    return BoundedWebSocketProtocol


def uvicorn_server(app, log_level: str = "warning"):
    import uvicorn

    # websockets-sansio awaits the transport's writability on every send: that is what
    # makes a stalled client block its own sender instead of growing a buffer. No
    # permessage-deflate: Arrow payloads of floats barely compress, and compressing every
    # payload once per client undoes encoding it once per stream.
    config: ServeConfig | None = getattr(app.state, "config", None)
    cfg = uvicorn.Config(app, ws=_bounded_ws_protocol(), lifespan="off", log_level=log_level, ws_max_size=1 << 20,
                         ws_ping_interval=20.0, ws_ping_timeout=20.0,
                         ws_per_message_deflate=False, limit_concurrency=(config.max_clients + 64) if config else None)
    logs.install(config.token if config else None)  # after uvicorn configured its loggers
    return uvicorn.Server(cfg)


class ServerThread:
    """The real server on a background thread (tests, notebooks, benchmarks): ``with ServerThread(cfg) as s: s.url``."""

    def __init__(self, config: ServeConfig, log_level: str = "warning"):
        self.config = config
        self.app = create_app(config)
        self._sock = bind_socket(config.host, config.port)
        self.port = self._sock.getsockname()[1]
        self.server = uvicorn_server(self.app, log_level)
        self._thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self._sock]}, daemon=True,
                                        name="marketphys-serve")

    @property
    def http_url(self) -> str:
        return f"http://{self.config.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"ws://{self.config.host}:{self.port}{P.PATH}"

    @property
    def stats(self) -> StreamStats:
        return self.app.state.stats

    def start(self, timeout: float = 10.0) -> "ServerThread":
        self._thread.start()
        import time

        t_end = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > t_end:
                raise ServeError("server thread failed to start")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self.server.should_exit = True
        self._thread.join(timeout)
        try:
            self._sock.close()
        except OSError:
            pass

    def __enter__(self) -> "ServerThread":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
