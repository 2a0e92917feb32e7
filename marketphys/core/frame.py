"""MarketFrame: what the engine sees at one Δt tick (docs/architecture.md#frames)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import numpy as np


class FrameError(ValueError):
    """A frame failed validation; the message names the field and the value."""


@dataclass
class MarketFrame:
    """One 0.5 s observation: time, spot, tick size and feature channels.

    ``scalars`` are global features for the window (e.g. ``push``, ``ofi``,
    ``velocity`` in ticks/s). ``profiles`` are arrays over the engine grid
    (one value per cell, cell 0 at index n). ``strikes`` are arrays over the
    options strike grid given by ``strike_rel_ticks`` (e.g. 25 strikes every
    20 ticks); producers that build walls read them.
    """

    ts_ns: int
    spot: float
    tick_size: float = 0.25
    scalars: Mapping[str, float] = field(default_factory=dict)
    profiles: Mapping[str, np.ndarray] = field(default_factory=dict)
    strike_rel_ticks: np.ndarray | None = None
    strikes: Mapping[str, np.ndarray] = field(default_factory=dict)

    def validate(self, grid_size: int | None = None) -> "MarketFrame":
        """Raise FrameError naming the first bad field; return self when fine."""
        if not isinstance(self.ts_ns, (int, np.integer)):
            raise FrameError(f"MarketFrame.ts_ns must be an integer (ns), got {self.ts_ns!r}")
        if not np.isfinite(self.spot) or self.spot <= 0:
            raise FrameError(f"MarketFrame.spot must be a finite positive price, got spot={self.spot!r} at ts_ns={self.ts_ns}")
        if not np.isfinite(self.tick_size) or self.tick_size <= 0:
            raise FrameError(f"MarketFrame.tick_size must be finite and > 0, got tick_size={self.tick_size!r} at ts_ns={self.ts_ns}")
        for name, value in self.scalars.items():
            if not np.isfinite(value):
                raise FrameError(f"MarketFrame.scalars[{name!r}] is not finite ({value!r}) at ts_ns={self.ts_ns}")
        for name, arr in self.profiles.items():
            a = np.asarray(arr)
            if a.ndim != 1:
                raise FrameError(f"MarketFrame.profiles[{name!r}] must be 1-D, got shape {a.shape} at ts_ns={self.ts_ns}")
            if grid_size is not None and a.shape[0] != grid_size:
                raise FrameError(
                    f"MarketFrame.profiles[{name!r}] has length {a.shape[0]} but the grid has {grid_size} cells "
                    f"at ts_ns={self.ts_ns}; resample the profile onto the engine grid")
            bad = ~np.isfinite(a)
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise FrameError(f"MarketFrame.profiles[{name!r}][{i}] is not finite ({a[i]!r}) at ts_ns={self.ts_ns}")
        if self.strikes:
            if self.strike_rel_ticks is None:
                raise FrameError(f"MarketFrame.strikes given without strike_rel_ticks at ts_ns={self.ts_ns}")
            k = np.asarray(self.strike_rel_ticks).shape[0]
            for name, arr in self.strikes.items():
                a = np.asarray(arr)
                if a.shape != (k,):
                    raise FrameError(f"MarketFrame.strikes[{name!r}] has shape {a.shape}, expected ({k},) at ts_ns={self.ts_ns}")
                if not np.all(np.isfinite(a)):
                    raise FrameError(f"MarketFrame.strikes[{name!r}] has non-finite values at ts_ns={self.ts_ns}")
        return self
