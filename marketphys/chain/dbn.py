"""A lake date's option chain at one instant, from its DBN files: the offline twin of the options stage.

Definitions give strike, expiry, type and multiplier; statistics the open interest as of
the instant (the last ``OPEN_INTEREST`` at or before it); the options MBO, replayed up to
the instant with the stage's own order book, the best bid and ask. ``pipeline_chain_gex``
prices it with the stage's conventions, so it gives the numbers ``gex_surface_1s`` and
``gex_chain_1s`` hold for that window (same inputs, same math).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from marketphys.dbn import PRICE_SCALE
from marketphys.pipeline.black76 import DAY_COUNT
from marketphys.pipeline.options_book import OrderBooks, columns
from marketphys.pipeline.options_input import read_open_interest, read_option_definitions


def _paths(p):
    return [p] if isinstance(p, (str, Path)) else list(p)


def chain_from_dbn(mbo_files, definition_files, statistics_files, at_ns: int, *, product: str | None = None,
                   chunk_records: int = 1 << 20) -> pd.DataFrame:
    """The chain at ``at_ns`` (ns UTC; records with ts_recv < at_ns count, as in a window ending there).

    Columns: instrument_id, strike (points), expiry (ns UTC), type, open_interest, bid, ask
    (NaN where the side is empty), multiplier; ``attrs['asof'] = at_ns``.
    """
    from marketphys.pipeline.bronze import iter_mbo, read_info

    defs = read_option_definitions(_paths(definition_files))
    if product is not None:
        defs = defs[defs["asset"] == product]
    stats = read_open_interest(_paths(statistics_files))
    stats = stats[stats["ts_recv"] <= at_ns]
    oi = stats.groupby("instrument_id")["open_interest"].last()
    books = OrderBooks(rest_ns=0)
    for info in sorted((read_info(p) for p in _paths(mbo_files)), key=lambda i: i.start_ns):
        done = False
        for recs in iter_mbo(info, chunk_records=chunk_records):
            if len(recs) == 0:
                continue
            stop = books.apply_arrays(columns(recs), 0, int(at_ns))
            books.clear_flows()
            if stop < len(recs):
                done = True
                break
        if done:
            break
    ids = defs["instrument_id"].to_numpy(np.int64)
    bid, ask, _ = books.top(ids)
    out = pd.DataFrame({
        "instrument_id": ids, "strike": defs["strike_price_int"].to_numpy(np.int64) / PRICE_SCALE,
        "expiry": defs["expiration_ns"].to_numpy(np.int64), "type": np.where(defs["is_call"].to_numpy(bool), "C", "P"),
        "open_interest": oi.reindex(defs["instrument_id"].to_numpy()).fillna(0).to_numpy(float),
        "bid": np.where(bid > 0, bid / PRICE_SCALE, np.nan), "ask": np.where(ask > 0, ask / PRICE_SCALE, np.nan),
        "multiplier": defs["multiplier"].to_numpy(float)})
    out.attrs["asof"] = int(at_ns)
    return out


def pipeline_chain_gex(chain: pd.DataFrame, futures_mid: float, rate: float = 0.0, **overrides):
    """``chain_gex`` with the options stage's conventions: every option priced off the futures
    mid (options on futures: the forward is the future itself), Black-76 at ``rate``,
    the package's year (``black76.DAY_COUNT``), the definitions' multiplier, OTM-shared IVs and the stage's zero-gamma range."""
    from marketphys.pipeline.silver_options import PROFILE_POINTS, PROFILE_RANGE

    from .exposure import chain_gex

    kw = {"multiplier": "column", "spot": float(futures_mid), "rate": rate, "day_count": DAY_COUNT,
          "share_otm_iv": True, "profile_range": PROFILE_RANGE, "profile_points": PROFILE_POINTS}
    kw.update(overrides)
    return chain_gex(chain.assign(forward=float(futures_mid)), **kw)


def futures_mid(lake, product: str, date: str, at_ns: int) -> float:
    """The futures mid the stage uses at ``at_ns``: the lake's ``snap`` at or before it."""
    from marketphys.pipeline.lake import read_partition
    from marketphys.pipeline.silver_options import SpotSeries

    spot = SpotSeries.from_table(read_partition(lake, "silver.future_mbo.snap", product, date))
    _, mid, valid = spot.at(int(at_ns))
    if not valid:
        raise ValueError(f"no valid futures spot for {product} at {at_ns} on {date}")
    return mid


def chain_gex_at(inputs, at, *, lake=None, product: str = "ES", rate: float = 0.0, iv_fallback="median", **overrides):
    """DBN files or folders of one day (options MBO, definitions, statistics; futures MBO when no
    ``lake``) -> the day's chain at ``at`` (ns, or a time; naive = UTC) priced like the stage.

    The futures mid comes from the lake's ``snap`` when ``lake`` is given (what the stage
    used), else from the day's futures MBO (most active instrument's BBO mid, 1 s windows).
    """
    from marketphys.pipeline.build import group_days, usable_inputs
    from marketphys.pipeline.silver_options import spot_from_futures_mbo

    from .frame import ChainError, timestamp_ns

    at_ns = timestamp_ns(at, "UTC", "at")
    date = str(pd.Timestamp(at_ns, tz="UTC").date())
    infos, _ = usable_inputs(inputs if isinstance(inputs, (list, tuple)) else [inputs], False)
    days = {d.date: d for d in group_days(infos)}
    if date not in days:
        raise ChainError(f"at: no DBN files for {date} in {inputs} (dates there: {sorted(days)})")
    files = days[date].files
    miss = [k for k in ("option_mbo", "definition", "statistics") if not files[k]]
    if miss or (lake is None and not files["future_mbo"]):
        raise ChainError(f"{date}: missing DBN inputs {miss + ([] if lake or files['future_mbo'] else ['future_mbo'])}")
    chain = chain_from_dbn([i.path for i in files["option_mbo"]], [i.path for i in files["definition"]],
                           [i.path for i in files["statistics"]], at_ns, product=product)
    if lake is not None:
        F = futures_mid(lake, product, date, at_ns)
    else:
        from marketphys.pipeline.bronze import iter_mbo

        spot = spot_from_futures_mbo(c for i in sorted(files["future_mbo"], key=lambda i: i.start_ns)
                                     for c in iter_mbo(i))
        _, F, ok = spot.at(at_ns)
        if not ok:
            raise ChainError(f"at: no valid futures mid at {pd.Timestamp(at_ns, tz='UTC')}")
    return pipeline_chain_gex(chain, F, rate, iv_fallback=iv_fallback, **overrides)
