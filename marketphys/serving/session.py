"""One client's side of a stream: its bounded queue, its drop policy, and its sender.

Windows are read and encoded once per stream by a ``producer.Producer`` and handed to
every subscribed client's ``ClientQueue`` as the same ``EncodedBatch`` (shared bytes).

Slow-consumer policy (documented for clients):

* Every client has its own queue, bounded both in whole batches (``queue_batches``)
  and in bytes (``queue_bytes``; one batch is always allowed, however large).
* Replay at ``speed=max``: the client has a producer of its own, which waits for
  queue space (back-pressure); the client sets the pace and nothing is dropped.
* Paced replay (``speed=1``, ``10``, ...) and live tail: the producer never waits for
  a client. When a client's queue is full the oldest queued batch is dropped whole
  (never part of a batch) and the next ``batch_start`` carries ``"dropped": k``. A
  client holding last values stays consistent; it just sees a gap in
  ``window_end_ts_ns``. The other clients of the same producer are not slowed.
* A batch that cannot be sent within ``send_timeout_s`` (a stalled client with full
  socket buffers) ends the connection with close code 1008 "consumer too slow".

Memory per client is therefore its queue (in bytes, shared with the other clients of
its producer) plus the socket buffers. A disconnect at any point (mid-batch included)
cancels the sender and frees the queue.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field

from marketphys.serving import protocol as P


WIRE_EXTENSION = "marketphys.wire"  # ASGI scope extension: {"send": async (bytes) -> None} writing whole frames


class SlowConsumer(Exception):
    """A batch could not be sent within the configured timeout."""


@dataclass
class EncodedBatch:
    """One window, encoded once: the no-drop ``batch_start`` and every message after it (headers, payloads, end).

    ``wire`` holds those messages already framed for WebSocket (``start_wire`` the
    ``batch_start``), so a server that can write raw frames sends each client the
    same bytes; ``messages()`` reads them back one by one for any other ASGI server.
    Only ``wire`` is kept, so ``nbytes`` is what the batch really holds.
    """

    ts: int
    surfaces: list[str]
    start: str
    wire: bytes
    start_wire: bytes
    spans: list[tuple[int, int, int]]  # (opcode, payload start, payload end) of each message in ``wire``
    emitted_ns: int = 0

    @property
    def nbytes(self) -> int:
        return len(self.wire) + len(self.start_wire)

    def messages(self):
        view = memoryview(self.wire)
        for opcode, a, b in self.spans:
            yield bytes(view[a:b]) if opcode == P.BINARY else str(view[a:b], "utf-8")


@dataclass
class StreamStats:
    clients: int = 0
    connections: int = 0
    windows_sent: int = 0
    windows_encoded: int = 0
    batches_dropped: int = 0
    slow_disconnects: int = 0
    refused_busy: int = 0
    errors: int = 0
    producers: int = 0
    active: set = field(default_factory=set)

    def to_dict(self) -> dict:
        return {"clients": len(self.active), "connections": self.connections, "windows_sent": self.windows_sent,
                "windows_encoded": self.windows_encoded, "producers": self.producers,
                "batches_dropped": self.batches_dropped, "slow_disconnects": self.slow_disconnects,
                "refused_busy": self.refused_busy, "errors": self.errors}


class ClientQueue:
    """A bounded FIFO of encoded batches for one client, in count and bytes.

    ``offer`` never waits: it drops the oldest batches whole to make room (paced
    streams). ``put`` waits for room (the ``speed=max`` back-pressure path). ``finish``
    queues the final message (end of date or error), which is never dropped.
    """

    def __init__(self, max_batches: int, max_bytes: int):
        if max_batches < 1 or max_bytes < 1:
            raise ValueError(f"queue bounds must be >= 1, got {max_batches} batches, {max_bytes} bytes")
        self.max_batches, self.max_bytes = max_batches, max_bytes
        self._items: deque[EncodedBatch] = deque()
        self.nbytes = 0
        self.dropped_pending = 0   # dropped since the last batch handed to the sender
        self.dropped_total = 0
        self.final: tuple[str, object] | None = None
        self._ready = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()

    def __len__(self) -> int:
        return len(self._items)

    def _full_for(self, b: EncodedBatch) -> bool:
        return bool(self._items) and (len(self._items) >= self.max_batches or self.nbytes + b.nbytes > self.max_bytes)

    def _append(self, b: EncodedBatch) -> None:
        self._items.append(b)
        self.nbytes += b.nbytes
        self._ready.set()

    def offer(self, b: EncodedBatch) -> int:
        """Queue ``b`` now, dropping the oldest batches whole if needed; returns how many were dropped."""
        k = 0
        while self._full_for(b):
            old = self._items.popleft()
            self.nbytes -= old.nbytes
            k += 1
        self.dropped_pending += k
        self.dropped_total += k
        self._append(b)
        return k

    async def put(self, b: EncodedBatch) -> None:
        """Queue ``b`` once there is room (back-pressure)."""
        while self._full_for(b):
            self._room.clear()
            await self._room.wait()
        self._append(b)

    def finish(self, kind: str, value) -> None:
        self.final = (kind, value)
        self._ready.set()

    def clear(self) -> None:
        self._items.clear()
        self.nbytes = 0
        self._room.set()

    async def get(self) -> EncodedBatch | tuple[str, object]:
        while not self._items and self.final is None:
            self._ready.clear()
            await self._ready.wait()
        if self._items:
            b = self._items.popleft()
            self.nbytes -= b.nbytes
            self._room.set()
            return b
        return self.final


@dataclass
class SessionConfig:
    queue_batches: int = 32
    queue_bytes: int = 8 << 20
    send_timeout_s: float = 10.0


async def run_client(ws, queue: ClientQueue, cfg: SessionConfig, stats: StreamStats) -> str:
    """Send what the producer queues for this client until the date ends, the client leaves, or it stalls."""

    raw = (ws.scope.get("extensions") or {}).get(WIRE_EXTENSION)

    async def send_batch(b: EncodedBatch) -> None:
        k, queue.dropped_pending = queue.dropped_pending, 0
        if raw is not None and b.wire:
            start = b.start_wire if not k else P.ws_frame(P.TEXT, P.batch_start(b.ts, b.surfaces, k).encode())
            await raw["send"](start + b.wire if len(b.wire) < 4096 else start)
            if len(b.wire) >= 4096:
                await raw["send"](b.wire)
            return
        await ws.send_text(b.start if not k else P.batch_start(b.ts, b.surfaces, k))
        for f in b.messages():
            if isinstance(f, bytes):
                await ws.send_bytes(f)
            else:
                await ws.send_text(f)

    async def sender() -> str:
        while True:
            item = await queue.get()
            try:
                async with asyncio.timeout(cfg.send_timeout_s):
                    if isinstance(item, EncodedBatch):
                        await send_batch(item)
                    else:
                        kind, value = item
                        if kind == "end":
                            await ws.send_text(P.stream_end(value))
                            return "end"
                        stats.errors += 1
                        await ws.send_text(P.error(value))
                        return "error"
            except TimeoutError:
                raise SlowConsumer() from None
            stats.windows_sent += 1

    async def receiver() -> str:
        while True:
            msg = await ws.receive()
            if msg["type"] == "websocket.disconnect":
                return "disconnect"

    tasks = {asyncio.create_task(sender()), asyncio.create_task(receiver())}
    reason = "disconnect"
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for t in done:
            exc = t.exception()
            if isinstance(exc, SlowConsumer):
                stats.slow_disconnects += 1
                reason = "slow"
            elif exc is None:
                reason = t.result()
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        queue.clear()
    return reason
