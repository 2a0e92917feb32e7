"""Reading surfaces out of the lake: window by window in bounded memory, or a whole day at once.

Serving computes nothing, and lake replay reads the lake the same way: a ``SurfaceCursor`` streams one dataset's day from its
Parquet parts (via the contract's dataset name and ``lake.partition_dir``, which
validates every name and date) and cuts it into per-window tables. A
``WindowMerger`` interleaves several cursors by ``window_end_ts_ns``. ``read_day_tables`` reads each surface's
whole day (for ``assemble_day``).

Assumptions on what the pipeline writes (its contracts guarantee them):
rows are sorted by ``window_end_ts_ns`` across the numbered parts of a day, and a
window never spans two parts. In follow (live-tail) mode new parts are picked up
as they appear; ``lake.atomic_write_table`` makes a part visible only when whole.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from marketphys.pipeline import lake as lakemod
from marketphys.pipeline.contracts import Contract

TS = "window_end_ts_ns"


def _cut_windows(table: pa.Table) -> list[tuple[int, pa.Table]]:
    """Split a ts-sorted table into (ts, rows of that window)."""
    if table.num_rows == 0:
        return []
    ts = table.column(TS).to_numpy()
    if np.any(np.diff(ts) < 0):
        i = int(np.flatnonzero(np.diff(ts) < 0)[0])
        raise lakemod.LakeError(f"{TS} decreases inside a part ({ts[i]} then {ts[i + 1]}); the lake breaks its contract")
    starts = np.flatnonzero(np.r_[True, ts[1:] != ts[:-1]])
    ends = np.r_[starts[1:], len(ts)]
    return [(int(ts[a]), table.slice(int(a), int(b - a))) for a, b in zip(starts, ends)]


class SurfaceCursor:
    """Yields (window_end_ts_ns, table) for one surface of one day, a record batch at a time.

    Memory follows the read-ahead, not the day: a part is read ``batch_rows`` rows at a
    time (the last, possibly unfinished window of a batch is carried into the next one),
    so a client holds a few batches per surface however long the part is.
    ``follow=True`` re-lists the partition for new parts when it runs dry, and
    starts from the last part present (live tail) when ``from_latest`` is set.
    """

    def __init__(self, lake, contract: Contract, product: str, date: str, *, follow: bool = False,
                 from_latest: bool = False, batch_rows: int = 8_192):
        self.contract = contract
        self.surface = contract.surface
        self.dir = lakemod.partition_dir(lake, contract.name, product, date)
        self.follow = follow
        self.batch_rows = batch_rows
        self._columns = list(contract.schema.names)
        self._done_parts: set[str] = set()
        self._buf: deque[tuple[int, pa.Table]] = deque()
        self._batches = None          # record-batch iterator over the part being read
        self._part: Path | None = None
        self._carry: pa.Table | None = None  # rows of the last window seen, which may continue in the next batch
        self.latest_ts: int | None = None
        self.exhausted = False
        self._closed = False
        if from_latest:
            parts = self._parts()
            self._done_parts.update(p.name for p in parts[:-1])

    def _parts(self) -> list[Path]:
        return sorted(self.dir.glob("part-*.parquet")) if self.dir.is_dir() else []

    def _open_next_part(self) -> bool:
        todo = [p for p in self._parts() if p.name not in self._done_parts]
        if not todo:
            return False
        path = todo[0]
        pf = pq.ParquetFile(path, buffer_size=1 << 16, pre_buffer=False)  # stream column chunks, never whole
        missing = [c for c in self._columns if c not in pf.schema_arrow.names]
        if missing:
            raise lakemod.LakeError(f"{self.contract.name}: part {path.name} lacks contract columns {missing}")
        self._done_parts.add(path.name)
        self._part = path
        self._batches = pf.iter_batches(batch_size=self.batch_rows, columns=self._columns, use_threads=False)
        return True

    def _push(self, ts: int, t: pa.Table) -> None:
        if self.latest_ts is not None and ts <= self.latest_ts:
            return  # a window we already have (never re-send, never go back)
        self._buf.append((ts, t))
        self.latest_ts = ts

    def close(self) -> None:
        """Drop the open part and everything buffered (its clients left); a fill running now stops early."""
        self._closed = True
        self._batches, self._carry = None, None
        self._buf.clear()

    def fill(self, min_windows: int = 1) -> int:
        """Blocking: read until ``min_windows`` are buffered or nothing is left now. Returns buffered count."""
        while len(self._buf) < min_windows and not self._closed:
            if self._batches is None and not self._open_next_part():
                if not self.follow:
                    self.exhausted = True
                break
            batches = self._batches
            batch = next(batches, None) if batches is not None else None
            if self._closed:
                break
            if batch is None:  # end of the part: a window never spans two parts, so the carry is whole
                self._batches = None
                if self._carry is not None:
                    for ts, t in _cut_windows(self._carry):
                        self._push(ts, t)
                    self._carry = None
                continue
            table = pa.Table.from_batches([batch]).select(self._columns).cast(self.contract.schema)
            table = table.replace_schema_metadata(None)
            if self._carry is not None:
                table = pa.concat_tables([self._carry, table]).combine_chunks()
            windows = _cut_windows(table)
            for ts, t in windows[:-1]:
                self._push(ts, t)
            self._carry = windows[-1][1] if windows else None
        return len(self._buf)

    def read_to_latest(self, keep: int = 8) -> None:
        """Tail start: read everything on disk now, keeping only the newest ``keep`` windows (bounded memory)."""
        while not self._closed:
            self.fill(keep + 1)
            while len(self._buf) > keep:
                self._buf.popleft()
            if self._batches is None and len(self._buf) <= keep:
                break

    def head_ts(self) -> int | None:
        return self._buf[0][0] if self._buf else None

    def pop(self) -> tuple[int, pa.Table]:
        return self._buf.popleft()

    def skip_before(self, ts: int) -> None:
        while self._buf and self._buf[0][0] < ts:
            self._buf.popleft()


@dataclass
class Window:
    """The rows each surface has at one window end (a surface absent from ``tables`` has no data at ts)."""

    ts: int
    tables: dict[str, pa.Table] = field(default_factory=dict)


class WindowMerger:
    """Interleaves surface cursors into windows in strictly increasing ts order.

    Surfaces are grouped by cadence (contract ``window_ms``): when any member of a
    group has rows at ts, every member is included (0 rows when it has none).

    Replay: a window is final once every cursor has read past it or is exhausted.
    Tail (``follow``): a window is emitted once every cursor has seen ts or later,
    or ``grace_s`` of wall time has passed since the window first appeared, so one
    stalled writer cannot freeze the stream; a window that arrives after its ts was
    emitted is dropped (counted in ``late``).
    """

    def __init__(self, cursors: list[SurfaceCursor], *, grace_s: float = 2.0, clock=time.monotonic):
        self.cursors = cursors
        self.grace_s = grace_s
        self.clock = clock
        self.last_ts: int | None = None
        self.late = 0
        self._first_seen: dict[int, float] = {}
        groups: dict[int | None, list[str]] = {}
        for c in cursors:
            groups.setdefault(c.contract.window_ms, []).append(c.surface)
        self._group_of = {s: tuple(g) for g in groups.values() for s in g}
        self._empty = {c.surface: c.contract.schema.empty_table() for c in cursors}

    @property
    def follow(self) -> bool:
        return any(c.follow for c in self.cursors)

    @property
    def done(self) -> bool:
        return all(c.exhausted and c.head_ts() is None for c in self.cursors)

    def buffered(self) -> int:
        return sum(len(c._buf) for c in self.cursors)

    def close(self) -> None:
        for c in self.cursors:
            c.close()

    def fill(self, min_windows: int = 64) -> None:
        """Blocking read-ahead (call it from a worker thread)."""
        for c in self.cursors:
            if c.head_ts() is None or len(c._buf) < min_windows:
                c.fill(min_windows)

    def start_at_latest(self) -> None:
        """Tail: skip to the newest window for which every surface has data (so held options arrive at once)."""
        for c in self.cursors:
            c.read_to_latest()
        heads = [c.latest_ts for c in self.cursors if c.latest_ts is not None]
        if heads:
            start = min(heads)
            for c in self.cursors:
                c.skip_before(start)

    def next_ready(self) -> Window | None:
        """The next window if it can be emitted now, else None (then call ``fill`` and retry)."""
        for c in self.cursors:
            if self.last_ts is not None:
                while c.head_ts() is not None and c.head_ts() <= self.last_ts:
                    c.pop()
                    self.late += 1
        heads = [c.head_ts() for c in self.cursors if c.head_ts() is not None]
        if not heads:
            return None
        ts = min(heads)
        if not self.follow:
            if any(c.head_ts() is None and not c.exhausted for c in self.cursors):
                return None  # a cursor still has unread parts; read before deciding
        else:
            behind = [c for c in self.cursors if c.latest_ts is None or c.latest_ts < ts]
            if behind:
                first = self._first_seen.setdefault(ts, self.clock())
                if self.clock() - first < self.grace_s:
                    return None
        self._first_seen.pop(ts, None)
        w = Window(ts)
        present = [c for c in self.cursors if c.head_ts() == ts]
        groups = {self._group_of[c.surface] for c in present}
        for c in present:
            w.tables[c.surface] = c.pop()[1]
        for g in groups:
            for s in g:
                if s not in w.tables:
                    w.tables[s] = self._empty[s]
        self.last_ts = ts
        return w


def read_day_tables(lake, contracts: Mapping[str, Contract], product: str, date: str) -> dict[str, pa.Table]:
    """Each surface's whole day as one Arrow table (the lake's parquet parts of that date)."""
    out = {}
    with lakemod.consistent_view(lake):          # every surface from one build, even if another commits meanwhile
        for s, c in contracts.items():
            d = lakemod.partition_dir(lake, c.name, product, date)
            parts = sorted(d.glob("part-*.parquet"))
            if parts:
                out[s] = pa.concat_tables([pq.read_table(p) for p in parts])
    return out
