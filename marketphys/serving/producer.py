"""Encode once, serve many: one reader and encoder per distinct stream, fanned out to its clients.

Clients asking for the same date, speed, surface set and mode share one ``Producer``:
it reads each window from the lake once, encodes it once (``encode_window``) and
hands the same bytes to every subscribed ``ClientQueue``. Paced producers never
wait for a client (a full queue drops its own oldest batch), so a slow client never
slows the others.

Who shares:

* Paced replay: clients that connect within ``join_s`` of the first one (the
  producer holds its first window that long) share it; a client arriving after the
  first window went out gets a producer of its own, so every replay client still
  sees the date from its start.
* Live tail: every client of the same stream shares the producer for as long as it
  runs; a joiner first gets the newest batch that carried all its surfaces.
* ``speed=max``: the client sets the pace (back-pressure, nothing dropped), so
  each such client has a producer of its own.

A producer stops as soon as its last client leaves, and drops what it buffered.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import time
from dataclasses import dataclass
from typing import Callable

import pyarrow as pa

from marketphys.serving import protocol as P
from marketphys.serving.session import ClientQueue, EncodedBatch, StreamStats
from marketphys.frames.cursors import Window, WindowMerger


@dataclass(frozen=True)
class StreamKey:
    date: str
    speed: float | None
    surfaces: tuple[str, ...]
    mode: str

    @property
    def paced(self) -> bool:
        return self.speed is not None or self.mode == "tail"

    @property
    def shareable(self) -> bool:
        return self.paced


def encode_window(window: Window, surfaces: list[str], versions: dict[str, str]) -> EncodedBatch | None:
    """Encode one window's requested surfaces (canonical order) once; None when it carries none of them."""
    carried = [s for s in surfaces if s in window.tables]
    if not carried:
        return None
    messages: list[tuple[int, bytes]] = []
    for s in carried:
        t = window.tables[s]
        messages.append((P.TEXT, P.surface_header(s, window.ts, t.num_rows, versions[s]).encode()))
        messages.append((P.BINARY, P.encode_ipc(t)))
    messages.append((P.TEXT, P.batch_end(window.ts).encode()))
    pieces, spans, at = [], [], 0
    for opcode, payload in messages:
        framed = P.ws_frame(opcode, payload)
        head = len(framed) - len(payload)
        spans.append((opcode, at + head, at + len(framed)))
        pieces.append(framed)
        at += len(framed)
    start = P.batch_start(window.ts, carried)
    return EncodedBatch(window.ts, carried, start, b"".join(pieces), P.ws_frame(P.TEXT, start.encode()), spans)


@dataclass
class ProducerConfig:
    join_s: float = 0.25      # paced replay: how long the first window waits for clients to join
    poll_s: float = 0.2       # tail: how often to look for new parts
    read_ahead: int = 16      # windows buffered per surface by the reader


class Producer:
    """Reads, paces and encodes one stream; fans each encoded window out to its clients' queues."""

    def __init__(self, key: StreamKey, open_merger: Callable[[], WindowMerger], versions: dict[str, str],
                 cfg: ProducerConfig, stats: StreamStats, on_idle: Callable[["Producer"], None]):
        self.key, self.versions, self.cfg, self.stats = key, versions, cfg, stats
        self._open_merger, self._on_idle = open_merger, on_idle
        self.queues: set[ClientQueue] = set()
        self.accepting = True
        self.emitted = 0
        self.last_whole: EncodedBatch | None = None  # tail: newest batch with every requested surface
        self._task: asyncio.Task | None = None
        self._merger: WindowMerger | None = None

    def join(self, q: ClientQueue) -> None:
        if not self.accepting:
            raise RuntimeError("producer no longer accepts clients")
        if self.key.mode == "tail" and self.last_whole is not None:
            q.offer(self.last_whole)
        self.queues.add(q)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"producer {self.key}")
            self._task.add_done_callback(self._forget_task)

    def _forget_task(self, task: asyncio.Task) -> None:
        """A cancelled task keeps its CancelledError, whose traceback holds our frames and through them
        this producer: drop the task so that the windows it held are freed now, not at the next gc."""
        if self._task is task:
            self._task = None

    def leave(self, q: ClientQueue) -> None:
        self.queues.discard(q)
        if not self.queues:
            self.stop()

    def stop(self) -> None:
        self.accepting = False
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self._on_idle(self)

    async def _deliver(self, b: EncodedBatch) -> None:
        b.emitted_ns = time.time_ns()
        if self.key.paced:
            for q in list(self.queues):
                self.stats.batches_dropped += q.offer(b)
        else:
            for q in list(self.queues):
                await q.put(b)

    async def _run(self) -> None:
        key = self.key
        self.stats.producers += 1
        try:
            merger = self._merger = await asyncio.to_thread(self._open_merger)
            if key.mode == "replay" and key.speed is not None and self.cfg.join_s > 0:
                await asyncio.sleep(self.cfg.join_s)
            if key.mode == "replay":
                self.accepting = False
                self._on_idle(self)  # no longer the one new clients join
            await self._loop(merger)
        except asyncio.CancelledError:
            raise
        except Exception as err:  # a broken part mid-stream: tell the clients, then they close
            for q in list(self.queues):
                q.finish("error", f"{type(err).__name__}: {err}")
        finally:
            self.stats.producers -= 1
            if self._merger is not None:
                self._merger.close()
            self._merger = self.last_whole = None
            self.accepting = False  # a finished stream takes no new clients: the hub opens a fresh one

    async def _loop(self, merger: WindowMerger) -> None:
        key, surfaces = self.key, list(self.key.surfaces)
        t0_wall = ts0 = None
        while True:
            w = merger.next_ready()
            if w is None:
                if merger.done:
                    for q in list(self.queues):
                        q.finish("end", self.emitted)
                    return
                before = merger.buffered()
                await asyncio.to_thread(merger.fill, self.cfg.read_ahead)
                if merger.follow and merger.buffered() <= before:
                    await asyncio.sleep(self.cfg.poll_s)  # nothing new on disk yet
                continue
            if key.speed is not None and not merger.follow:
                if t0_wall is None:
                    t0_wall, ts0 = time.monotonic(), w.ts
                delay = t0_wall + (w.ts - ts0) / 1e9 / key.speed - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            b = encode_window(w, surfaces, self.versions)
            if b is None:
                continue
            self.stats.windows_encoded += 1
            if len(b.surfaces) == len(surfaces):
                self.last_whole = b
            await self._deliver(b)
            self.emitted += 1


class Hub:
    """The producers of one server, by stream; hands each new client a producer to join."""

    def __init__(self, stats: StreamStats, cfg: ProducerConfig):
        self.stats, self.cfg = stats, cfg
        self._open: dict[StreamKey, Producer] = {}
        self._release_pending = False

    def subscribe(self, key: StreamKey, open_merger: Callable[[], WindowMerger], versions: dict[str, str],
                  q: ClientQueue) -> Producer:
        p = self._open.get(key) if key.shareable else None
        if p is None or not p.accepting:
            p = Producer(key, open_merger, versions, self.cfg, self.stats, self._idle)
            if key.shareable:
                self._open[key] = p
        p.join(q)
        return p

    def producers(self) -> int:
        return self.stats.producers

    def _idle(self, p: Producer) -> None:
        if self._open.get(p.key) is p:
            del self._open[p.key]
        if not p.queues and not self._release_pending:  # a stream ended: give freed memory back soon
            self._release_pending = True
            asyncio.get_running_loop().call_later(0.5, self._release)

    def _release(self) -> None:
        self._release_pending = False
        release_memory()


_libc = None


def release_memory() -> None:
    """Hand freed memory back to the OS: Arrow's pool keeps freed buffers, glibc keeps freed arenas."""
    global _libc
    try:
        pa.default_memory_pool().release_unused()
    except Exception:
        pass
    if _libc is None:
        name = ctypes.util.find_library("c")
        try:
            _libc = ctypes.CDLL(name) if name else False
        except OSError:
            _libc = False
    if _libc and hasattr(_libc, "malloc_trim"):
        _libc.malloc_trim(0)
