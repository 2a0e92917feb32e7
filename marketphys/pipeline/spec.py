"""What the input may not say about a product, given once on the build: tick size and multiplier.

Definitions (CME) win where they exist; a LOBSTER day has none, so its tick is this spec's, or
one cent. ``None`` means "from the input".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from marketphys.dbn import PRICE_SCALE


@dataclass(frozen=True)
class ProductSpec:
    tick_size: float | None = None    # price units (e.g. 0.25 for ES, 0.01 for a US stock)
    multiplier: float | None = None   # value of one point per contract (ES 50; a share: 1)

    def __post_init__(self):
        for name in ("tick_size", "multiplier"):
            v = getattr(self, name)
            if v is not None and not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise ValueError(f"{name} must be a positive number, got {v!r}")
        if self.tick_size is not None and self.tick_int(0) <= 0:
            raise ValueError(f"tick_size {self.tick_size!r} is below the lake's price unit (1e-9)")

    def tick_int(self, default: int | None = None) -> int | None:
        """The tick in 1e-9 units, or ``default`` when the spec gives none."""
        if self.tick_size is None:
            return default
        return int(round(self.tick_size * PRICE_SCALE))
