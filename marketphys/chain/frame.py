"""A tidy option chain -> validated arrays; bad rows get a reason instead of an exception.

Columns (one row per option): ``strike``, ``expiry``, ``type`` ('C'/'P', 'call'/'put' or
bool is-call), ``open_interest``, and ``iv`` (decimal, 0.20 = 20 %) and/or ``bid``/``ask``.
Optional: ``forward`` (per row, constant within an expiry), ``multiplier``.

Expiry: integers are ns since the epoch (UTC, as in DBN definitions); tz-aware timestamps
are used as they are; dates without a time of day get ``expiry_time`` in ``tz`` (CBOE's
SPX PM-settled options: 16:00 America/New_York); naive timestamps with a time are read in
``tz``. Rows are never raised on: what cannot be used gets a reason (``REASONS``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from marketphys.pipeline.black76 import DAY_COUNT, DAYS_PER_YEAR

REQUIRED = ("strike", "expiry", "type", "open_interest")
DAY_COUNTS = {"ACT/365": 365.0, DAY_COUNT: DAYS_PER_YEAR, "ACT/360": 360.0}
"""Index chains are often quoted ACT/365 (the default here); the lake's DBN chain uses the package's one
year (``black76.DAY_COUNT``)."""
NS_PER_DAY = 86_400e9
# why a row was set aside, in the order they are tested (a row gets the first that applies)
REASONS = ("bad_type", "bad_strike", "bad_expiry", "expired", "no_open_interest", "no_price", "no_iv")
_CALL = {"C", "CALL", "CALLS", "TRUE", "1"}
_PUT = {"P", "PUT", "PUTS", "FALSE", "0"}


class ChainError(ValueError):
    """The chain as a whole cannot be read (a missing column, a bad setting); names it."""


@dataclass
class ChainArrays:
    strike: np.ndarray        # float
    expiry_ns: np.ndarray     # int64 (0 where unparseable)
    is_call: np.ndarray       # bool
    oi: np.ndarray            # float
    iv: np.ndarray            # float, NaN where absent
    bid: np.ndarray
    ask: np.ndarray
    forward: np.ndarray       # float, NaN where absent
    T: np.ndarray             # years, NaN where the expiry is unparseable
    reason: np.ndarray        # object: '' usable so far, else one of REASONS


def year_basis(day_count) -> float:
    """Days per year of a day count: 'ACT/365' (default), 'ACT/365.25', 'ACT/360' or a number."""
    if isinstance(day_count, str):
        if day_count.upper() not in DAY_COUNTS:
            raise ChainError(f"day_count: expected one of {sorted(DAY_COUNTS)} or days per year, got {day_count!r}")
        return DAY_COUNTS[day_count.upper()]
    v = float(day_count)
    if not (v > 0 and np.isfinite(v)):
        raise ChainError(f"day_count: days per year must be > 0, got {day_count!r}")
    return v


def timestamp_ns(t, tz: str, name: str = "asof") -> int:
    """A valuation time -> ns UTC; naive times are read in ``tz``; ints are ns already."""
    if t is None:
        raise ChainError(f"{name}: the valuation time is required (chain.attrs['asof'] or the {name}= argument)")
    if isinstance(t, (int, np.integer)):
        return int(t)
    try:
        ts = pd.Timestamp(t)
    except (ValueError, TypeError) as err:
        raise ChainError(f"{name}: cannot read {t!r} as a time ({err})") from None
    if ts is pd.NaT:
        raise ChainError(f"{name}: cannot read {t!r} as a time")
    if ts.tzinfo is None:
        ts = ts.tz_localize(tz)
    return int(ts.tz_convert("UTC").value)


def expiry_ns(col: pd.Series, expiry_time: str, tz: str) -> np.ndarray:
    """Expiry column -> int64 ns UTC, 0 where it cannot be read (see the module docstring)."""
    if pd.api.types.is_integer_dtype(col.dtype):
        return col.to_numpy(np.int64)
    ts = pd.to_datetime(col, errors="coerce", format="mixed") if col.dtype == object else pd.to_datetime(
        col, errors="coerce")
    if getattr(ts.dt, "tz", None) is None:
        try:
            hh, mm = (int(x) for x in str(expiry_time).split(":")[:2])
        except ValueError:
            raise ChainError(f"expiry_time: expected 'HH:MM', got {expiry_time!r}") from None
        date_only = ts == ts.dt.normalize()
        ts = ts.where(~date_only, ts + pd.Timedelta(hours=hh, minutes=mm))
        ts = ts.dt.tz_localize(tz, nonexistent="shift_forward", ambiguous="NaT")
    ts = ts.dt.tz_convert("UTC")
    out = ts.to_numpy(dtype="datetime64[ns]").astype(np.int64, copy=True)
    out[ts.isna().to_numpy()] = 0
    return out


def is_call_of(col: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(is_call, understood) from 'C'/'P'/'call'/'put' or booleans."""
    if col.dtype == bool:
        return col.to_numpy(bool), np.ones(len(col), bool)
    s = col.astype(str).str.strip().str.upper()
    call, put = s.isin(_CALL).to_numpy(), s.isin(_PUT).to_numpy()
    return call, call | put


def _num(df, name) -> np.ndarray:
    if name not in df.columns:
        return np.full(len(df), np.nan)
    v = pd.to_numeric(df[name], errors="coerce").to_numpy(float)
    return v


def read_chain(chain: pd.DataFrame, asof_ns: int, basis: float, expiry_time: str, tz: str) -> ChainArrays:
    """Validate the columns and derive T; rows get reasons, never exceptions."""
    if not isinstance(chain, pd.DataFrame):
        raise ChainError(f"chain: expected a pandas DataFrame, got {type(chain).__name__}")
    miss = [c for c in REQUIRED if c not in chain.columns]
    if miss:
        raise ChainError(f"chain: missing column(s) {miss}; it needs {list(REQUIRED)} and 'iv' or 'bid'/'ask'")
    if "iv" not in chain.columns and not {"bid", "ask"} <= set(chain.columns):
        raise ChainError("chain: needs an 'iv' column or both 'bid' and 'ask' (to invert the mid)")
    n = len(chain)
    is_call, typed = is_call_of(chain["type"])
    strike = _num(chain, "strike")
    exp = expiry_ns(chain["expiry"], expiry_time, tz)
    oi = _num(chain, "open_interest")
    T = np.where(exp != 0, (exp - asof_ns) / (basis * NS_PER_DAY), np.nan)
    reason = np.full(n, "", dtype=object)
    checks = [("bad_type", ~typed), ("bad_strike", ~(strike > 0)), ("bad_expiry", exp == 0),
              ("expired", ~(T > 0)), ("no_open_interest", ~(oi > 0))]
    for name, bad in checks:
        reason[(reason == "") & bad] = name
    return ChainArrays(strike, exp, is_call, oi, _num(chain, "iv"), _num(chain, "bid"), _num(chain, "ask"),
                       _num(chain, "forward"), T, reason)


def two_sided_mid(bid: np.ndarray, ask: np.ndarray) -> np.ndarray:
    """(bid + ask) / 2 where the quote is usable (ask > 0, 0 <= bid <= ask), else NaN."""
    ok = (ask > 0) & (bid >= 0) & (ask >= bid)
    return np.where(ok, 0.5 * (bid + ask), np.nan)
