"""Records of several inputs merged in ``ts_recv`` order, chunk by chunk (no file is read whole).

A day split into files (by hour, or a snapshot file beside the session) is one stream for the
book. Each input is in ``ts_recv`` order; the merge hands out every record up to the smallest
"last ts_recv" among the chunks held, so memory stays at one chunk per input. Ties keep input
order (inputs earlier in the list first).
"""

from __future__ import annotations

from typing import Iterable, Iterator

import numpy as np


def _prefix_upto(ts: np.ndarray, bound: int, strict: bool = False) -> int:
    """Length of the leading run of ``ts`` at or below ``bound`` (below it when ``strict``)."""
    over = ts >= bound if strict else ts > bound
    return int(np.argmax(over)) if over.any() else ts.shape[0]


def merge_by_ts_recv(streams: Iterable[Iterable[np.ndarray]]) -> Iterator[np.ndarray]:
    """Merge chunk streams (each in ``ts_recv`` order) into one; chunks may be reused buffers
    (each is copied before the next is asked for). Yields fresh arrays."""
    its = [iter(s) for s in streams]
    held: list[np.ndarray | None] = [None] * len(its)

    def refill(j: int) -> None:
        while True:
            try:
                nxt = next(its[j])
            except StopIteration:
                held[j] = None
                return
            if len(nxt):
                held[j] = nxt.copy()
                return

    for j in range(len(its)):
        refill(j)
    while True:
        active = [j for j in range(len(its)) if held[j] is not None]
        if not active:
            return
        if len(active) == 1:  # the others are spent: the rest of this one as it comes
            j = active[0]
            yield held[j]
            held[j] = None
            for chunk in its[j]:
                if len(chunk):
                    yield chunk
            return
        bound = min(int(held[j]["ts_recv"][-1]) for j in active)
        parts = []
        blocked = False  # an earlier input may hold more records at ``bound`` in its next chunk
        for j in active:
            ts = held[j]["ts_recv"]
            n = _prefix_upto(ts, bound, strict=blocked)
            blocked = blocked or int(ts[-1]) == bound
            if n:
                parts.append(held[j][:n])
                held[j] = held[j][n:]
        cat = np.concatenate(parts)
        order = np.argsort(cat["ts_recv"], kind="stable")
        yield cat[order]
        for j in active:
            if held[j] is not None and not len(held[j]):
                refill(j)
