"""The options stage inside ``build``: one day's options MBO + definitions + statistics
(+ the futures spot the futures stage just staged) -> the four options silver datasets.

Registered with ``build.register_stage`` so ``marketphys build`` runs it whenever a day
has option MBO, definitions and statistics. Normalised columns use the newest gold
calibration of the lake; without one, the day is calibrated on itself (``self:<date>``)
and ``marketphys calibrate-norms`` later replaces that with a calibration over a period.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from . import gold
from .lake import partition_dir, read_partition
from .options_input import read_open_interest, read_option_definitions
from .silver_options import (DATASETS, GEX_FLOW_DATASET, OpenInterest, OptionChain, OptionsInputError,
                             SilverComputeGexSurface1s, SpotSeries)

SNAP_DATASET = "silver.future_mbo.snap"


def _spot_for(product: str, date: str, staged_root: Path | None, lake: Path) -> SpotSeries:
    for root in ([staged_root] if staged_root else []) + [lake]:
        d = partition_dir(root, SNAP_DATASET, product, date)
        if any(d.glob("part-*.parquet")):
            return SpotSeries.from_table(read_partition(root, SNAP_DATASET, product, date))
    raise OptionsInputError(f"no futures spot ({SNAP_DATASET}) for product {product} on {date}: "
                            f"build that day's futures MBO first (or in the same run)")


def _product(defs: pd.DataFrame) -> str:
    assets = sorted(set(a for a in defs["asset"].dropna() if a))
    if len(assets) != 1:
        raise OptionsInputError(f"definitions: expected the options of one product, found assets {assets}")
    return assets[0]


def build_options_day(mbo_files, definition_files, statistics_files, lake, date: str, write, *,
                      staged_root: Path | None = None, rest_ns: int = 500_000_000, chunk_records: int = 1 << 20,
                      progress=None, calibration=None, rate: float = 0.0) -> dict:
    """Run ``SilverComputeGexSurface1s`` over a day; ``write(dataset, product, table)`` stores each batch.

    Returns a summary dict (rows per dataset, messages, windows, IV fallback counts, calibration).
    """
    from .bronze import iter_mbo, read_info

    defs = read_option_definitions(definition_files)
    if len(defs) == 0:
        raise OptionsInputError(f"no option definitions in {[str(p) for p in definition_files]}")
    product = _product(defs)
    chain = OptionChain.from_definitions(defs)
    oi = OpenInterest(chain, read_open_interest(statistics_files))
    spot = _spot_for(product, date, staged_root, Path(lake))
    calib = calibration if calibration is not None else gold.load_calibration(lake, product)
    stage = SilverComputeGexSurface1s(chain, oi, spot, rest_ns=rest_ns, calibration=calib, rate=rate)
    infos = sorted((read_info(p) for p in mbo_files), key=lambda i: i.start_ns)
    rows = {ds: 0 for ds in DATASETS}
    collect = calib is None
    flow_vals: dict[str, list] = {m.name: [] for m in gold.METRICS.values() if m.dataset == GEX_FLOW_DATASET}

    def chunks():
        for info in infos:
            for c in iter_mbo(info, chunk_records=chunk_records):
                if progress is not None:
                    progress.update(len(c))
                yield c

    for batch in stage.run(chunks()):
        for ds, t in batch.items():
            write(ds, product, t)
            rows[ds] += t.num_rows
            if collect and ds == GEX_FLOW_DATASET:
                for name in flow_vals:
                    v = t.column(gold.METRICS[name].column).to_numpy()
                    flow_vals[name].append(v[v != 0])
    source = f"gold v{calib.version}" if calib is not None else f"self:{date}"
    if collect:       # calibrate the day on itself and rewrite its normalised columns
        bands = {n: gold.quantile_band(np.concatenate(v) if v else np.zeros(0), gold.METRICS[n])
                 for n, v in flow_vals.items()}
        self_cal = gold.NormCalibration(0, date, date, bands, source)
        root = staged_root or Path(lake)
        for part in sorted(partition_dir(root, GEX_FLOW_DATASET, product, date).glob("part-*.parquet")):
            from .lake import atomic_write_table
            atomic_write_table(gold.apply_norms(pq.read_table(part), self_cal), part)
    return {"product": product, "rows": rows, "messages": stage.messages, "windows": stage.windows,
            "grid_windows": stage.grid_windows, "greeks": stage.greeks, "iv": dict(stage.iv.counts),
            "book": stage.books.stats_dict(), "calibration": source}


def _stage_run(day, staged, settings, ctx) -> dict:
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
                                rest_ns=int(getattr(settings, "option_rest_ms", 500)) * 1_000_000)
    finally:
        if bar is not None:
            bar.close()
    ctx.setdefault("options", []).append(res)
    return res["rows"]


def register() -> None:
    from .build import STAGES, register_stage

    if not any(s.name == "silver.future_option_mbo" for s in STAGES):
        register_stage("silver.future_option_mbo", {"option_mbo", "definition", "statistics"}, _stage_run)


__all__ = ["build_options_day", "register"]
