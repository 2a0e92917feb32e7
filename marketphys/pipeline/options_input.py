"""Options inputs from DBN files (through ``bronze``): MBO chunks, definitions, open interest.

The options stage needs three things beside the MBO stream: which instrument is which
option (strike, expiry, call/put, multiplier), its open interest as of each window,
and the futures spot. This module turns bronze records into the first two as tidy
pandas frames; everything here is small (definitions and statistics, not MBO).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from marketphys.dbn import PRICE_SCALE, UNDEF_PRICE

from .bronze import MBO_DTYPE, DbnError, iter_mbo, iter_records_table  # noqa: F401  (re-exported)

STAT_OPEN_INTEREST = 9               # databento_dbn.StatType.OPEN_INTEREST
STAT_ACTION_DELETE = 2

DEFINITION_COLUMNS = ["instrument_id", "raw_symbol", "is_call", "strike_price_int", "expiration_ns",
                      "underlying", "asset", "multiplier", "ts_recv"]


class DbnInputError(ValueError):
    """A DBN file is not what the options stage needs; names the file and the problem."""


def _tables(paths) -> pa.Table | None:
    if isinstance(paths, (str, Path)) or hasattr(paths, "schema"):
        paths = [paths]
    tabs = [t for p in paths for t in iter_records_table(p)]
    return pa.concat_tables(tabs) if tabs else None


def read_option_definitions(paths) -> pd.DataFrame:
    """Options (instrument_class 'C'/'P') of definition files: the last record per instrument.

    Columns: instrument_id, raw_symbol, is_call, strike_price_int (1e-9 units), expiration_ns,
    underlying (e.g. 'ESM4'), asset ('ES'), multiplier (unit_of_measure_qty, 50 for ES), ts_recv.
    """
    t = _tables(paths)
    if t is None:
        return pd.DataFrame(columns=DEFINITION_COLUMNS)
    df = t.to_pandas()
    df = df[df["instrument_class"].isin(["C", "P"])]
    bad = (df["strike_price"] == UNDEF_PRICE) | (df["strike_price"] <= 0)
    if bad.any():
        r = df[bad].iloc[0]
        raise DbnInputError(f"option {r['raw_symbol']!r} (instrument_id {r['instrument_id']}) has no strike_price "
                            f"({r['strike_price']}) in {paths}")
    uom = df["unit_of_measure_qty"].astype("float64")
    out = pd.DataFrame({
        "instrument_id": df["instrument_id"].astype("uint32"), "raw_symbol": df["raw_symbol"],
        "is_call": df["instrument_class"] == "C", "strike_price_int": df["strike_price"].astype("int64"),
        "expiration_ns": df["expiration"].astype("int64"), "underlying": df["underlying"], "asset": df["asset"],
        "multiplier": np.where(df["unit_of_measure_qty"] == UNDEF_PRICE, np.nan, uom / PRICE_SCALE),
        "ts_recv": df["ts_recv"].astype("int64")})
    out = out.sort_values("ts_recv", kind="stable").drop_duplicates("instrument_id", keep="last")
    return out.reset_index(drop=True)


def read_open_interest(paths) -> pd.DataFrame:
    """Open-interest statistics: ts_recv, instrument_id, open_interest (a delete gives 0)."""
    t = _tables(paths)
    cols = ["ts_recv", "instrument_id", "open_interest"]
    if t is None:
        return pd.DataFrame({c: pd.Series(dtype="int64") for c in cols})
    df = t.to_pandas()
    df = df[df["stat_type"] == STAT_OPEN_INTEREST]
    q = df["quantity"].to_numpy(np.int64)
    undef = (q == np.iinfo(np.int64).max) | (q == np.iinfo(np.int32).max) | (df["update_action"].to_numpy() == STAT_ACTION_DELETE)
    out = pd.DataFrame({"ts_recv": df["ts_recv"].astype("int64").to_numpy(),
                        "instrument_id": df["instrument_id"].astype("uint32").to_numpy(),
                        "open_interest": np.where(undef, 0, q)})
    return out.sort_values("ts_recv", kind="stable").reset_index(drop=True)
