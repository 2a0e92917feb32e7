"""``gold.hud.physics_norm_calibration``: the q05/q95 per metric each day is normalised with.

Why gold: normalisation is global state (it spans days), so it is computed once here,
versioned, and every silver normalised column reads it; serving never normalises.

Causal (``causal_calibration``): day D is normalised with bands from *earlier* days only, the
last ``ROLLING_DAYS`` trading days of the lake before D (their raw silver values, which never
depend on a calibration). A first day, with no earlier day, uses the bundled default bands
(``data/norms/default_calibration.json``, made by ``scripts/make_default_norms.py`` from a
synthetic session). So a ``*_norm`` value at 10:00 never depends on 15:00, nor on a later day.
A day's calibration is stored under its own date (the bands, the earlier days they came from,
and a version), once: ``calibrate`` fills days that have none and leaves the others as they
were served, unless asked for a new version of the lake (``new_version``).

Normalisation (``normalise``):
- unsigned metric: ``clip((v - q05) / (q95 - q05), 0, 1)``
- signed metric (e.g. flow_reinforce): ``clip(v / max(|q05|, |q95|), -1, 1)`` so that the
  sign survives (a thickening wall stays positive, an eroding one negative).
Flow metrics are calibrated over their non-zero values (``nonzero_only``): quiet strikes
are the majority and would otherwise pin both quantiles at zero.

Memory: each stored part contributes at most ``MAX_VALUES_PER_PART`` values (an even
stride through it), so a calibration over months reads in bounded memory.

Storage: one partition per normalised day; each recomputation of that day (a new lake version)
writes the next part number, which is the calibration's ``version``. ``load_calibration`` returns
the newest.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from . import lake as lk

CALIBRATION_DATASET = "gold.hud.physics_norm_calibration"
Q_LO, Q_HI = 0.05, 0.95
ROLLING_DAYS = 20   # trading days before a day that calibrate it
DEFAULT_CALIBRATION_PATH = Path(__file__).resolve().parents[2] / "data" / "norms" / "default_calibration.json"


@dataclass(frozen=True)
class Metric:
    name: str
    dataset: str
    column: str
    signed: bool = False
    nonzero_only: bool = False
    transform: str = "identity"          # or "log1p"
    norm_column: str | None = None       # where silver writes the normalised value


GEX_FLOW = "silver.future_option_mbo.gex_flow_surface_1s"
GEX_SURFACE = "silver.future_option_mbo.gex_surface_1s"

METRICS: dict[str, Metric] = {m.name: m for m in (
    Metric("gex_abs", GEX_SURFACE, "gex_abs", nonzero_only=True),
    Metric("flow_abs", GEX_FLOW, "flow_abs", nonzero_only=True, norm_column="flow_abs_norm"),
    Metric("flow_reinforce", GEX_FLOW, "flow_reinforce", signed=True, nonzero_only=True,
           norm_column="flow_reinforce_norm"),
    Metric("pull_rest_intensity", GEX_FLOW, "pull_rest_intensity", nonzero_only=True,
           norm_column="pull_rest_intensity_norm"),
    # futures HUD metrics (silver from the futures stage; calibrated here, normalised by their readers)
    Metric("wall_strength_log", "silver.future_mbo.wall", "depth_qty_rest", nonzero_only=True, transform="log1p"),
    Metric("vacuum_score", "silver.future_mbo.vacuum", "vacuum_score", nonzero_only=True),
)}
MAX_VALUES_PER_PART = 200_000   # deterministic stride sample per part: bounded memory over long periods


def register_metric(metric: Metric) -> Metric:
    """Add a metric (e.g. futures wall strength, vacuum score) to the calibration set."""
    METRICS[metric.name] = metric
    return metric


@dataclass(frozen=True)
class Band:
    q05: float
    q95: float
    signed: bool
    n: int


@dataclass(frozen=True)
class NormCalibration:
    version: int
    period_start: str
    period_end: str
    bands: dict[str, Band]
    source: str = "gold"                 # "rolling:<n>d" (earlier days of the lake), "default" (bundled), "gold"

    def to_table(self) -> pa.Table:
        names = sorted(self.bands)
        b = [self.bands[k] for k in names]
        n = len(names)
        return pa.table({
            "metric": pa.array(names, pa.string()),
            "q05": pa.array([x.q05 for x in b], pa.float64()),
            "q95": pa.array([x.q95 for x in b], pa.float64()),
            "signed": pa.array([x.signed for x in b], pa.bool_()),
            "n": pa.array([x.n for x in b], pa.int64()),
            "period_start": pa.array([self.period_start] * n, pa.string()),
            "period_end": pa.array([self.period_end] * n, pa.string()),
            "version": pa.array([self.version] * n, pa.int64()),
            "source": pa.array([self.source] * n, pa.string()),
            "computed_at_ns": pa.array([time.time_ns()] * n, pa.int64()),
        })

    @classmethod
    def from_table(cls, t: pa.Table, source: str = "gold") -> "NormCalibration":
        d = t.to_pydict()
        bands = {m: Band(q05, q95, s, n) for m, q05, q95, s, n in zip(d["metric"], d["q05"], d["q95"], d["signed"], d["n"])}
        return cls(int(d["version"][0]), d["period_start"][0], d["period_end"][0], bands,
                   d["source"][0] if "source" in d else source)


def normalise(values, band: Band | None) -> np.ndarray:
    """Normalised values (never NaN): 0..1 for unsigned metrics, -1..1 for signed ones."""
    v = np.nan_to_num(np.asarray(values, float), nan=0.0, posinf=0.0, neginf=0.0)
    if band is None:
        return np.zeros_like(v)
    if band.signed:
        scale = max(abs(band.q05), abs(band.q95))
        if not scale > 0:
            return np.zeros_like(v)
        with np.errstate(over="ignore"):
            return np.clip(v / scale, -1.0, 1.0)
    width = band.q95 - band.q05
    if not width > 0:
        return (v > band.q05).astype(float)
    with np.errstate(over="ignore"):          # a huge value over a tiny band saturates at 1
        return np.clip((v - band.q05) / width, 0.0, 1.0)


def apply_norms(table: pa.Table, calibration: NormCalibration | None) -> pa.Table:
    """Set every ``*_norm`` column a metric of ``table``'s dataset defines (zeros without a calibration)."""
    for m in METRICS.values():
        if m.norm_column is None or m.column not in table.column_names:
            continue
        v = table.column(m.column).to_numpy(zero_copy_only=False)
        if m.transform == "log1p":
            v = np.log1p(np.maximum(v, 0))
        band = calibration.bands.get(m.name) if calibration else None
        col = pa.array(normalise(v, band), pa.float64())
        if m.norm_column in table.column_names:
            table = table.set_column(table.column_names.index(m.norm_column), m.norm_column, col)
        else:
            table = table.append_column(m.norm_column, col)
    return table


def quantile_band(values: np.ndarray, metric: Metric) -> Band:
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    if metric.transform == "log1p":
        v = np.log1p(np.maximum(v, 0))
    if metric.nonzero_only:
        v = v[v != 0]
    if v.size == 0:
        return Band(0.0, 0.0, metric.signed, 0)
    q05, q95 = np.quantile(v, [Q_LO, Q_HI])
    return Band(float(q05), float(q95), metric.signed, int(v.size))


def compute_calibration(lake, product: str, dates: list[str], version: int = 0, source: str = "gold",
                        metrics: dict[str, Metric] | None = None, allow_empty: bool = False) -> NormCalibration:
    """Quantile bands of every metric whose dataset has data for the given dates."""
    if not dates:
        raise lk.LakeError(f"no dates to calibrate over for product {product!r} under {lake}")
    dates = sorted(lk.check_date(d) for d in dates)
    bands = {}
    for m in (metrics or METRICS).values():
        have = set(lk.list_dates(lake, m.dataset, product))
        cols = []
        for d in dates:
            if d not in have:
                continue
            for part in sorted(lk.partition_dir(lake, m.dataset, product, d).glob("part-*.parquet")):
                v = pq.read_table(part, columns=[m.column]).column(0).to_numpy(zero_copy_only=False)
                if m.nonzero_only:
                    v = v[v != 0]
                step = -(-len(v) // MAX_VALUES_PER_PART)
                cols.append(v[::step] if step > 1 else v)
        if cols:
            bands[m.name] = quantile_band(np.concatenate(cols), m)
    if not bands and not allow_empty:
        raise lk.LakeError(f"no calibrated metric has data for {product} on {dates[0]}..{dates[-1]} under {lake}")
    return NormCalibration(version, dates[0], dates[-1], bands, source)


def _calib_dir(lake, product, end):
    return lk.partition_dir(lake, CALIBRATION_DATASET, product, end)


def write_calibration(lake, product: str, calib: NormCalibration) -> NormCalibration:
    """Store as the next version (atomic); returns the calibration with its version set."""
    latest = load_calibration(lake, product)
    version = (latest.version + 1) if latest else 1
    calib = NormCalibration(version, calib.period_start, calib.period_end, calib.bands, "gold")
    lk.atomic_write_table(calib.to_table(), _calib_dir(lake, product, calib.period_end) / f"part-{version:05d}.parquet")
    return calib


def load_calibration(lake, product: str, version: int | None = None) -> NormCalibration | None:
    """The newest stored calibration (or the given version); None when there is none."""
    best = None
    for d in lk.list_dates(lake, CALIBRATION_DATASET, product):
        for p in _calib_dir(lake, product, d).glob("part-*.parquet"):
            v = int(p.stem.split("-")[1])
            if (version is None and (best is None or v > best[0])) or v == version:
                best = (v, p)
    if best is None:
        if version is not None:
            raise lk.LakeError(f"no calibration version {version} for {product} under {lake}")
        return None
    return NormCalibration.from_table(pq.read_table(best[1]))


def default_calibration(path: Path | None = None) -> NormCalibration:
    """The bundled bands a first day is normalised with (see data/README.md)."""
    path = Path(path or DEFAULT_CALIBRATION_PATH)
    try:
        doc = json.loads(path.read_text())
        bands = {k: Band(float(b["q05"]), float(b["q95"]), bool(b["signed"]), int(b["n"])) for k, b in doc["bands"].items()}
    except FileNotFoundError:
        raise lk.LakeError(f"default calibration {path} is missing: run scripts/make_default_norms.py") from None
    except (KeyError, TypeError, ValueError) as err:
        raise lk.LakeError(f"default calibration {path}: unreadable ({err})") from None
    return NormCalibration(0, "", "", bands, "default")


def day_metrics() -> dict[str, Metric]:
    """The metrics a day's calibration holds: those of the options surfaces (what silver normalises, and
    gex_abs). The futures HUD metrics (whole-book columns, tens of millions of rows a day) are computed
    on request only (``compute_calibration``): reading 20 days of them for every day built would cost
    minutes, for bands nothing in the lake applies."""
    return {k: m for k, m in METRICS.items() if m.dataset.startswith("silver.future_option_mbo.")}


def metric_dates(lake, product: str, metrics: dict[str, Metric] | None = None) -> list[str]:
    """Dates holding data of any of ``metrics`` (default: the day metrics)."""
    return sorted({d for m in (metrics or day_metrics()).values() for d in lk.list_dates(lake, m.dataset, product)})


def causal_calibration(lake, product: str, date: str, days: int = ROLLING_DAYS) -> NormCalibration:
    """The bands day ``date`` is normalised with: the last ``days`` dates of the lake before it (a metric
    with no data on them keeps its default band); the bundled default when there is no earlier day."""
    date = lk.check_date(date)
    if int(days) < 1:
        raise ValueError(f"days must be >= 1, got {days}")
    metrics = day_metrics()
    default = default_calibration()
    default_bands = {k: b for k, b in default.bands.items() if k in metrics}
    earlier = [d for d in metric_dates(lake, product, metrics) if d < date][-int(days):]
    if not earlier:
        return NormCalibration(0, "", "", default_bands, "default")
    cal = compute_calibration(lake, product, earlier, source=f"rolling:{len(earlier)}d", metrics=metrics,
                              allow_empty=True)
    # a metric with no values on those days (a nonzero-only one that was always zero) keeps its default band
    seen = {k: b for k, b in cal.bands.items() if b.n > 0}
    return NormCalibration(0, earlier[0], earlier[-1], {**default_bands, **seen}, cal.source)


def day_calibration(lake, product: str, date: str) -> NormCalibration | None:
    """The calibration day ``date`` was normalised with (its newest version), or None."""
    d = _calib_dir(lake, product, date)
    parts = sorted(d.glob("part-*.parquet")) if d.is_dir() else []
    if not parts:
        return None
    best = max((NormCalibration.from_table(pq.read_table(p)) for p in parts), key=lambda c: c.version)
    return best


def renormalise_day(lake, product: str, date: str, calib: NormCalibration) -> int:
    """Rewrite one day's normalised columns with ``calib`` (atomic per part); parts rewritten."""
    n = 0
    for ds in {m.dataset for m in METRICS.values() if m.norm_column}:
        if date not in lk.list_dates(lake, ds, product):
            continue
        for part in sorted(lk.partition_dir(lake, ds, product, date).glob("part-*.parquet")):
            lk.atomic_write_table(apply_norms(pq.read_table(part), calib), part)
            n += 1
    return n


@dataclass(frozen=True)
class DayCalibration:
    date: str
    calibration: NormCalibration
    action: str   # "written" (first time), "new version" (asked for), "kept" (already served)


def calibrate(lake, product: str, start: str | None = None, end: str | None = None, *, new_version: bool = False,
              apply: bool = True, days: int = ROLLING_DAYS) -> tuple[list[DayCalibration], int]:
    """Give every day in [start, end] its causal calibration (earlier days only), in date order.

    A day that already has one keeps it, and its served values, unless ``new_version``: then it gets
    the next version and its normalised columns are rewritten. ``apply`` False: compute and report,
    write nothing. Returns (one entry per day, silver parts rewritten)."""
    dates = metric_dates(lake, product)
    if start:
        dates = [d for d in dates if d >= lk.check_date(start)]
    if end:
        dates = [d for d in dates if d <= lk.check_date(end)]
    if not dates:
        raise lk.LakeError(f"no dates to calibrate over for product {product!r} under {lake}")
    out, n = [], 0
    for d in dates:
        old = day_calibration(lake, product, d)
        if old is not None and not new_version:
            out.append(DayCalibration(d, old, "kept"))
            continue
        cal = causal_calibration(lake, product, d, days)
        version = (old.version + 1) if old is not None else 0
        cal = NormCalibration(version, cal.period_start, cal.period_end, cal.bands, cal.source)
        if apply:
            n += renormalise_day(lake, product, d, cal)
            lk.atomic_write_table(cal.to_table(), _calib_dir(lake, product, d) / f"part-{version:05d}.parquet")
        out.append(DayCalibration(d, cal, "new version" if old is not None else "written"))
    return out, n


def settle(lake, dates) -> int:
    """After days were built side by side (``fanout``), give each of ``dates`` the calibration it would
    have had built in date order: a day built before an earlier one finished saw fewer earlier days.
    Only days built in that same call may be passed (their values are not served yet). Parts rewritten."""
    n = 0
    dates = sorted(set(dates))
    for product in lk.products_with(lake, CALIBRATION_DATASET):
        for d in dates:
            have = day_calibration(lake, product, d)
            if have is None:
                continue
            want = causal_calibration(lake, product, d)
            if (want.bands, want.period_start, want.period_end, want.source) == \
                    (have.bands, have.period_start, have.period_end, have.source):
                continue
            want = NormCalibration(have.version, want.period_start, want.period_end, want.bands, want.source)
            n += renormalise_day(lake, product, d, want)
            lk.atomic_write_table(want.to_table(), _calib_dir(lake, product, d) / f"part-{have.version:05d}.parquet")
    return n
