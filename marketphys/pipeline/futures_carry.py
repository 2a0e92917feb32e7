"""Where a day's futures book starts: the book state stored with the day before, or with the same day.

Every futures build stores the book's end state for its day (``BOOK_STATE``, one small Parquet
file per product and date, staged and moved into place with the day). A later build of the next
calendar day starts from it, so the book carries across UTC-day files whether the days are built
in one call or one after the other; a snapshot in the new day still replaces it. Files that
continue a day already built (their first record after the stored state's last) extend that day.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa

from .lake import LakeError, read_partition

BOOK_STATE = "silver.future_mbo.book_state"


def _state(lake: Path, product: str, date: str) -> pa.Table | None:
    try:
        return read_partition(lake, BOOK_STATE, product, date)
    except LakeError:
        return None


def load_carry(lake, product: str, date: str, first_ns: int) -> tuple[pa.Table | None, str | None, bool]:
    """(state, where it is from, append) for a build of ``product`` on ``date`` whose inputs start at
    ``first_ns``: the same day's state when the inputs start after it (append: the day goes on),
    else the previous calendar day's, else nothing."""
    same = _state(Path(lake), product, date)
    if same is not None:
        last = same.column("last_ts_recv")[0].as_py()
        if last is not None and int(first_ns) > int(last):
            return same, f"{date} (earlier files of the day)", True
    prev = (dt.date.fromisoformat(date) - dt.timedelta(days=1)).isoformat()
    before = _state(Path(lake), product, prev)
    if before is not None and int(before.column("last_ts_recv")[0].as_py()) < int(first_ns):
        return before, prev, False
    return None, None, False
