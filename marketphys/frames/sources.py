"""Where a session's frames come from: a list, the lake (one date), or a live stream.

Lake frames are assembled window by window in time order from the silver surfaces
(``frames.cursors`` merged by ``window_end_ts_ns``, then ``frames.assemble``):
futures every 0.5 s, options held until their next 1 s window, so a frame never
sees a surface whose window ends after its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Iterator, Sequence

import pyarrow.parquet as pq

from marketphys.core.frame import MarketFrame
from marketphys.dbn import PRICE_SCALE
from marketphys.frames.assemble import AssembleConfig, FrameAssembler, assemble_day
from marketphys.frames.cursors import SurfaceCursor, WindowMerger, read_day_tables
from marketphys.pipeline import lake as lakemod
from marketphys.pipeline.contracts import by_surface

LAKE_SURFACES = ("snap", "wall", "vacuum", "physics", "bucket_radar", "gex", "gex_flow")


class SourceError(ValueError):
    """The frame source cannot be read as asked; names the lake, date or surface."""


class FrameSource:
    """Re-iterable frames in time order. ``restartable`` False for live streams (no seeking back)."""

    restartable = True

    def __iter__(self) -> Iterator[MarketFrame]:  # pragma: no cover - interface
        raise NotImplementedError

    def __len__(self) -> int:  # pragma: no cover - optional
        raise TypeError("length unknown")

    def describe(self) -> dict:
        return {"kind": type(self).__name__}


class ListSource(FrameSource):
    def __init__(self, frames: Sequence[MarketFrame]):
        self.frames = list(frames)

    def __iter__(self):
        return iter(self.frames)

    def __len__(self):
        return len(self.frames)

    def describe(self):
        f = self.frames
        return {"kind": "frames", "n_frames": len(f), "first_ts_ns": f[0].ts_ns if f else None,
                "last_ts_ns": f[-1].ts_ns if f else None}


class StreamSource(FrameSource):
    """A live iterator of frames (e.g. ``LiveClient(url).frames()``); read once, forward only."""

    restartable = False

    def __init__(self, frames: Iterable[MarketFrame], name: str = "stream"):
        self._it = iter(frames)
        self.name = name
        self._used = False

    def __iter__(self):
        if self._used:
            raise SourceError(f"{self.name}: a live stream cannot be replayed from the start; record it with log=...")
        self._used = True
        return self._it

    def describe(self):
        return {"kind": "stream", "name": self.name}


class LakeSource(FrameSource):
    """One product-date of the lake assembled into frames (re-read from disk on each iteration)."""

    def __init__(self, lake, date: str | None = None, product: str | None = None,
                 assemble: AssembleConfig | None = None, surfaces: Sequence[str] = LAKE_SURFACES):
        """``product`` None: the one product the lake holds. ``assemble`` None: the default grid, with
        the tick size the snaps were built with (any product, not only ES)."""
        self.lake = Path(lake)
        if not self.lake.is_dir():
            raise SourceError(f"lake directory {str(self.lake)!r} does not exist; build one with `marketphys build`")
        contracts = by_surface()
        try:
            product = lakemod.resolve_product(self.lake, product, contracts["snap"].name)
        except lakemod.LakeError as err:
            raise SourceError(str(err)) from None
        self.product = product
        unknown = [s for s in surfaces if s not in contracts]
        if unknown:
            raise SourceError(f"unknown surfaces {unknown}; the lake serves {sorted(contracts)}")
        snap_dates = lakemod.list_dates(self.lake, contracts["snap"].name, product)
        if not snap_dates:
            raise SourceError(f"lake {str(self.lake)!r} has no futures snaps for product {product!r}; "
                              f"build it from futures MBO first")
        self.date = lakemod.check_date(date) if date is not None else snap_dates[-1]
        if self.date not in snap_dates:
            raise SourceError(f"lake {str(self.lake)!r} has no {product} data for date {self.date}; dates with data: "
                              f"{', '.join(snap_dates)}")
        self.contracts = {s: contracts[s] for s in surfaces
                          if self.date in lakemod.list_dates(self.lake, contracts[s].name, product)}
        self.assemble = assemble or AssembleConfig(tick_size=self.snap_tick_size())
        self.last_assembler: FrameAssembler | None = None

    def snap_tick_size(self) -> float:
        """The tick size the date's snaps were built with (their ``tick_int``, 1e-9 units)."""
        d = lakemod.partition_dir(self.lake, by_surface()["snap"].name, self.product, self.date)
        col = pq.read_table(sorted(d.glob("part-*.parquet"))[0], columns=["tick_int"]).column("tick_int")
        if len(col) == 0 or col[0].as_py() <= 0:
            raise SourceError(f"{d}: snap has no positive tick_int to take the tick size from")
        return col[0].as_py() / PRICE_SCALE

    @property
    def has_options(self) -> bool:
        return any(s in self.contracts for s in ("gex", "gex_flow"))

    def __len__(self) -> int:
        """Number of futures windows (an upper bound on frames: invalid-book windows give none)."""
        d = lakemod.partition_dir(self.lake, self.contracts["snap"].name, self.product, self.date)
        return sum(pq.ParquetFile(p).metadata.num_rows for p in sorted(d.glob("part-*.parquet")))

    def __iter__(self):
        with lakemod.consistent_view(self.lake):   # every surface's folder from one build
            cursors = [SurfaceCursor(self.lake, c, self.product, self.date) for c in self.contracts.values()]
        merger = WindowMerger(cursors)
        asm = FrameAssembler(self.assemble)
        self.last_assembler = asm
        while True:
            w = merger.next_ready()
            if w is None:
                if merger.done:
                    return
                merger.fill(256)
                continue
            frame = asm.push(w.ts, w.tables)
            if frame is not None:
                yield frame

    def day_frames(self, progress: bool = False) -> list[MarketFrame]:
        """All frames of the date at once (``assemble_day``: vectorised, same frames as iterating)."""
        tables = read_day_tables(self.lake, self.contracts, self.product, self.date)
        issues: dict[str, int] = {}
        frames = assemble_day(tables, self.assemble, issues)
        self.day_issues = issues
        return frames

    def describe(self):
        return {"kind": "lake", "lake": str(self.lake), "date": self.date, "product": self.product,
                "surfaces": sorted(self.contracts)}


def as_source(obj) -> FrameSource:
    if isinstance(obj, FrameSource):
        return obj
    if isinstance(obj, (list, tuple)):
        return ListSource(obj)
    if isinstance(obj, (str, Path)):
        return LakeSource(obj)
    if hasattr(obj, "__iter__"):
        return StreamSource(obj)
    raise SourceError(f"cannot read frames from {type(obj).__name__}; pass a list of MarketFrames, a lake path or a "
                      f"frame iterator")
