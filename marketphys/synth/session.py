"""One call from settings to files: medium -> latent path -> futures and options books -> DBN.

File names (DATE = YYYYMMDD):

* ``glbx-mdp3-DATE.mbo.dbn.zst``         ES futures MBO (schema mbo)
* ``glbx-mdp3-DATE.opt.mbo.dbn.zst``     ES options MBO (schema mbo, 0DTE and quarterly)
* ``glbx-mdp3-DATE.definition.dbn.zst``  definitions of the future and every option
* ``glbx-mdp3-DATE.statistics.dbn.zst``  open interest (stat_type OPEN_INTEREST)
* ``glbx-mdp3-DATE.truth.json`` / ``.truth.parquet``  the ground truth
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from marketphys.core.theta import PARAM_NAMES
from marketphys.synth import dbn as D
from marketphys.synth.config import TICK, SynthConfig
from marketphys.synth.futures import generate_futures
from marketphys.synth.instruments import SMILES, build_instruments, definition_records, statistics_records
from marketphys.synth.medium import build_medium
from marketphys.synth.options import generate_options
from marketphys.synth.path import simulate_path
from marketphys.synth.truth import GroundTruth

KINDS = ("futures_mbo", "options_mbo", "definition", "statistics", "truth_json", "truth_parquet")


def file_names(date_compact: str) -> dict[str, str]:
    stem = f"glbx-mdp3-{date_compact}"
    return {"futures_mbo": f"{stem}.mbo.dbn.zst", "options_mbo": f"{stem}.opt.mbo.dbn.zst",
            "definition": f"{stem}.definition.dbn.zst", "statistics": f"{stem}.statistics.dbn.zst",
            "truth_json": f"{stem}.truth.json", "truth_parquet": f"{stem}.truth.parquet"}


@dataclass
class SynthResult:
    files: dict[str, Path]
    records: dict[str, int]
    truth: GroundTruth
    seconds: float
    counts: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)

    def summary(self) -> str:
        lines = [f"synthetic ES session: {self.truth.n_windows} windows, generated in {self.seconds:.1f} s"]
        for k in KINDS:
            p = self.files[k]
            n = self.records.get(k)
            lines.append(f"  {p.name:<44} {p.stat().st_size / 1e6:9.2f} MB" + (f"  {n:>11,} records" if n is not None else ""))
        return "\n".join(lines)


def generate_session(cfg: SynthConfig, out_dir: str | Path, progress: bool = True) -> SynthResult:
    """Generate and write one session; deterministic in ``cfg`` (same seed -> same bytes)."""
    t0 = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = {k: out / v for k, v in file_names(cfg.date_compact).items()}
    bar = tqdm(total=7, desc="synth", unit="stage", disable=not progress, leave=False)

    timings: dict[str, float] = {}
    clock = [time.perf_counter(), None]

    def stage(label):
        now = time.perf_counter()
        if clock[1] is not None:
            timings[clock[1]] = now - clock[0]
        clock[0], clock[1] = now, label
        bar.set_postfix_str(label)

    stage("medium + path")
    med = build_medium(cfg)
    path = simulate_path(cfg, med)
    ins = build_instruments(cfg, med)
    bar.update()
    stage("futures book")
    fut = generate_futures(cfg, med, path.sub_ticks, int(ins.instrument_id[0]))
    bar.update()
    stage("options book")
    forward = fut.book_mid_ticks * TICK
    opt = generate_options(cfg, med, ins, forward)
    bar.update()

    date, s0, s1 = cfg.date, cfg.start_ns, cfg.end_ns
    fut_sym = {ins.raw_symbol[0]: int(ins.instrument_id[0])}
    opt_sym = {ins.raw_symbol[i]: int(ins.instrument_id[i]) for i in ins.options}
    all_sym = {s: int(i) for s, i in zip(ins.raw_symbol, ins.instrument_id)}
    records = {}
    stage("write futures")
    records["futures_mbo"] = D.write_mbo(names["futures_mbo"], fut.events, fut_sym, s0, s1, date)
    fut.events = None  # written: let the memory go before the (larger) options pass
    bar.update()
    stage("write options")
    records["options_mbo"] = D.write_mbo(names["options_mbo"], opt.events, opt_sym, s0, s1, date)
    opt.events = None
    bar.update()
    stage("definitions + statistics")
    before = s0 - 3600 * 10**9  # published before the open, like CME's overnight definitions/OI
    records["definition"] = D.write_records(names["definition"], "definition", definition_records(ins, before), all_sym,
                                            before, s1, date)
    records["statistics"] = D.write_records(names["statistics"], "statistics", statistics_records(ins, before), all_sym,
                                            before, s1, date)
    bar.update()
    stage("ground truth")
    W = cfg.n_windows
    truth = GroundTruth(
        theta={n: float(v) for n, v in zip(PARAM_NAMES, cfg.theta)}, config=cfg.to_dict(),
        window_start_ns=s0 + np.arange(W, dtype=np.int64) * 500_000_000, latent_mid=path.mid_ticks[:W] * TICK,
        velocity=path.velocity[:W], book_mid=forward[:W], ofi=med.ofi, drift=med.drift,
        wall_strike=np.array([w.strike for w in med.walls], float), wall_strength=med.wall_strength,
        wall_phase=med.wall_phase, wall_schedule=[{"strike": w.strike, "peak": w.peak, "on": w.on, "rise": w.rise,
                                                   "hold": w.hold, "fall": w.fall} for w in med.walls],
        vacuum_level=np.array([v.level for v in med.vacuums], float), vacuum_amp=med.vacuum_amp,
        smiles={"params": {k: list(v) for k, v in SMILES.items()}, "rate": cfg.rate,
                "formula": "sigma = max(atm + skew*ln(K/F) + curv*ln(K/F)^2, 0.05); Black-76, F = futures book mid at window start"},
        guards=path.guards)
    truth.write(names["truth_json"], names["truth_parquet"])
    bar.update()
    bar.close()
    stage(None)
    return SynthResult(files=names, records=records, truth=truth, seconds=time.perf_counter() - t0,
                       counts={"futures": fut.counts, "options": opt.counts}, timings=timings)
