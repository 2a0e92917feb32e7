"""The options stage inside ``build``: one day's options MBO + definitions + statistics
(+ the futures spot the futures stage just staged) -> the four options silver datasets.

Listed in ``stages.STAGES`` (after the futures stage), so ``marketphys build`` runs it whenever a day
has option MBO, definitions and statistics. Normalised columns use the day's causal gold
calibration (``gold.causal_calibration``: the lake's earlier days only, the bundled default
for a first day), stored with the day under ``gold.hud.physics_norm_calibration``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import gold
from .lake import partition_dir, read_partition
from .options_input import read_open_interest, read_option_definitions
from .silver_options import (DATASETS, OpenInterest, OptionChain, OptionsInputError,
                             SilverComputeGexSurface1s, SpotSeries)

SNAP_DATASET = "silver.future_mbo.snap"


def _spot_for(product: str, date: str, staged_root: Path | None, lake: Path) -> SpotSeries:
    for root in ([staged_root] if staged_root else []) + [lake]:
        d = partition_dir(root, SNAP_DATASET, product, date)
        if any(d.glob("part-*.parquet")):
            return SpotSeries.from_table(read_partition(root, SNAP_DATASET, product, date))
    raise OptionsInputError(f"no futures spot ({SNAP_DATASET}) for product {product} on {date}: "
                            f"build that day's futures MBO first (or in the same run)")


def _spot_or_none(product, date, staged_root, lake):
    try:
        return _spot_for(product, date, staged_root, lake)
    except OptionsInputError:
        return None


class _ProductRun:
    """One product's stage inside a day: its chain, its spot, its calibration and row counts."""

    def __init__(self, product, defs, stats, spot, calib, rest_ns, rate, band_half_rows=12, multiplier=None):
        self.product = product
        self.chain = OptionChain.from_definitions(defs, default_multiplier=multiplier)
        self.stage = SilverComputeGexSurface1s(self.chain, OpenInterest(self.chain, stats), spot, rest_ns=rest_ns,
                                               calibration=calib, rate=rate, band_half_rows=band_half_rows)
        self.calib = calib
        self.ids = np.sort(self.chain.instrument_id)
        self.rows = {ds: 0 for ds in DATASETS}

    def take(self, batches, write):
        for batch in batches:
            for ds, t in batch.items():
                write(ds, self.product, t)
                self.rows[ds] += t.num_rows

    def summary(self, date):
        st = self.stage
        return {"rows": self.rows, "messages": st.messages, "windows": st.windows, "grid_windows": st.grid_windows,
                "greeks": st.greeks, "iv": dict(st.iv.counts), "book": st.books.stats_dict(),
                "calibration": f"{self.calib.source} v{self.calib.version}"}


def build_options_day(mbo_files, definition_files, statistics_files, lake, date: str, write, *,
                      staged_root: Path | None = None, rest_ns: int = 500_000_000, chunk_records: int = 1 << 20,
                      progress=None, calibration=None, rate: float = 0.0, band_half_rows: int | None = 12,
                      multiplier: float | None = None) -> dict:
    """Run ``SilverComputeGexSurface1s`` over a day, one stage per product (option ``asset``),
    all fed from one pass over the MBO files; ``write(dataset, product, table)`` stores each batch.

    A product without a futures spot that day is skipped with a note (the others still build).
    ``spec``: the ``ProductSpec`` of the build (its multiplier, for options whose definition lacks one).
    Returns {"rows": per dataset, "products": per-product summaries, "skipped": notes}.
    """
    from .bronze import DECODE_RECORDS, iter_mbo, read_info

    defs = read_option_definitions(definition_files)
    if len(defs) == 0:
        raise OptionsInputError(f"no option definitions in {[str(p) for p in definition_files]}")
    stats = read_open_interest(statistics_files)
    runs, skipped = [], []
    defs = defs.assign(asset=defs["asset"].fillna("").replace("", "UNKNOWN"))
    for product, pdefs in defs.groupby("asset", sort=True):
        spot = _spot_or_none(product, date, staged_root, Path(lake))
        if spot is None:
            skipped.append(f"options {product} {date}: no futures spot ({SNAP_DATASET}); build its futures MBO too")
            continue
        calib = calibration if calibration is not None else gold.causal_calibration(lake, product, date)
        runs.append(_ProductRun(product, pdefs, stats, spot, calib, rest_ns, rate, band_half_rows, multiplier))
    if not runs:
        raise OptionsInputError("; ".join(skipped))
    infos = sorted((read_info(p) for p in mbo_files), key=lambda i: i.start_ns)
    unknown = 0
    for info in infos:
        # small chunks into one reused buffer: the stage copies the columns it keeps (``columns``)
        for c in iter_mbo(info, chunk_records=min(int(chunk_records), DECODE_RECORDS), reuse=True):
            if progress is not None:
                progress.update(len(c))
            ids = c["instrument_id"].astype(np.int64)
            seen = np.zeros(len(c), bool)
            for r in runs:
                pos = np.minimum(np.searchsorted(r.ids, ids), len(r.ids) - 1)
                mine = r.ids[pos] == ids                    # only the chain's options (a mixed file holds futures too)
                seen |= mine
                r.take(r.stage.process(c if mine.all() else c[mine]), write)
            unknown += int((~seen).sum())
    for r in runs:
        r.take(r.stage.finish(), write)
        write(gold.CALIBRATION_DATASET, r.product, r.calib.to_table())  # what this day was normalised with
    rows = {ds: sum(r.rows[ds] for r in runs) for ds in DATASETS}
    return {"rows": rows, "products": {r.product: r.summary(date) for r in runs}, "skipped": skipped,
            "unknown_instrument_messages": unknown}


def options_stage(day, staged, settings, ctx) -> dict:
    """The build stage (``stages.STAGES``): a day's options GEX surfaces; rows written per dataset."""
    files = day.files
    bar = None
    if settings.progress:
        from tqdm.auto import tqdm
        bar = tqdm(desc=f"options {day.date}", unit="msg", unit_scale=True, leave=False)
    try:
        res = build_options_day([i.path for i in files["option_mbo"]], [i.path for i in files["definition"]],
                                [i.path for i in files["statistics"]], staged.lake, day.date,
                                lambda ds, prod, t: staged.write(ds, prod, t), staged_root=staged.root,
                                chunk_records=settings.chunk_records, progress=bar,
                                rate=getattr(settings, "option_rate", 0.0),
                                rest_ns=int(getattr(settings, "option_rest_ms", 500)) * 1_000_000,
                                band_half_rows=getattr(settings, "option_band_rows", 12),
                                multiplier=getattr(getattr(settings, "spec", None), "multiplier", None))
    finally:
        if bar is not None:
            bar.close()
    ctx.setdefault("options", []).append(res)
    ctx.setdefault("skipped", []).extend(res["skipped"])
    return res["rows"]


__all__ = ["build_options_day", "options_stage"]
