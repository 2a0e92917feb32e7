"""One client's stream: read windows, pace them, queue them (bounded), send them.

Slow-consumer policy (documented for clients):

* Every client has its own queue of at most ``queue_batches`` whole batches.
* Replay at ``speed=max``: the reader waits for queue space (back-pressure); the
  client sets the pace and nothing is dropped.
* Paced replay (``speed=1``, ``10``, ...) and live tail: when the queue is full the
  oldest queued batch is dropped whole (never part of a batch), and the next
  ``batch_start`` carries ``"dropped": k``. A client holding last values stays
  consistent; it just sees a gap in ``window_end_ts_ns``.
* A send that makes no progress for ``send_timeout_s`` (a stalled client with a
  full socket buffer) ends the connection with close code 1008 "consumer too slow".

Memory per client is therefore bounded by the queue plus the socket buffers. A
disconnect at any point (mid-batch included) cancels the reader and sender and
frees the queue.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from marketphys.serving import protocol as P
from marketphys.serving.source import Window, WindowMerger


class SlowConsumer(Exception):
    """A send made no progress within the configured timeout."""


@dataclass
class PreparedBatch:
    ts: int
    surfaces: list[str]
    frames: list[tuple[str, bytes]]  # (surface_header text, payload)
    emitted_ns: int = 0


@dataclass
class StreamStats:
    clients: int = 0
    connections: int = 0
    windows_sent: int = 0
    batches_dropped: int = 0
    slow_disconnects: int = 0
    errors: int = 0
    active: set = field(default_factory=set)

    def to_dict(self) -> dict:
        return {"clients": len(self.active), "connections": self.connections, "windows_sent": self.windows_sent,
                "batches_dropped": self.batches_dropped, "slow_disconnects": self.slow_disconnects, "errors": self.errors}


def prepare(window: Window, surfaces: list[str], versions: dict[str, str]) -> PreparedBatch:
    """Encode one window's requested surfaces (in canonical order) as header + Arrow IPC pairs."""
    carried = [s for s in surfaces if s in window.tables]
    frames = []
    for s in carried:
        t = window.tables[s]
        frames.append((P.surface_header(s, window.ts, t.num_rows, versions[s]), P.encode_ipc(t)))
    return PreparedBatch(window.ts, carried, frames)


@dataclass
class SessionConfig:
    speed: float | None = None       # None = as fast as possible
    queue_batches: int = 32
    send_timeout_s: float = 10.0
    poll_s: float = 0.2
    read_ahead: int = 64


async def run_session(ws, merger: WindowMerger, surfaces: list[str], versions: dict[str, str], cfg: SessionConfig,
                      stats: StreamStats) -> str:
    """Stream until the date ends, the client leaves, or it stalls. Returns why it ended."""
    queue: asyncio.Queue = asyncio.Queue(maxsize=cfg.queue_batches)
    dropped = [0]
    paced = cfg.speed is not None or merger.follow

    async def enqueue(item) -> None:
        if paced and isinstance(item, PreparedBatch):
            while queue.full():
                queue.get_nowait()
                dropped[0] += 1
                stats.batches_dropped += 1
            queue.put_nowait(item)
        else:
            await queue.put(item)

    async def reader() -> None:
        n = 0
        t0_wall = ts0 = None
        try:
            while True:
                w = merger.next_ready()
                if w is None:
                    if merger.done:
                        await queue.put(("end", n))
                        return
                    before = merger.buffered()
                    await asyncio.to_thread(merger.fill, cfg.read_ahead)
                    if merger.follow and merger.buffered() <= before:
                        await asyncio.sleep(cfg.poll_s)  # nothing new on disk yet
                    continue
                if cfg.speed is not None and not merger.follow:
                    if t0_wall is None:
                        t0_wall, ts0 = time.monotonic(), w.ts
                    delay = t0_wall + (w.ts - ts0) / 1e9 / cfg.speed - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                b = prepare(w, surfaces, versions)
                if not b.surfaces:
                    continue
                b.emitted_ns = time.time_ns()
                await enqueue(b)
                n += 1
        except asyncio.CancelledError:
            raise
        except Exception as err:  # a broken part mid-stream: tell the client, then close
            await queue.put(("error", f"{type(err).__name__}: {err}"))

    async def send(data) -> None:
        coro = ws.send_bytes(data) if isinstance(data, bytes) else ws.send_text(data)
        try:
            await asyncio.wait_for(coro, cfg.send_timeout_s)
        except asyncio.TimeoutError:
            raise SlowConsumer() from None

    async def sender() -> str:
        while True:
            item = await queue.get()
            if isinstance(item, tuple):
                kind, value = item
                if kind == "end":
                    await send(P.stream_end(value))
                    return "end"
                stats.errors += 1
                await send(P.error(value))
                return "error"
            k, dropped[0] = dropped[0], 0
            await send(P.batch_start(item.ts, item.surfaces, k))
            for header, payload in item.frames:
                await send(header)
                await send(payload)
            await send(P.batch_end(item.ts))
            stats.windows_sent += 1

    async def receiver() -> str:
        while True:
            msg = await ws.receive()
            if msg["type"] == "websocket.disconnect":
                return "disconnect"

    tasks = {asyncio.create_task(reader()), asyncio.create_task(sender(), name="sender"),
             asyncio.create_task(receiver(), name="receiver")}
    reason = "disconnect"
    try:
        watched = {t for t in tasks if t.get_name() in ("sender", "receiver")}
        done, _ = await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
        for t in done:
            exc = t.exception()
            if isinstance(exc, SlowConsumer):
                stats.slow_disconnects += 1
                reason = "slow"
            elif exc is not None:
                reason = "disconnect"
            else:
                reason = t.result()
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return reason
