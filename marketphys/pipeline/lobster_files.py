"""LOBSTER files: which inputs are LOBSTER days (a zip, or a message/orderbook CSV pair, by name), and
their two CSVs read into checked arrays with New York local times turned into UTC nanoseconds.

Every bad input is a ``LobsterError`` naming the file, the row, the field and the value.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

NAME_RE = re.compile(r"^(?P<ticker>[A-Za-z0-9.^-]+)_(?P<date>\d{4}-\d{2}-\d{2})_(?P<start>\d+)_(?P<end>\d+)_"
                     r"(?P<kind>message|orderbook)_(?P<levels>\d+)\.csv$")
EXCHANGE_TZ = "America/New_York"
EVENT_TYPES = (1, 2, 3, 4, 5, 7)


class LobsterError(ValueError):
    """A LOBSTER input that cannot be read as such; names the file, the field and the value."""


@dataclass(frozen=True)
class LobsterPair:
    """One ticker-day: where its two CSVs are (a zip member or a plain file)."""

    ticker: str
    date: str
    levels: int
    message: str
    orderbook: str
    zip_path: Path | None = None

    def open(self, which: str) -> io.BytesIO:
        name = self.message if which == "message" else self.orderbook
        if self.zip_path is not None:
            with zipfile.ZipFile(self.zip_path) as z:
                return io.BytesIO(z.read(name))
        return io.BytesIO(Path(name).read_bytes())


def _pairs(names: list[str], zip_path: Path | None) -> list[LobsterPair]:
    found: dict[tuple, dict] = {}
    for n in names:
        m = NAME_RE.match(Path(n).name)
        if m:
            key = (m["ticker"], m["date"], m["start"], m["end"], int(m["levels"]))
            found.setdefault(key, {})[m["kind"]] = n
    out = []
    for (ticker, date, _s, _e, levels), kinds in sorted(found.items()):
        if set(kinds) != {"message", "orderbook"}:
            missing = ({"message", "orderbook"} - set(kinds)).pop()
            where = zip_path or Path(next(iter(kinds.values()))).parent
            raise LobsterError(f"{where}: LOBSTER {ticker} {date} has no {missing} file "
                               f"(expected {ticker}_{date}_{_s}_{_e}_{missing}_{levels}.csv)")
        try:
            dt.date.fromisoformat(date)
        except ValueError:
            raise LobsterError(f"{kinds['message']}: date {date!r} in the file name is not a calendar date") from None
        out.append(LobsterPair(ticker, date, levels, kinds["message"], kinds["orderbook"], zip_path))
    return out


def is_lobster(path: Path) -> bool:
    """A LOBSTER zip (holding a message/orderbook pair) or one of the two CSVs, by name."""
    p = Path(path)
    if p.suffix.lower() == ".csv":
        return bool(NAME_RE.match(p.name))
    if p.suffix.lower() == ".zip" and p.is_file():
        try:
            with zipfile.ZipFile(p) as z:
                return any(NAME_RE.match(Path(n).name) for n in z.namelist())
        except zipfile.BadZipFile:
            return False
    return False


def split_inputs(inputs) -> tuple[list[LobsterPair], list]:
    """``--input`` items -> (LOBSTER pairs, the other items). Directories are searched for LOBSTER
    zips/CSVs; a directory with no LOBSTER file is passed on whole (DBN discovery)."""
    if isinstance(inputs, (str, Path)):
        inputs = [inputs]
    pairs: list[LobsterPair] = []
    rest: list = []
    loose: list[str] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            hits = sorted(q for q in p.rglob("*") if q.is_file() and is_lobster(q))
            if not hits:
                rest.append(item)
                continue
            if any(q.name.endswith((".dbn", ".dbn.zst")) for q in p.rglob("*")):
                rest.append(item)
            for q in hits:
                if q.suffix.lower() == ".zip":
                    pairs += pairs_in_zip(q)
                else:
                    loose.append(str(q))
        elif p.is_file() and is_lobster(p):
            if p.suffix.lower() == ".zip":
                pairs += pairs_in_zip(p)
            else:
                loose.append(str(p))
        else:
            rest.append(item)
    if loose:
        pairs += _pairs(sorted(set(loose)), None)
    return pairs, rest


def pairs_in_zip(path: Path) -> list[LobsterPair]:
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
    pairs = _pairs(names, Path(path))
    if not pairs:
        raise LobsterError(f"{path}: no LOBSTER message/orderbook pair inside (names like "
                           f"TICKER_YYYY-MM-DD_START_END_message_N.csv)")
    return pairs



def _read_csv(pair: LobsterPair, which: str, ncols: int):
    import pyarrow as pa
    import pyarrow.csv as pcsv

    name = pair.message if which == "message" else pair.orderbook
    where = f"{pair.zip_path}:{name}" if pair.zip_path else name
    names = [f"c{i}" for i in range(ncols)]
    types = {n: (pa.float64() if (which == "message" and i == 0) else pa.int64()) for i, n in enumerate(names)}
    try:
        t = pcsv.read_csv(pair.open(which), read_options=pcsv.ReadOptions(column_names=names),
                          convert_options=pcsv.ConvertOptions(column_types=types))
    except (pa.ArrowInvalid, pa.ArrowTypeError) as err:
        raise LobsterError(f"{where}: not a LOBSTER {which} file with {ncols} numeric columns ({err})") from None
    if t.num_rows == 0:
        raise LobsterError(f"{where}: empty {which} file")
    return t


@dataclass
class LobsterDay:
    """The two files of one ticker-day as arrays (message columns; the orderbook as int64 rows)."""

    pair: LobsterPair
    ts_ns: np.ndarray       # int64 UTC ns
    type: np.ndarray        # int64
    order_id: np.ndarray    # int64
    size: np.ndarray        # int64
    price: np.ndarray       # int64, dollars x 10000
    direction: np.ndarray   # int64, 1 buy / -1 sell
    book: np.ndarray        # (n, 4 * levels) int64: ask px, ask size, bid px, bid size per level

    def __len__(self) -> int:
        return len(self.ts_ns)


def utc_offset_ns(date: str) -> int:
    """UTC minus New York local time on ``date`` (noon), in ns: 4 h in summer, 5 h in winter."""
    from zoneinfo import ZoneInfo

    d = dt.date.fromisoformat(date)
    local = dt.datetime(d.year, d.month, d.day, 12, tzinfo=ZoneInfo(EXCHANGE_TZ))
    return -int(local.utcoffset().total_seconds()) * 1_000_000_000


def midnight_utc_ns(date: str) -> int:
    d = dt.date.fromisoformat(date)
    return int(dt.datetime(d.year, d.month, d.day, tzinfo=dt.timezone.utc).timestamp()) * 1_000_000_000


def read_day(pair: LobsterPair) -> LobsterDay:
    """Both CSVs, checked: matching row counts, known event types, directions, widths."""
    msg = _read_csv(pair, "message", 6)
    book = _read_csv(pair, "orderbook", 4 * pair.levels)
    where = f"{pair.zip_path}:{pair.message}" if pair.zip_path else pair.message
    if msg.num_rows != book.num_rows:
        raise LobsterError(f"{where}: {msg.num_rows} messages but {book.num_rows} orderbook rows (they must match)")
    cols = [msg.column(i).to_numpy() for i in range(6)]
    secs = cols[0]
    typ, oid, size, price, dirn = (np.asarray(c, np.int64) for c in cols[1:])
    bad = ~np.isin(typ, EVENT_TYPES)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise LobsterError(f"{where}: row {k + 1}: field Type = {typ[k]} is not a LOBSTER event type {EVENT_TYPES}")
    bad = ~np.isin(dirn, (1, -1))
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise LobsterError(f"{where}: row {k + 1}: field Direction = {dirn[k]} (expected 1 or -1)")
    bad = ~(np.isfinite(secs) & (secs >= 0) & (secs < 86_400))
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise LobsterError(f"{where}: row {k + 1}: field Time = {secs[k]} is not seconds after midnight")
    if np.any(np.diff(secs) < 0):
        k = int(np.flatnonzero(np.diff(secs) < 0)[0]) + 1
        raise LobsterError(f"{where}: row {k + 1}: field Time = {secs[k]} goes back in time (previous {secs[k - 1]})")
    ts = midnight_utc_ns(pair.date) + utc_offset_ns(pair.date) + np.rint(secs * 1e9).astype(np.int64)
    ob = np.column_stack([np.asarray(book.column(i).to_numpy(), np.int64) for i in range(book.num_columns)])
    return LobsterDay(pair, ts, typ, oid, size, price, dirn, ob)
