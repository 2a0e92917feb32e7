"""CBOE's delayed-quotes option chain CSV ("quotedata.csv") <-> a tidy chain frame.

The file: a few header lines (the underlying with ``Last: <price>``, then ``Date: <Month D,
YYYY> at <h:mm AM/PM> <ET zone>``), a column header starting ``Expiration Date``, then one
line per (expiry, strike) with the call on the left and the put on the right:

    Expiration Date,Calls,Last Sale,Net,Bid,Ask,Volume,IV,Delta,Gamma,Open Interest,
    Strike,Puts,Last Sale,Net,Bid,Ask,Volume,IV,Delta,Gamma,Open Interest

Expiry dates read like ``Fri Jun 21 2024``; IV is a decimal (0.2 = 20 %). The reader returns
one row per option (``frame`` columns) with ``attrs['spot']``, ``attrs['asof']`` and
``attrs['symbol']``; the writer makes such files from a synthetic chain (tests, notebooks).
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pandas as pd

from .frame import ChainError

SIDE = ["Last Sale", "Net", "Bid", "Ask", "Volume", "IV", "Delta", "Gamma", "Open Interest"]
HEADER = ["Expiration Date", "Calls"] + SIDE + ["Strike", "Puts"] + SIDE
EXPIRY_FORMAT = "%a %b %d %Y"
TZ = "America/New_York"
_DATE = re.compile(r"Date:\s*([A-Za-z]+ \d{1,2}, \d{4}(?: at)? \d{1,2}:\d{2}(?::\d{2})?\s*[AP]M(?:\s+E[DS]?T)?)")
_NUMERIC = {"Last Sale", "Net", "Bid", "Ask", "Volume", "IV", "Delta", "Gamma", "Open Interest", "Strike"}


def _spot_and_time(lines: list[str], path) -> tuple[float | None, pd.Timestamp | None, str]:
    spot = asof = None
    symbol = lines[0].split(",")[0].strip().strip('"') if lines else ""
    for ln in lines:
        for cell in ln.split(","):
            c = cell.strip().strip('"')
            if c.startswith("Last:") and spot is None:
                try:
                    spot = float(c[5:].strip().replace(",", ""))
                except ValueError:
                    raise ChainError(f"{path}: header 'Last:' is not a price: {c!r}") from None
        m = _DATE.search(ln)
        if m and asof is None:
            asof = _read_date(m.group(1), path)
        elif "Date:" in ln and asof is None:
            raise ChainError(f"{path}: header 'Date:' is not like 'June 21, 2024 at 10:15 AM EDT': {ln.strip()!r}")
    return spot, asof, symbol


def _read_date(text: str, path) -> pd.Timestamp:
    t = text.replace(" at ", " ")
    parts = t.split()
    if parts and parts[-1].upper() in ("ET", "EDT", "EST"):
        parts = parts[:-1]
    try:
        return pd.Timestamp(pd.to_datetime(" ".join(parts))).tz_localize(TZ)
    except (ValueError, TypeError):
        raise ChainError(f"{path}: header 'Date:' is not a time: {text!r}") from None


def read_cboe_quotedata(path) -> pd.DataFrame:
    """A CBOE quotedata CSV -> tidy chain (strike, expiry, type, open_interest, iv, bid, ask, symbol)."""
    path = Path(path)
    text = path.read_text()
    lines = text.splitlines()
    head = next((i for i, ln in enumerate(lines[:20]) if ln.strip().strip('"').startswith("Expiration Date")), None)
    if head is None:
        raise ChainError(f"{path}: no column header starting 'Expiration Date' in the first 20 lines "
                         f"(is this CBOE's quotedata CSV?)")
    cols = [c.strip().strip('"') for c in lines[head].split(",")]
    if len(cols) < len(HEADER) or [c.lower() for c in cols[:len(HEADER)]] != [c.lower() for c in HEADER]:
        got = cols[:len(HEADER)] + [None] * max(0, len(HEADER) - len(cols))
        j = next(i for i, (a, b) in enumerate(zip(got, HEADER)) if a is None or a.lower() != b.lower())
        raise ChainError(f"{path}: column {j + 1} should be {HEADER[j]!r}, got {got[j]!r}")
    spot, asof, symbol = _spot_and_time(lines[:head], path)
    raw = pd.read_csv(io.StringIO("\n".join(lines[head + 1:])), header=None, dtype=str, keep_default_na=False,
                      skip_blank_lines=True, usecols=range(len(HEADER)))
    if raw.shape[1] != len(HEADER):
        raise ChainError(f"{path}: rows have {raw.shape[1]} columns, the header {len(HEADER)}")
    raw.columns = [f"{'put' if i > 11 else 'call'}:{h}" if h in SIDE else h for i, h in enumerate(HEADER)]
    num = {c: _numeric(raw[c], c, path, head) for c in raw.columns if c.split(":")[-1] in _NUMERIC}
    exp = pd.to_datetime(raw["Expiration Date"].str.strip(), format=EXPIRY_FORMAT, errors="coerce")
    if exp.isna().any():
        i = int(np.flatnonzero(exp.isna().to_numpy())[0])
        raise ChainError(f"{path}: column 'Expiration Date', line {head + 2 + i}: cannot read "
                         f"{raw['Expiration Date'].iloc[i]!r} (expected like 'Fri Jun 21 2024')")
    parts = []
    for side, name in (("call", "Calls"), ("put", "Puts")):
        parts.append(pd.DataFrame({
            "symbol": raw[name].str.strip().to_numpy(), "strike": num["Strike"], "expiry": exp.dt.date.to_numpy(),
            "type": "C" if side == "call" else "P", "open_interest": num[f"{side}:Open Interest"],
            "iv": num[f"{side}:IV"], "bid": num[f"{side}:Bid"], "ask": num[f"{side}:Ask"],
            "last": num[f"{side}:Last Sale"], "volume": num[f"{side}:Volume"]}))
    out = pd.concat(parts, ignore_index=True)
    out.attrs.update({"spot": spot, "asof": asof, "symbol": symbol, "source": str(path)})
    return out


def _numeric(col: pd.Series, name: str, path, head: int) -> np.ndarray:
    s = col.str.strip().str.replace(",", "", regex=False)
    v = pd.to_numeric(s.where(s != "", np.nan), errors="coerce")
    bad = v.isna() & (s != "")
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        side = f" ({name.split(':')[0]}s)" if ":" in name else ""
        raise ChainError(f"{path}: column {name.split(':')[-1]!r}{side}, line {head + 2 + i}: "
                         f"not a number: {col.iloc[i]!r}")
    return v.to_numpy(float)


def write_cboe_quotedata(chain: pd.DataFrame, path, *, spot: float, asof, symbol: str = "SPX") -> Path:
    """A tidy chain (one call and one put per expiry and strike) -> a CBOE-format CSV, atomically.

    Needs strike, expiry, type, open_interest, iv, bid, ask; missing greeks are written as 0.
    """
    from marketphys.atomic import atomic_write_text

    ts = pd.Timestamp(asof)
    ts = ts.tz_localize(TZ) if ts.tzinfo is None else ts.tz_convert(TZ)
    df = chain.assign(expiry=pd.to_datetime(chain["expiry"]).dt.normalize(),
                      type=chain["type"].astype(str).str.upper().str[0])
    key = ["expiry", "strike"]
    c = df[df["type"] == "C"].set_index(key)
    p = df[df["type"] == "P"].set_index(key)
    idx = c.index.union(p.index).sort_values()
    c, p = c.reindex(idx), p.reindex(idx)
    out = io.StringIO()
    out.write(f"{symbol},Last: {spot:.2f},Change: 0.00\n")
    out.write(f"Date: {ts.strftime('%B')} {ts.day}, {ts.year} at {ts.strftime('%I:%M %p').lstrip('0')} "
              f"{'EDT' if ts.dst() else 'EST'},Bid: {spot:.2f},Ask: {spot:.2f},Size: 1*1,Volume: 0\n")
    out.write(",".join(HEADER) + "\n")
    for (e, k), cr, pr in zip(idx, c.itertuples(index=False), p.itertuples(index=False)):
        code = f"{symbol}{e.strftime('%y%m%d')}"
        row = [e.strftime(EXPIRY_FORMAT), f"{code}C{int(round(k * 1000)):08d}"] + _side(cr) + \
              [_fmt(k), f"{code}P{int(round(k * 1000)):08d}"] + _side(pr)
        out.write(",".join(row) + "\n")
    return atomic_write_text(path, out.getvalue())


def _fmt(v) -> str:
    return "" if v is None or (isinstance(v, float) and not np.isfinite(v)) else repr(float(v))


def _side(r) -> list[str]:
    g = (lambda name: _fmt(getattr(r, name, np.nan)))
    return [g("last"), "0.0", g("bid"), g("ask"), g("volume"), g("iv"), g("delta"), g("gamma"), g("open_interest")]
