"""Client for ``/v1/hud/stream``: batches -> MarketFrames -> a running Engine (live mode).

Async::

    async for frame in frames("ws://127.0.0.1:8765/v1/hud/stream", speed="max"):
        engine.step(frame)

Notebook (sync, runs its own event loop on a thread so it works inside Jupyter's)::

    live = LiveClient(url, surfaces="snap,wall,vacuum,physics,gex,bucket_radar,gex_flow")
    feed = live.start_feed(engine)          # returns at once; feed.forecasts fills up
    ...; feed.stop()

The client checks framing as it goes (a broken stream raises ``StreamError``), keeps
options surfaces between their 1 s windows (``FrameAssembler``) and never looks ahead.
"""

from __future__ import annotations

import asyncio
from contextlib import aclosing
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import AsyncIterator, Callable, Iterator
from urllib.parse import urlencode, urlsplit, urlunsplit

import json

import pyarrow as pa

from marketphys.frames.assemble import AssembleConfig, FrameAssembler
from marketphys.serving import protocol as P


class StreamError(RuntimeError):
    """The server refused the request or sent a stream that breaks the protocol."""


@dataclass
class Batch:
    ts: int
    surfaces: list[str]
    tables: dict[str, pa.Table]
    headers: dict[str, dict] = field(default_factory=dict)
    dropped: int = 0
    received_ns: int = 0


def stream_url(url: str, surfaces=None, date=None, speed=None, mode=None, token=None) -> str:
    """Add the query parameters to a ``ws://host:port/v1/hud/stream`` URL (None = server default)."""
    if isinstance(surfaces, (list, tuple)):
        surfaces = ",".join(surfaces)
    params = {k: v for k, v in (("surfaces", surfaces), ("date", date), ("speed", speed), ("mode", mode),
                                ("token", token)) if v is not None}
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss"):
        raise StreamError(f"url must start with ws:// or wss://, got {url!r}")
    query = "&".join(x for x in (parts.query, urlencode(params, safe=",")) if x)
    return urlunsplit((parts.scheme, parts.netloc, parts.path or P.PATH, query, ""))


async def _close_draining(ws, timeout: float = 5.0) -> None:
    """Close, reading (and discarding) frames still queued: with reading paused behind unread
    frames, the server's close frame would otherwise not be seen until the close timeout."""
    closer = asyncio.ensure_future(ws.close())
    try:
        async with asyncio.timeout(timeout):
            async for _ in ws:
                pass
    except Exception:
        pass
    await asyncio.gather(closer, return_exceptions=True)


async def raw_messages(url: str, **params) -> AsyncIterator[str | bytes]:
    """Every message as received (for verification); raises StreamError on a refused handshake."""
    import websockets
    from websockets.exceptions import InvalidStatus

    full = stream_url(url, **params)
    try:
        ws = await websockets.connect(full, max_size=None, open_timeout=10)
        try:
            async for m in ws:
                yield m
        finally:
            await _close_draining(ws)
    except InvalidStatus as err:
        body = err.response.body.decode("utf-8", "replace") if err.response.body else ""
        try:
            body = json.loads(body).get("error", body)
        except ValueError:
            pass
        raise StreamError(f"server refused the stream (HTTP {err.response.status_code}): {body}") from None
    except OSError as err:
        raise StreamError(f"cannot connect to {url}: {err}") from None


class Reassembler:
    """Turns protocol messages back into batches, checking framing; ``feed`` returns a Batch when one completes."""

    def __init__(self) -> None:
        self.batch: Batch | None = None
        self.header: dict | None = None
        self.ended: dict | None = None

    def feed(self, m: str | bytes) -> Batch | None:
        if self.ended is not None:
            raise StreamError("message after stream_end")
        if isinstance(m, bytes):
            b, h = self.batch, self.header
            if b is None or h is None:
                raise StreamError("binary frame without a preceding surface_header")
            t = P.decode_ipc(m)
            if t.num_rows != h["rows"]:
                raise StreamError(f"{h['surface']}: header says {h['rows']} rows, payload has {t.num_rows}")
            b.tables[h["surface"]] = t
            self.header = None
            return None
        try:
            msg = json.loads(m)
        except ValueError:
            raise StreamError(f"text frame is not JSON: {m[:80]!r}") from None
        kind = msg.get("type")
        if self.header is not None:
            raise StreamError(f"expected a binary payload after the {self.header['surface']} header, got {kind!r}")
        if kind == "error":
            raise StreamError(f"server error ({msg.get('field')}): {msg.get('message')}")
        if kind == "stream_end":
            if self.batch is not None:
                raise StreamError("stream_end inside a batch")
            self.ended = msg
            return None
        if kind == "batch_start":
            if self.batch is not None:
                raise StreamError("batch_start before the previous batch_end")
            self.batch = Batch(int(msg["window_end_ts_ns"]), list(msg["surfaces"]), {}, dropped=int(msg.get("dropped", 0)))
        elif kind == "surface_header":
            b = self.batch
            if b is None or msg.get("window_end_ts_ns") != b.ts or msg.get("surface") not in b.surfaces:
                raise StreamError(f"surface_header out of place: {msg}")
            if msg["surface"] in b.headers:
                raise StreamError(f"surface {msg['surface']!r} sent twice in the batch at {b.ts}")
            expected = b.surfaces[len(b.headers)]
            if msg["surface"] != expected:
                raise StreamError(f"surface_header order: got {msg['surface']!r}, batch_start lists {expected!r} next")
            self.header = msg
            b.headers[msg["surface"]] = msg
        elif kind == "batch_end":
            b = self.batch
            if b is None or msg.get("window_end_ts_ns") != b.ts:
                raise StreamError(f"batch_end out of place: {msg}")
            if set(b.tables) != set(b.surfaces):
                raise StreamError(f"batch {b.ts} ended without {sorted(set(b.surfaces) - set(b.tables))}")
            b.received_ns = time.time_ns()
            self.batch = None
            return b
        else:
            raise StreamError(f"unknown message type {kind!r}")
        return None


async def batches(url: str, *, limit: int | None = None, **params) -> AsyncIterator[Batch]:
    """Reassemble the stream into batches, checking the framing; stops at stream_end or after ``limit`` batches."""
    r = Reassembler()
    n = 0
    async with aclosing(raw_messages(url, **params)) as messages:
        async for m in messages:
            b = r.feed(m)
            if r.ended is not None:
                return
            if b is not None:
                yield b
                n += 1
                if limit is not None and n >= limit:
                    return


async def frames(url: str, *, limit: int | None = None, assemble: AssembleConfig | None = None,
                 assembler: FrameAssembler | None = None, **params):
    """MarketFrames from the stream (one per futures window with a valid book)."""
    asm = assembler or FrameAssembler(assemble)
    async with aclosing(batches(url, **params)) as bs:
        async for b in bs:
            f = asm.push(b.ts, b.tables)
            if f is not None:
                yield f
                if limit is not None and asm.frames >= limit:
                    return


# ----------------------------------------------------------------------------- sync wrapper

_DONE = object()


class _Pump:
    """Runs an async iterator on a private event loop thread, handing items over a bounded queue."""

    def __init__(self, agen_factory: Callable[[], AsyncIterator], maxsize: int = 256):
        self.q: queue.Queue = queue.Queue(maxsize)
        self._stop = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task | None = None
        self._factory = agen_factory
        self.thread = threading.Thread(target=self._run, daemon=True, name="marketphys-live")
        self.thread.start()

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self.q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        async def main():
            self._task = asyncio.current_task()
            agen = self._factory()
            try:
                async for item in agen:
                    if self._stop.is_set() or not await asyncio.to_thread(self._put, item):
                        return
            finally:
                await agen.aclose()  # closes the socket cleanly

        self._loop = asyncio.new_event_loop()
        try:
            self._loop.run_until_complete(main())
            self._put(_DONE)
        except asyncio.CancelledError:
            self._put(_DONE)
        except BaseException as err:  # handed to the consumer thread
            self._put(err)
        finally:
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.close()

    def __iter__(self) -> Iterator:
        while True:
            item = self.q.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        loop, task = self._loop, self._task
        if loop is not None and task is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(task.cancel)
            except RuntimeError:
                pass
        self.thread.join(timeout)


class LiveClient:
    """Notebook-friendly client: blocking iterators and an engine feed, safe inside Jupyter's running loop."""

    def __init__(self, url: str, *, surfaces=None, date=None, speed=None, mode=None, token=None,
                 assemble: AssembleConfig | None = None):
        self.url = url
        self.params = dict(surfaces=surfaces, date=date, speed=speed, mode=mode, token=token)
        stream_url(url, **self.params)  # validate early
        self.assemble = assemble

    def batches(self, limit: int | None = None) -> Iterator[Batch]:
        pump = _Pump(lambda: batches(self.url, limit=limit, **self.params))
        try:
            yield from pump
        finally:
            pump.stop()

    def frames(self, limit: int | None = None):
        pump = _Pump(lambda: frames(self.url, limit=limit, assemble=self.assemble, **self.params))
        try:
            yield from pump
        finally:
            pump.stop()

    def feed(self, engine, limit: int | None = None, progress: bool = True, on_forecast=None) -> list:
        """Blocking: step ``engine`` with each frame until the stream ends (or ``limit`` frames)."""
        from tqdm.auto import tqdm

        out = []
        for f in tqdm(self.frames(limit), total=limit, disable=not progress, desc="live frames", unit="frame"):
            fc = engine.step(f)
            if fc is not None:
                out.append(fc)
                if on_forecast is not None:
                    on_forecast(fc)
        return out

    def start_feed(self, engine, limit: int | None = None, on_forecast=None) -> "LiveFeed":
        return LiveFeed(self, engine, limit, on_forecast)


class LiveFeed:
    """A background feed of a running engine; ``forecasts`` grows as frames arrive; ``stop()`` ends it."""

    def __init__(self, client: LiveClient, engine, limit=None, on_forecast=None):
        self.engine, self.forecasts, self.error = engine, [], None
        self._pump = _Pump(lambda: frames(client.url, limit=limit, assemble=client.assemble, **client.params))
        self._on = on_forecast
        self.thread = threading.Thread(target=self._run, daemon=True, name="marketphys-feed")
        self.thread.start()

    def _run(self) -> None:
        try:
            for f in self._pump:
                fc = self.engine.step(f)
                if fc is not None:
                    self.forecasts.append(fc)
                    if self._on is not None:
                        self._on(fc)
        except BaseException as err:
            self.error = err

    @property
    def running(self) -> bool:
        return self.thread.is_alive()

    def wait(self, timeout: float | None = None) -> "LiveFeed":
        self.thread.join(timeout)
        if self.error is not None:
            raise self.error
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._pump.stop(timeout)
        self.thread.join(timeout)
