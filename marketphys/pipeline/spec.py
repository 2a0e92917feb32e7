"""What the input may not say about a product, given once on the build: tick size and multiplier.

Definitions (CME) win where they exist; a LOBSTER day has none, so its tick is this spec's, or
one cent. ``None`` means "from the input".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

PRICE_SCALE = 1_000_000_000  # prices in the lake are integers in 1e-9 units
# contract multiplier (value of one index point) of CME equity-index, energy and metal futures, and so of
# one option on them: used only where a definition does not give it (unit_of_measure_qty)
KNOWN_MULTIPLIERS = {"ES": 50.0, "MES": 5.0, "NQ": 20.0, "MNQ": 2.0, "RTY": 50.0, "M2K": 5.0, "YM": 5.0,
                     "MYM": 0.5, "CL": 1000.0, "GC": 100.0}


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


def multiplier_for(product: str, spec: ProductSpec | None = None) -> float | None:
    """The flag's multiplier, else the known one for the product, else None (definitions must give it)."""
    if spec is not None and spec.multiplier is not None:
        return float(spec.multiplier)
    return KNOWN_MULTIPLIERS.get(product)
