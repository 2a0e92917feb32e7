"""The build's bronze and futures stages: each is ``run(day, staged, settings, ctx) -> rows written``.

``bronze_definition_stage`` / ``bronze_statistics_stage`` store the small record files (and note
each instrument's tick and class in ``ctx`` for the stages after them), ``bronze_option_mbo_stage``
stores the options MBO, ``silver_futures_stage`` runs the futures book per product (``silver_futures.py``), carrying
the book across days (``futures_carry``). A mixed file (futures and options in one) feeds both
sides: each keeps its own instruments. The run order is ``stages.STAGES``.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from .bronze import DbnInfo, iter_records_table
from .instruments import InstrumentTally, futures_file_lines, is_option_symbol, options_lines

if TYPE_CHECKING:  # annotations only: build imports the stage list, not the other way round
    from .build import DayInputs, Settings, StagedLake


def _mixed(info: DbnInfo, day: DayInputs) -> bool:
    return any(info is i for i in day.files.get("future_mbo", ())) \
        and any(i is info for i in day.files.get("option_mbo", ()))


def _option_ids(info: DbnInfo, ctx: dict) -> set[int]:
    """Ids of options in a file: by the day's definitions (instrument class C/P), else by symbol."""
    defs = ctx.get("definition_by_instrument", {})
    ids = {i for i, (_, cls) in defs.items() if cls in ("C", "P")}
    ids |= {i for i, sym in info.mappings.items() if i not in defs and is_option_symbol(sym)}
    return ids



def _date_of(ns: int) -> str:
    import datetime as dt
    return dt.datetime.fromtimestamp(int(ns) / 1e9, tz=dt.timezone.utc).date().isoformat()


def _bronze_records(kind: str):
    from .silver_futures import product_of

    dataset = {"definition": "bronze.definition", "statistics": "bronze.statistics"}[kind]

    def run(day: DayInputs, staged: StagedLake, settings: Settings, ctx: dict) -> dict:
        import pyarrow.compute as pc
        rows = 0
        for info in day.files[kind]:
            for table in iter_records_table(info):
                if kind == "definition":
                    roots = [a or product_of(s) for a, s in zip(table.column("asset").to_pylist(),
                                                               table.column("raw_symbol").to_pylist())]
                    for iid, mpi, sym, cls in zip(table.column("instrument_id").to_pylist(),
                                                  table.column("min_price_increment").to_pylist(),
                                                  table.column("raw_symbol").to_pylist(),
                                                  table.column("instrument_class").to_pylist()):
                        ctx.setdefault("tick_by_instrument", {})[iid] = mpi
                        ctx.setdefault("definition_by_instrument", {})[iid] = (sym or "", cls or "")
                else:
                    roots = [product_of(info.mappings.get(i, "")) if i in info.mappings else
                             (product_of(info.symbols[0]) if info.symbols else "UNKNOWN")
                             for i in table.column("instrument_id").to_pylist()]
                dates = [_date_of(t) for t in table.column("ts_recv").to_pylist()]
                keys = pa.array([f"{r}|{d}" for r, d in zip(roots, dates)])
                for key in sorted(set(keys.to_pylist())):
                    product, date = key.split("|")
                    part = table.filter(pc.equal(keys, key))
                    staged.write(dataset, product, part, date=date)
                    rows += part.num_rows
        return {dataset: rows}
    return run


def bronze_option_mbo_stage(day: DayInputs, staged: StagedLake, settings: Settings, ctx: dict) -> dict:
    import pyarrow.compute as pc

    from .bronze import iter_mbo, mbo_table
    from .silver_futures import product_of

    rows = 0
    chain = ctx.get("definition_by_instrument")
    chain_ids = {i for i, (_, cls) in chain.items() if cls in ("C", "P")} if chain else None
    for info in day.files["option_mbo"]:
        product = product_of(info.symbols[0]) if info.symbols else "UNKNOWN"
        keep = pa.array(sorted(_option_ids(info, ctx)), pa.uint32()) if _mixed(info, day) else None
        tally = InstrumentTally()
        for chunk in iter_mbo(info, chunk_records=settings.chunk_records):
            t = mbo_table(chunk)
            if keep is not None:                  # a mixed file: its futures go to the futures tables
                t = t.filter(pc.is_in(t.column("instrument_id"), value_set=keep))
                chunk = chunk[np.isin(chunk["instrument_id"], keep.to_numpy())]
            tally.add(chunk)
            staged.write("bronze.future_option_mbo.mbo", product, t)
            rows += t.num_rows
        ctx.setdefault("instruments", []).extend(options_lines(info.path.name, tally.as_dict(), chain_ids))
    return {"bronze.future_option_mbo.mbo": rows}


def silver_futures_stage(day: DayInputs, staged: StagedLake, settings: Settings, ctx: dict) -> dict:
    import pyarrow.compute as pc

    from . import contracts_futures as cf
    from .futures_carry import BOOK_STATE, load_carry
    from .silver_futures import build_futures_day, product_of

    out = {}
    streams: dict[str, list[DbnInfo]] = defaultdict(list)
    seen: dict[tuple, DbnInfo] = {}
    for info in sorted(day.files["future_mbo"], key=lambda i: (i.start_ns, str(i.path))):
        sig = (info.dataset, info.start_ns, info.end_ns, tuple(info.symbols))
        if sig in seen:  # the same records in another DBN version/compression: read once
            ctx.setdefault("skipped", []).append(f"{info.path.name}: same span and symbols as "
                                                 f"{seen[sig].path.name}, read once")
            continue
        seen[sig] = info
        streams[product_of(info.symbols[0]) if info.symbols else "UNKNOWN"].append(info)
    for product, infos in streams.items():
        info = infos[0]
        carry, carried_from, append = load_carry(staged.lake, product, day.date, min(i.start_ns for i in infos)) \
            if settings.carry_book else (None, None, False)
        if append:  # later hours of a day already in the lake: extend its partitions
            staged.append |= {(c.name, product) for c in (cf.SNAP, cf.WALL, cf.VACUUM, cf.PHYSICS,
                                                          cf.BUCKET_RADAR, cf.BRONZE_MBO)}
        drop = set().union(*(_option_ids(i, ctx) for i in infos if _mixed(i, day)))
        drop_arr = pa.array(sorted(drop), pa.uint32()) if drop else None
        tally = InstrumentTally()

        def write(ds, prod, t, d=None):
            if ds == "bronze.future_mbo.mbo":
                if drop_arr is not None:          # a mixed file: its options go to the options tables
                    t = t.filter(pc.invert(pc.is_in(t.column("instrument_id"), value_set=drop_arr)))
                out[ds] = out.get(ds, 0) + t.num_rows
            staged.write(ds, prod, t, date=d)

        bar = _bar(settings, f"{product} {info.path.name}", info)
        try:
            res = build_futures_day(infos, write, definitions=ctx.get("tick_by_instrument"),
                                    window_ms=settings.window_ms, keep_bronze=settings.keep_bronze_mbo,
                                    chunk_records=settings.chunk_records, progress=bar, on_chunk=tally.add,
                                    tick_size=settings.spec.tick_size, allow_partial=settings.allow_partial_book,
                                    carry=carry, carried_from=carried_from, split_days=True)
        finally:
            if bar is not None:
                bar.close()
        res.date = day.date
        staged.write(BOOK_STATE, product, res.state)
        res.state = None  # stored; the summary (maybe sent back from a Dask worker) stays small
        for k, v in res.rows.items():
            out[k] = out.get(k, 0) + v
        counts = {i: n for i, n in tally.as_dict().items() if i not in drop}
        name = info.path.name + (f" (+{len(infos) - 1} more)" if len(infos) > 1 else "")
        ctx.setdefault("instruments", []).extend(futures_file_lines(
            name, counts, {k: v for i in infos for k, v in i.mappings.items()}, ctx.get("definition_by_instrument"),
            res.instrument_id, res.product))
        ctx.setdefault("futures", []).append(res)
    return out


def _bar(settings: Settings, desc: str, info: DbnInfo):
    if not settings.progress:
        return None
    from tqdm.auto import tqdm
    return tqdm(desc=desc, unit="msg", unit_scale=True, leave=False)


bronze_definition_stage = _bronze_records("definition")
bronze_statistics_stage = _bronze_records("statistics")
