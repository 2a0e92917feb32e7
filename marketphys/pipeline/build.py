"""``build``: DBN inputs -> bronze + silver lake, as a list of stages keyed by which inputs are present.

LOBSTER days (``lobster.py``, ``lobster_stage.py``) are picked out of the inputs first and built
as their own staged days; ``ProductSpec`` carries the tick size / multiplier the input may not give.

Inputs are sorted into kinds (``future_mbo``, ``option_mbo``, ``definition``,
``statistics``) and grouped by day. Each day is built by ``build_day(day, lake)``,
a pure function of (day inputs, lake) so days can be mapped over Dask. A stage runs
when the kinds it needs are present; the stages and their order are the explicit list
``stages.STAGES`` (e.g. the options GEX stage needs option_mbo + definition + statistics).

Everything a day writes goes to a staging directory inside the lake and is committed
only when the whole day succeeded, in one atomic manifest swap (``lake_commit.py``), so
a failure or a kill at any point leaves the lake as it was or as the new build made it,
never a mix. A day lock stops two builds of the same day from running at once.

One futures book runs across files and days (``futures_carry``): the files of a product on a
day are merged in ``ts_recv`` order, the book's end state is stored with the day
(``silver.future_mbo.book_state``) and the next calendar day starts from it, in the same
call or a later one; a day whose files continue that same day (later hours) appends to it.
"""

from __future__ import annotations

import errno
import os
import shutil
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from .bronze import DbnInfo, UnsupportedSchemaError, check_supported, read_info
from .lake import atomic_write_table, partition_dir
from .spec import ProductSpec
from .input_check import choose_inputs
from .instruments import symbol_kinds
from .lake_commit import clean_lake, commit_staged, fault_point, lake_lock, staging_dir
from .stages import STAGES, Stage  # noqa: F401  (Stage re-exported)

KINDS = ("future_mbo", "option_mbo", "definition", "statistics")


@dataclass
class DayInputs:
    date: str
    files: dict[str, list[DbnInfo]] = field(default_factory=lambda: defaultdict(list))

    @property
    def kinds(self) -> set[str]:
        return {k for k, v in self.files.items() if v}


class StagedLake:
    """Collects parts under ``<lake>/.staging-<pid>-*``; ``commit`` makes them visible in one manifest swap."""

    def __init__(self, lake: Path, date: str, lock_timeout: float = 600.0):
        self.lake, self.date = Path(lake), date
        self.root = staging_dir(self.lake)
        self.build_id = uuid.uuid4().hex[:12]
        self.lock_timeout = lock_timeout
        self.parts: dict[tuple[str, str], int] = defaultdict(int)
        self.append: set[tuple[str, str]] = set()  # (dataset, product) whose partitions are extended

    def write(self, dataset: str, product: str, table: pa.Table, date: str | None = None) -> None:
        d = date or self.date
        target = partition_dir(self.root, dataset, product, d)
        if (dataset, product, d) not in self.parts and ((dataset, product) in self.append or d != self.date):
            # later hours of a day in the lake, or a window of another date (a day's tail carried over
            # midnight): extend that date's partition, never replace it
            self._keep_existing(dataset, product, d, target)
        n = self.parts[(dataset, product, d)]
        atomic_write_table(table, target / f"part-{n:05d}.parquet")
        self.parts[(dataset, product, d)] = n + 1
        fault_point("staging")

    def _keep_existing(self, dataset: str, product: str, d: str, target: Path) -> None:
        """Start the staged partition from the lake's parts (hard links), so the swap extends it."""
        src = partition_dir(self.lake, dataset, product, d)
        old = sorted(src.glob("part-*.parquet")) if src.is_dir() else []
        target.mkdir(parents=True, exist_ok=True)
        for k, part in enumerate(old):
            dst = target / f"part-{k:05d}.parquet"
            try:
                os.link(part, dst)
            except OSError:
                shutil.copy2(part, dst)
        self.parts[(dataset, product, d)] = len(old)

    def commit(self) -> list[Path]:
        done = commit_staged(self.lake, self.root, list(self.parts), self.build_id, self.lock_timeout)
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
    option_band_rows: int | None = 12  # options priced within this many $5 strikes of spot (None: all);
                                       # the strike surfaces keep 25 rows, gex_chain_1s sums the band
    spec: ProductSpec = field(default_factory=ProductSpec)  # tick size / multiplier the input may not give
    allow_partial_book: bool = False  # a stream without a snapshot: use its partial book (else book_valid false)
    carry_book: bool = True    # start from the previous day's stored book state (a contiguous day)
    lock_timeout_s: float = 0.0  # wait this long for another build of the same day, then fail naming it
    allow_short: bool = False    # build a plain MBO file that stops short of its metadata's end (else refused)


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


def kinds_of(info: DbnInfo) -> set[str]:
    """The kinds a file feeds: its schema, or for MBO the futures and/or options stages (a mixed file feeds both)."""
    if info.schema != "mbo":
        return {info.schema}
    return symbol_kinds(list(info.symbols) + list(info.mappings.values()))


def kind_of(info: DbnInfo) -> str:
    """One kind per file (options when any symbol is an option); ``kinds_of`` splits mixed files."""
    kinds = kinds_of(info)
    return "option_mbo" if "option_mbo" in kinds else kinds.pop()


def group_days(infos: list[DbnInfo]) -> list[DayInputs]:
    days: dict[str, DayInputs] = {}
    for info in infos:
        for kind in sorted(kinds_of(info)):
            days.setdefault(info.date, DayInputs(info.date)).files[kind].append(info)
    return [days[d] for d in sorted(days)]


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
    cleaned: list[str] = field(default_factory=list)   # leftovers of a killed build removed first
    instruments: list[str] = field(default_factory=list)  # every instrument seen and what was done with it

    def lines(self) -> list[str]:
        out = [f"lake: {self.lake}", f"days: {', '.join(self.days) or '-'}"]
        out += [r.line() for r in self.lobster]
        for f in self.futures:
            out.append(f"futures {f.product} ({f.symbol}, instrument {f.instrument_id}): {f.messages:,} messages, "
                       f"{f.windows:,} windows, {f.counters.get('invalid_windows', 0)} with book_valid false, "
                       f"{f.counters.get('unknown_order_ids', 0):,} events on unknown order ids")
        for f in self.futures:
            out.append(f"  {f.date} {f.product}: book started from {f.start}")
        for ds in sorted(self.rows):
            out.append(f"  {ds}: {self.rows[ds]:,} rows")
        out += self.instruments
        out += [f"skipped: {s}" for s in self.skipped]
        if self.cleaned:
            out.append(f"cleaned {len(self.cleaned)} leftover(s) of a killed build: " + ", ".join(self.cleaned[:3])
                       + (" ..." if len(self.cleaned) > 3 else ""))
        return out


def build_day(day: DayInputs, lake, settings: Settings | None = None) -> dict:
    """Build one day (all stages whose inputs are present); all-or-nothing in the lake."""
    settings = settings or Settings()
    ctx: dict = {}
    rows: dict = {}
    ran = []
    day, input_notes = account_inputs(day, settings.allow_short)
    ctx["skipped"] = list(input_notes)
    with lake_lock(lake, f"date={day.date}", timeout=settings.lock_timeout_s):
        with lake_lock(lake, "commit", timeout=600.0):
            cleaned = clean_lake(lake)
        staged = StagedLake(Path(lake), day.date)
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
            "skipped": ctx.get("skipped", []), "cleaned": cleaned, "instruments": ctx.get("instruments", [])}


def account_inputs(day: DayInputs, allow_short: bool = False) -> tuple[DayInputs, list[str]]:
    """The day with one (the most complete) file per MBO span, and a note per file left out or flagged short."""
    out = DayInputs(day.date)
    notes: list[str] = []
    for kind, infos in day.files.items():
        kept, n = choose_inputs(list(infos), allow_short)
        out.files[kind].extend(kept)
        notes += n
    return out, notes


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
          progress: bool = True, chunk_records: int = 1 << 20, option_band_rows: int | None = 12,
          tick_size: float | None = None, multiplier: float | None = None,
          allow_partial_book: bool = False, lock_timeout_s: float = 0.0, allow_short: bool = False) -> BuildSummary:
    """DBN files/directories and LOBSTER days (zip or message/orderbook CSV pair) -> lake. Unused DBN
    schemas are skipped with a one-line note (``strict``: refused).

    ``tick_size`` / ``multiplier`` (one ``ProductSpec``): the futures tick where no definition
    gives it (LOBSTER: one cent) and the options multiplier where a definition has none; no product
    table guesses either. ``allow_partial_book``: use the book of a stream that starts without a
    snapshot (events on unknown orders are counted). ``option_band_rows``: options priced within this
    many $5 strikes of spot (None: the whole chain); ``gex_surface_1s`` keeps 25 rows, ``gex_chain_1s``
    sums the band. ``lock_timeout_s``: wait this long for another build of the same day;
    ``allow_short``: build a plain MBO file that stops short of its metadata's end."""
    from .lobster import split_inputs
    from .lobster_stage import build_lobster_day

    spec = ProductSpec(tick_size=tick_size, multiplier=multiplier)
    if int(window_ms) <= 0:
        raise ValueError(f"window_ms must be a positive number of milliseconds, got {window_ms}")
    lake = Path(lake)
    if lake.exists() and not lake.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "exists and is not a directory (the lake must be one)", str(lake))
    summary = BuildSummary(lake=lake)
    pairs, dbn_inputs = split_inputs(inputs)
    infos, skipped = usable_inputs(dbn_inputs, strict) if dbn_inputs or not pairs else ([], [])
    summary.skipped.extend(skipped)
    if not infos and not pairs:
        raise ValueError("no usable inputs: " + "; ".join(summary.skipped))
    if option_band_rows is not None and int(option_band_rows) < 12:
        raise ValueError(f"option_band_rows must be >= 12 (the 25-row surface) or None, got {option_band_rows}")
    settings = Settings(window_ms=int(window_ms), keep_bronze_mbo=keep_bronze_mbo, chunk_records=chunk_records,
                        progress=progress, option_band_rows=option_band_rows, spec=spec,
                        allow_partial_book=allow_partial_book, lock_timeout_s=lock_timeout_s,
                        allow_short=allow_short)
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
        summary.cleaned += res.get("cleaned", [])
        summary.instruments += res.get("instruments", [])
        for k, v in res["rows"].items():
            summary.rows[k] = summary.rows.get(k, 0) + v
    return summary
