"""Helpers shared by the options tests: hand-written MBO records."""

from __future__ import annotations

import numpy as np

from marketphys.pipeline.bronze import MBO_DTYPE

P = 1_000_000_000


def mbo(rows) -> np.ndarray:
    """rows: (ts_recv, instrument_id, action, side, price_points, size, order_id[, flags])."""
    out = np.zeros(len(rows), dtype=MBO_DTYPE)
    for i, r in enumerate(rows):
        ts, inst, act, side, px, size, oid = r[:7]
        flags = r[7] if len(r) > 7 else 0
        out[i] = (14, 0xA0, 1, inst, ts, oid, int(round(px * P)), size, flags, 0, ord(act), ord(side), ts, 0, i)
    return out


def quote_rows(ts, inst, mid_points, half_spread=0.05, size=10, oid_base=0):
    """A two-sided quote (bid and ask adds) around a mid, as MBO rows."""
    return [(ts, inst, "A", "B", mid_points - half_spread, size, oid_base + 1),
            (ts, inst, "A", "A", mid_points + half_spread, size, oid_base + 2)]
