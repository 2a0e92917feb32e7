"""Run an iterator one step ahead in a background thread (zstd decode overlapping the book).

zstd decompression releases the GIL, so on a second core the next chunk is decoded while the
compiled book (which holds the GIL) consumes this one. It saves wall time only: the CPU time
is the same, and on one core nothing is gained.
"""

from __future__ import annotations

import queue
import threading
from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")
_DONE = object()


def prefetch(items: Iterable[T], depth: int = 1) -> Iterator[T]:
    """Yield ``items`` in order, producing up to ``depth`` of them ahead in a daemon thread.

    An exception raised by the producer is raised here, at the item where it happened.
    Closing the generator early stops the producer at its next item (memory stays bounded
    by ``depth`` + 1 items).
    """
    if depth < 1:
        raise ValueError(f"prefetch depth must be >= 1, got {depth}")
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(x) -> bool:
        while not stop.is_set():
            try:
                q.put(x, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce():
        try:
            for x in items:
                if not put((True, x)):
                    return
            put((True, _DONE))
        except BaseException as err:  # handed to the consumer, raised there
            put((False, err))

    worker = threading.Thread(target=produce, name="prefetch", daemon=True)
    worker.start()
    try:
        while True:
            ok, x = q.get()
            if not ok:
                raise x
            if x is _DONE:
                return
            yield x
    finally:
        stop.set()
        worker.join()
