"""LOBSTER days into the lake: convert (``lobster.py``), then the futures book and surfaces, as one staged day.

The records go to ``bronze.future_mbo.mbo`` and the surfaces to ``silver.future_mbo.*`` under the
ticker as product (the dataset names say which book built them, the product says what was traded),
so ``replay``, ``serve`` and the gold layer read a LOBSTER day like a futures day.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from marketphys.dbn import PRICE_SCALE

from . import contracts_futures as cf
from .lobster import DEFAULT_TICK, Conversion, LobsterPair, check_tick, convert, instrument_id_of, read_day
from .spec import ProductSpec

FEED_RECORDS = 1 << 16


@dataclass
class LobsterDayResult:
    pair: LobsterPair
    conversion_counters: dict = field(default_factory=dict)
    halts: list = field(default_factory=list)
    futures: object = None  # silver_futures.FuturesDayResult

    def line(self) -> str:
        c = self.conversion_counters
        halts = f", trading halts at {', '.join(f'{k} {_hms(t)}' for t, k in self.halts)}" if self.halts else ""
        return (f"lobster {self.pair.ticker} {self.pair.date} ({self.pair.levels} levels): {c['messages']:,} messages -> "
                f"{c['records']:,} MBO records; {c['synthetic_adds']:,} synthetic adds and "
                f"{c['synthetic_cancels']:,} synthetic cancels (levels changed deeper than the file shows); "
                f"{c['hidden_executions']:,} hidden executions as trades; "
                f"{c['unseen_order_events']:,} events on orders never seen{halts}")


def _hms(ns: int) -> str:
    import datetime as dt
    return dt.datetime.fromtimestamp(ns / 1e9, tz=dt.timezone.utc).strftime("%H:%M:%S UTC")


def lobster_tick_int(spec: ProductSpec | None) -> int:
    return (spec or ProductSpec()).tick_int(int(round(DEFAULT_TICK * PRICE_SCALE)))


def build_lobster_day(pair: LobsterPair, lake, settings, spec: ProductSpec | None = None) -> LobsterDayResult:
    """One ticker-day -> bronze MBO + silver surfaces, all-or-nothing in the lake (``StagedLake``)."""
    from .bronze import mbo_table
    from .book import FuturesBook
    from .build import StagedLake
    from .silver_futures import FuturesDayResult, _write_batch

    tick_int = lobster_tick_int(spec)
    day = read_day(pair)
    check_tick(day, tick_int)
    conv: Conversion = convert(day)
    recs = conv.records
    product = pair.ticker.replace(".", "_").replace("-", "_").replace("^", "_")[:16]
    iid = instrument_id_of(pair.ticker)
    staged = StagedLake(Path(lake), pair.date)
    try:
        res = FuturesDayResult(product=product, instrument_id=iid, symbol=pair.ticker, messages=len(recs))
        if settings.keep_bronze_mbo:
            for i in range(0, len(recs), settings.chunk_records):
                staged.write(cf.BRONZE_MBO.name, product, cf.BRONZE_MBO.validate(mbo_table(recs[i: i + settings.chunk_records])))
        book = FuturesBook(iid, tick_int, window_ns=int(settings.window_ms) * 1_000_000)
        writer = lambda ds, prod, t: staged.write(ds, prod, t)  # noqa: E731
        last_ts = -1
        for i in range(0, len(recs), FEED_RECORDS):
            for batch in book.iter_feed(recs[i: i + FEED_RECORDS], flush=False):
                last_ts = _write_batch(batch, book, res, writer, last_ts)
                del batch
        for batch in book.iter_finish():
            last_ts = _write_batch(batch, book, res, writer, last_ts)
            del batch
        res.counters = book.counters
        staged.commit()
    except BaseException:
        staged.discard()
        raise
    return LobsterDayResult(pair, conv.counters, conv.halts, res)
