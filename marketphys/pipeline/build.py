"""``build``: DBN inputs -> bronze + silver lake, as a list of stages keyed by which inputs are present.

LOBSTER days (``lobster.py``, ``lobster_stage.py``) are picked out of the inputs first and built
as their own staged days; ``ProductSpec`` carries the tick size / multiplier the input may not give.

Inputs are sorted into kinds (``future_mbo``, ``option_mbo``, ``definition``,
``statistics``) and grouped by day. Each day is built by ``build_day(day, lake)``,
a pure function of (day inputs, lake) so days can be mapped over Dask. A stage runs
when the kinds it needs are present; other engineers' stages plug in with
``register_stage`` (e.g. the options GEX stage needs option_mbo + definition + statistics).

Everything a day writes goes to a staging directory inside the lake and is moved
into place partition by partition only when the whole day succeeded, so a failure
mid-run leaves the lake as it was.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pyarrow as pa

from .bronze import DbnInfo, UnsupportedSchemaError, check_supported, iter_records_table, read_info
from .lake import atomic_write_table, partition_dir
from .spec import ProductSpec

KINDS = ("future_mbo", "option_mbo", "definition", "statistics")


@dataclass
class DayInputs:
    date: str
    files: dict[str, list[DbnInfo]] = field(default_factory=lambda: defaultdict(list))

    @property
    def kinds(self) -> set[str]:
        return {k for k, v in self.files.items() if v}


class StagedLake:
    """Collects parts under ``<lake>/.staging-*``; ``commit`` moves whole partitions into place."""

    def __init__(self, lake: Path, date: str):
        self.lake, self.date = Path(lake), date
        self.root = self.lake / f".staging-{uuid.uuid4().hex[:12]}"
        self.parts: dict[tuple[str, str], int] = defaultdict(int)

    def write(self, dataset: str, product: str, table: pa.Table, date: str | None = None) -> None:
        d = date or self.date
        target = partition_dir(self.root, dataset, product, d)
        n = self.parts[(dataset, product, d)]
        atomic_write_table(table, target / f"part-{n:05d}.parquet")
        self.parts[(dataset, product, d)] = n + 1

    def commit(self) -> list[Path]:
        done = []
        for (dataset, product, d) in sorted(self.parts):
            src = partition_dir(self.root, dataset, product, d)
            dst = partition_dir(self.lake, dataset, product, d)
            dst.parent.mkdir(parents=True, exist_ok=True)
            old = None
            if dst.exists():
                old = dst.with_name(dst.name + f".old-{uuid.uuid4().hex[:6]}")
                os.replace(dst, old)
            os.replace(src, dst)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
            done.append(dst)
        self.discard()
        return done

    def discard(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


@dataclass
class Settings:
    window_ms: int = 500
    keep_bronze_mbo: bool = True
    chunk_records: int = 1 << 20
    progress: bool = True
    option_rate: float = 0.0   # Black-76 rate for the options stage (0: undiscounted)
    option_rest_ms: int = 500  # options book_wall pull_rest_qty: orders resting at least this long
    spec: ProductSpec = field(default_factory=ProductSpec)  # tick size / multiplier the input may not give


@dataclass
class Stage:
    name: str
    needs: frozenset
    run: Callable  # (day: DayInputs, staged: StagedLake, settings: Settings, ctx: dict) -> dict (summary)


STAGES: list[Stage] = []


def register_stage(name: str, needs, run: Callable) -> Stage:
    """Add a stage that runs on every day whose inputs include all of ``needs``."""
    if any(s.name == name for s in STAGES):
        raise ValueError(f"stage {name!r} registered twice")
    st = Stage(name, frozenset(needs), run)
    STAGES.append(st)
    return st


# ----------------------------------------------------------------------------- input discovery

def discover(inputs) -> list[Path]:
    """Files and directories (searched recursively for *.dbn / *.dbn.zst), in a stable order."""
    if isinstance(inputs, (str, Path)):
        inputs = [inputs]
    out: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            out.extend(sorted(q for q in p.rglob("*") if q.is_file() and (q.name.endswith(".dbn")
                                                                           or q.name.endswith(".dbn.zst"))))
        elif p.is_file():
            out.append(p)
        else:
            raise FileNotFoundError(f"--input {item}: no such file or directory")
    if not out:
        raise ValueError(f"no DBN files (*.dbn, *.dbn.zst) found in {[str(i) for i in inputs]}")
    return out


def kind_of(info: DbnInfo) -> str:
    if info.schema != "mbo":
        return info.schema
    syms = list(info.symbols) + list(info.mappings.values())
    if any(s.endswith(".OPT") or " " in s.strip() for s in syms):
        return "option_mbo"
    return "future_mbo"


def group_days(infos: list[DbnInfo]) -> list[DayInputs]:
    days: dict[str, DayInputs] = {}
    for info in infos:
        days.setdefault(info.date, DayInputs(info.date)).files[kind_of(info)].append(info)
    return [days[d] for d in sorted(days)]


# ----------------------------------------------------------------------------- stages

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
                    for iid, mpi in zip(table.column("instrument_id").to_pylist(),
                                        table.column("min_price_increment").to_pylist()):
                        ctx.setdefault("tick_by_instrument", {})[iid] = mpi
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


def _bronze_option_mbo(day: DayInputs, staged: StagedLake, settings: Settings, ctx: dict) -> dict:
    from .bronze import iter_mbo, mbo_table
    from .silver_futures import product_of

    rows = 0
    for info in day.files["option_mbo"]:
        product = product_of(info.symbols[0]) if info.symbols else "UNKNOWN"
        for chunk in iter_mbo(info, chunk_records=settings.chunk_records):
            staged.write("bronze.future_option_mbo.mbo", product, mbo_table(chunk))
            rows += len(chunk)
    return {"bronze.future_option_mbo.mbo": rows}


def _silver_futures(day: DayInputs, staged: StagedLake, settings: Settings, ctx: dict) -> dict:
    from .silver_futures import build_futures_day

    from .silver_futures import product_of

    out = {}
    streams: dict[str, list[DbnInfo]] = defaultdict(list)
    seen: dict[tuple, DbnInfo] = {}
    for info in sorted(day.files["future_mbo"], key=lambda i: (i.start_ns, str(i.path))):
        sig = (info.dataset, info.start_ns, info.end_ns, tuple(info.symbols), info.path.stat().st_size
               if info.version == 3 else None)
        sig = sig[:4]
        if sig in seen:  # the same records in another DBN version/compression: read once
            ctx.setdefault("skipped", []).append(f"{info.path.name}: same span and symbols as "
                                                 f"{seen[sig].path.name}, read once")
            continue
        seen[sig] = info
        streams[product_of(info.symbols[0]) if info.symbols else "UNKNOWN"].append(info)
    for product, infos in streams.items():
        info = infos[0]
        bar = _bar(settings, f"{product} {info.path.name}", info)
        try:
            res = build_futures_day(infos, lambda ds, prod, t: staged.write(ds, prod, t),
                                    definitions=ctx.get("tick_by_instrument"), window_ms=settings.window_ms,
                                    keep_bronze=settings.keep_bronze_mbo, chunk_records=settings.chunk_records,
                                    progress=bar, tick_flag=settings.spec.tick_int())
        finally:
            if bar is not None:
                bar.close()
        for k, v in res.rows.items():
            out[k] = out.get(k, 0) + v
        if settings.keep_bronze_mbo:
            out["bronze.future_mbo.mbo"] = out.get("bronze.future_mbo.mbo", 0) + res.messages
        ctx.setdefault("futures", []).append(res)
    return out


def _bar(settings: Settings, desc: str, info: DbnInfo):
    if not settings.progress:
        return None
    from tqdm.auto import tqdm
    return tqdm(desc=desc, unit="msg", unit_scale=True, leave=False)


register_stage("bronze.definition", {"definition"}, _bronze_records("definition"))
register_stage("bronze.statistics", {"statistics"}, _bronze_records("statistics"))
register_stage("bronze.future_option_mbo", {"option_mbo"}, _bronze_option_mbo)
register_stage("silver.future_mbo", {"future_mbo"}, _silver_futures)

from .options_stage import register as _register_options  # noqa: E402  (options GEX stage, after futures)

_register_options()


# ----------------------------------------------------------------------------- entry points

@dataclass
class BuildSummary:
    lake: Path
    days: list[str] = field(default_factory=list)
    rows: dict = field(default_factory=dict)           # dataset -> rows written
    skipped: list[str] = field(default_factory=list)   # one line per refused input
    futures: list = field(default_factory=list)        # FuturesDayResult per MBO file
    stages: list[str] = field(default_factory=list)
    lobster: list = field(default_factory=list)        # LobsterDayResult per LOBSTER ticker-day

    def lines(self) -> list[str]:
        out = [f"lake: {self.lake}", f"days: {', '.join(self.days) or '-'}"]
        out += [r.line() for r in self.lobster]
        for f in self.futures:
            out.append(f"futures {f.product} ({f.symbol}, instrument {f.instrument_id}): {f.messages:,} messages, "
                       f"{f.windows:,} windows, {f.counters.get('invalid_windows', 0)} with book_valid false")
        for ds in sorted(self.rows):
            out.append(f"  {ds}: {self.rows[ds]:,} rows")
        out += [f"skipped: {s}" for s in self.skipped]
        return out


def build_day(day: DayInputs, lake, settings: Settings | None = None) -> dict:
    """Build one day (all stages whose inputs are present); all-or-nothing in the lake."""
    settings = settings or Settings()
    staged = StagedLake(Path(lake), day.date)
    ctx: dict = {}
    rows: dict = {}
    ran = []
    try:
        for stage in STAGES:
            if stage.needs <= day.kinds:
                for k, v in (stage.run(day, staged, settings, ctx) or {}).items():
                    rows[k] = rows.get(k, 0) + v
                ran.append(stage.name)
        staged.commit()
    except BaseException:
        staged.discard()
        raise
    return {"date": day.date, "rows": rows, "stages": ran, "futures": ctx.get("futures", []),
            "skipped": ctx.get("skipped", [])}


def usable_inputs(inputs, strict: bool = False) -> tuple[list, list[str]]:
    """The headers of every DBN input the pipeline can use, and a one-line note per skipped one
    (``strict``: an unused schema raises instead)."""
    infos, skipped = [], []
    for path in discover(inputs):
        info = read_info(path)
        try:
            check_supported(info)
        except UnsupportedSchemaError as err:
            if strict:
                raise
            skipped.append(str(err))
            continue
        infos.append(info)
    return infos, skipped


def build(inputs, lake, *, window_ms: int = 500, strict: bool = False, keep_bronze_mbo: bool = True,
          progress: bool = True, chunk_records: int = 1 << 20, spec: ProductSpec | None = None) -> BuildSummary:
    """DBN files/directories and LOBSTER days (zip or message/orderbook CSV pair) -> lake. Unused DBN
    schemas are skipped with a one-line note (``strict``: refused). ``spec``: tick size / multiplier
    where the input gives none."""
    from .lobster import split_inputs
    from .lobster_stage import build_lobster_day

    if int(window_ms) <= 0:
        raise ValueError(f"window_ms must be a positive number of milliseconds, got {window_ms}")
    lake = Path(lake)
    summary = BuildSummary(lake=lake)
    pairs, dbn_inputs = split_inputs(inputs)
    infos, skipped = usable_inputs(dbn_inputs, strict) if dbn_inputs or not pairs else ([], [])
    summary.skipped.extend(skipped)
    if not infos and not pairs:
        raise ValueError("no usable inputs: " + "; ".join(summary.skipped))
    settings = Settings(window_ms=int(window_ms), keep_bronze_mbo=keep_bronze_mbo, chunk_records=chunk_records,
                        progress=progress, spec=spec or ProductSpec())
    lake.mkdir(parents=True, exist_ok=True)
    for pair in pairs:
        res = build_lobster_day(pair, lake, settings, settings.spec)
        summary.lobster.append(res)
        summary.futures.append(res.futures)
        if pair.date not in summary.days:
            summary.days.append(pair.date)
        summary.stages += [s for s in ("lobster", "silver.future_mbo") if s not in summary.stages]
        for k, v in res.futures.rows.items():
            summary.rows[k] = summary.rows.get(k, 0) + v
        if keep_bronze_mbo:
            summary.rows["bronze.future_mbo.mbo"] = summary.rows.get("bronze.future_mbo.mbo", 0) + res.futures.messages
    for day in group_days(infos):
        res = build_day(day, lake, settings)
        if day.date not in summary.days:
            summary.days.append(day.date)
        summary.stages += [s for s in res["stages"] if s not in summary.stages]
        summary.futures += res["futures"]
        summary.skipped += res["skipped"]
        for k, v in res["rows"].items():
            summary.rows[k] = summary.rows.get(k, 0) + v
    return summary
