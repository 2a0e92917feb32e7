"""End to end on synthetic sessions: synth DBN -> Dask fan-out build -> options silver + gold.

Two 3-minute days (different seeds and dates) are generated once, built on a local
Dask cluster, and checked against the generator's ground truth: gamma walls where the
open interest is, flow_reinforce signed by the walls' thickening / eroding schedule.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from marketphys.cli import main as cli_main
from marketphys.pipeline import gold
from marketphys.pipeline.build import Settings
from marketphys.pipeline.contracts import REGISTRY, load_all
from marketphys.pipeline.fanout import build_days, plan_days
from marketphys.pipeline.lake import list_dates, read_partition
from marketphys.pipeline.options_input import read_open_interest, read_option_definitions
from marketphys.pipeline.silver_options import DATASETS, GEX_DATASET, GEX_FLOW_DATASET
from marketphys.synth.config import SynthConfig
from marketphys.synth.session import file_names, generate_session
from marketphys.synth.truth import GroundTruth

DAYS = [("2024-05-09", 1), ("2024-05-10", 2)]
S = 1_000_000_000


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    raw = tmp_path_factory.mktemp("synth")
    for date, seed in DAYS:
        generate_session(SynthConfig(minutes=3, seed=seed, date=date), raw / date, progress=False)
    lake = tmp_path_factory.mktemp("lake")
    days, skipped = plan_days([raw])
    assert [d.date for d in days] == [d for d, _ in DAYS] and not skipped
    rate = SynthConfig().rate                       # the generator prices with Black-76 at this rate
    results = build_days(days, lake, n_workers=2, processes=False, progress=False,
                         settings=Settings(progress=False, option_rate=rate))
    return raw, lake, results


def _truth(raw, date):
    names = file_names(date.replace("-", ""))
    return GroundTruth.read(raw / date / names["truth_json"], raw / date / names["truth_parquet"])


def _day(lake, ds, date):
    return read_partition(lake, ds, "ES", date)


def test_fanout_built_every_day_and_dataset(built):
    raw, lake, results = built
    assert [r["date"] for r in results] == [d for d, _ in DAYS]
    for r in results:
        assert "silver.future_option_mbo" in r["stages"]
        for ds in DATASETS:
            assert r["rows"][ds] > 0, ds
    for ds in DATASETS:
        assert list_dates(lake, ds, "ES") == [d for d, _ in DAYS]


def test_seed_section_d_invariants_on_whole_days(built):
    _, lake, _ = built
    load_all()
    for date, _ in DAYS:
        for ds in DATASETS:
            t = _day(lake, ds, date)
            REGISTRY[ds].validate(t)          # schema + every invariant, over the whole day
        for ds in (GEX_DATASET, GEX_FLOW_DATASET):
            df = _day(lake, ds, date).to_pandas()
            w = df["window_end_ts_ns"].to_numpy().reshape(-1, 25)
            assert (w == w[:, :1]).all() and (np.diff(w[:, 0]) > 0).all()     # 25 rows, strictly increasing
            assert (np.diff(w[:, 0]) == S).all()                               # one row set per second
            assert (df["rel_ticks"] % 20 == 0).all() and (df["spot_ref_price_int"] > 0).all()
            norm = [c for c in df.columns if c.endswith("_norm")]
            assert not df[norm].isna().any().any()
        snap = _day(lake, "silver.future_mbo.snap", date).to_pandas()
        assert (snap.loc[snap.book_valid, "spot_ref_price_int"] > 0).all()


def test_gex_abs_peaks_at_the_open_interest_walls(built):
    raw, lake, _ = built
    for date, _ in DAYS:
        truth = _truth(raw, date)
        names = file_names(date.replace("-", ""))
        defs = read_option_definitions(raw / date / names["definition"])
        oi = read_open_interest(raw / date / names["statistics"])
        oi_by_strike = defs.merge(oi, on="instrument_id").groupby("strike_price_int")["open_interest"].sum() / 1e9
        g = _day(lake, GEX_DATASET, date).to_pandas()
        walls = set(truth.wall_strike.tolist())
        # the generator puts its gamma walls where open interest is heaviest...
        top_oi = set((oi_by_strike.sort_values().index[-len(walls):] / 1e9).tolist())
        assert top_oi == walls
        # ...and the surface finds them: every window's largest gex_abs strikes are exactly the walls
        for _, win in g.groupby("window_end_ts_ns"):
            assert set(win.nlargest(len(walls), "gex_abs")["strike_points"]) == walls
            assert win["gex_abs"].idxmax() in win.index[win["strike_points"].isin(walls)]
        # sign convention: away from the walls the generator gives the options out of the money
        # at the open 1.3x the open interest, so calls dominate above it (gex > 0), puts below (gex < 0)
        open_px = SynthConfig().open_price
        plain = g[~g["strike_points"].isin(walls) & ((g["strike_points"] - open_px).abs() >= 10)]
        bad = plain[np.sign(plain["gex"]) != np.sign(plain["strike_points"] - open_px)]
        assert len(plain) > 0 and bad.empty, bad[["window_end_ts_ns", "strike_points", "gex_call_abs", "gex_put_abs"]]


def test_flow_reinforce_follows_wall_thickening_and_erosion(built):
    raw, lake, _ = built
    for date, _ in DAYS:
        truth = _truth(raw, date)
        f = _day(lake, GEX_FLOW_DATASET, date).to_pandas()
        rows = []
        for k, strike in enumerate(truth.wall_strike):
            phase = pd.Series(truth.wall_phase[:, k], index=truth.window_start_ns)
            r = f[f["strike_points"] == strike].copy()
            a = phase.reindex(r["window_end_ts_ns"] - S).to_numpy()          # the two 0.5 s windows
            b = phase.reindex(r["window_end_ts_ns"] - S // 2).to_numpy()     # inside each 1 s window
            r["phase"] = np.where(a == b, a, 0)
            rows.append(r)
        r = pd.concat(rows)
        by = r.groupby("phase")[["flow_reinforce", "flow_reinforce_norm"]].mean()
        assert by.loc[1, "flow_reinforce"] > 0 > by.loc[-1, "flow_reinforce"], by
        assert by.loc[1, "flow_reinforce_norm"] > 0 > by.loc[-1, "flow_reinforce_norm"], by


def _expect_norms(f: pd.DataFrame, cal: gold.NormCalibration) -> None:
    b = cal.bands["flow_abs"]
    np.testing.assert_allclose(f["flow_abs_norm"], np.clip((f["flow_abs"] - b.q05) / (b.q95 - b.q05), 0, 1))
    rb = cal.bands["flow_reinforce"]
    scale = max(abs(rb.q05), abs(rb.q95))
    np.testing.assert_allclose(f["flow_reinforce_norm"], np.clip(f["flow_reinforce"] / scale, -1, 1))


def test_norms_come_from_earlier_days_only(built):
    """The causal rule (it replaces same-day fitting, which was lookahead): the first day is normalised
    with the bundled default, the second with bands from the first day alone, whatever order the
    fan-out finished the days in."""
    _, lake, _ = built
    (d1, _), (d2, _) = DAYS
    c1, c2 = gold.day_calibration(lake, "ES", d1), gold.day_calibration(lake, "ES", d2)
    metrics = gold.day_metrics()
    assert set(metrics) == {"gex_abs", "flow_abs", "flow_reinforce", "pull_rest_intensity"}
    default = {k: b for k, b in gold.default_calibration().bands.items() if k in metrics}
    assert c1.source == "default" and c1.bands == default
    assert (c2.source, c2.period_start, c2.period_end) == ("rolling:1d", d1, d1)
    assert c2.bands == gold.compute_calibration(lake, "ES", [d1], metrics=metrics).bands
    assert c2.bands["flow_abs"] != c1.bands["flow_abs"]
    for d in (d1, d2):
        REGISTRY[gold.CALIBRATION_DATASET].validate(read_partition(lake, gold.CALIBRATION_DATASET, "ES", d))
    for d, c in ((d1, c1), (d2, c2)):
        _expect_norms(_day(lake, GEX_FLOW_DATASET, d).to_pandas(), c)


def test_calibrate_norms_never_changes_a_served_value(built, capsys):
    _, lake, _ = built
    parts = sorted((lake / "silver").rglob("gex_flow_surface_1s/*/part-*.parquet"))
    before = {p: p.read_bytes() for p in parts}
    assert cli_main(["calibrate-norms", "--lake", str(lake)]) == 0
    out = capsys.readouterr().out
    assert out.count(", kept") == 2 and "rewrote 0 silver part(s)" in out
    assert {p: p.read_bytes() for p in parts} == before
    assert cli_main(["calibrate-norms", "--lake", str(lake), "--new-version", "--from", DAYS[1][0]]) == 0
    out = capsys.readouterr().out
    assert f"{DAYS[1][0]}: version 1, rolling:1d ({DAYS[0][0]}..{DAYS[0][0]}), new version" in out
    assert gold.day_calibration(lake, "ES", DAYS[1][0]).version == 1
    assert gold.day_calibration(lake, "ES", DAYS[0][0]).version == 0
    _expect_norms(_day(lake, GEX_FLOW_DATASET, DAYS[1][0]).to_pandas(), gold.day_calibration(lake, "ES", DAYS[1][0]))


def test_a_backfilled_earlier_day_changes_a_later_one_only_on_a_new_version(built, tmp_path, capsys):
    raw, _, _ = built
    from marketphys.pipeline.build import build
    lake = tmp_path / "lake"
    (d1, _), (d2, _) = DAYS
    build([raw / d2], lake, progress=False)                       # the later day first: default bands
    served = _day(lake, GEX_FLOW_DATASET, d2)
    build([raw / d1], lake, progress=False)                       # then the earlier one
    assert _day(lake, GEX_FLOW_DATASET, d2).equals(served)        # what was served stays
    assert gold.day_calibration(lake, "ES", d2).source == "default"
    assert cli_main(["calibrate-norms", "--lake", str(lake), "--product", "ES", "--no-apply", "--new-version"]) == 0
    assert _day(lake, GEX_FLOW_DATASET, d2).equals(served)
    assert cli_main(["calibrate-norms", "--lake", str(lake), "--new-version"]) == 0
    c2 = gold.day_calibration(lake, "ES", d2)
    assert (c2.version, c2.source, c2.period_end) == (1, "rolling:1d", d1)
    assert not _day(lake, GEX_FLOW_DATASET, d2).equals(served)
    _expect_norms(_day(lake, GEX_FLOW_DATASET, d2).to_pandas(), c2)


def test_calibrate_norms_bad_input(tmp_path, capsys):
    assert cli_main(["calibrate-norms", "--lake", str(tmp_path / "nope")]) == 2
    assert "no such directory" in capsys.readouterr().err
    assert cli_main(["calibrate-norms", "--lake", str(tmp_path), "--from", "2024-05-10", "--to", "2024-05-09"]) == 2
    assert cli_main(["calibrate-norms", "--lake", str(tmp_path)]) == 2
    assert "no dates" in capsys.readouterr().err


def test_a_failing_options_stage_leaves_the_lake_as_it_was(built, tmp_path, monkeypatch):
    raw, _, _ = built
    from marketphys.pipeline import options_stage
    from marketphys.pipeline.build import build_day

    lake = tmp_path / "lake"
    days, _ = plan_days([raw / DAYS[0][0]])
    real = options_stage.build_options_day

    def half_then_fail(*a, **kw):
        write = a[5]
        calls = {"n": 0}

        def counting(ds, prod, t):
            write(ds, prod, t)
            calls["n"] += 1
            if calls["n"] == 2:
                raise OSError("disk full (simulated)")
        return real(*a[:5], counting, **kw)

    monkeypatch.setattr(options_stage, "build_options_day", half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        build_day(days[0], lake, Settings(progress=False))
    assert not any(p.suffix == ".parquet" for p in lake.rglob("*"))      # nothing half-written is visible
    assert not list(lake.glob(".staging-*"))


def test_build_days_command_on_a_local_cluster(built, tmp_path, capsys):
    raw, _, _ = built
    lake = tmp_path / "lake"
    assert cli_main(["build-days", "--input", str(raw / DAYS[1][0]), "--lake", str(lake), "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert f"{DAYS[1][0]}: " in out and "silver.future_option_mbo" in out and "1 day(s) built" in out
    assert list_dates(lake, GEX_DATASET, "ES") == [DAYS[1][0]]
    assert cli_main(["build-days", "--input", str(raw), "--lake", str(lake), "--workers", "0"]) == 2
    assert "--workers must be >= 1" in capsys.readouterr().err


def test_single_wall_gex_abs_peaks_at_the_highest_open_interest_strike(tmp_path):
    from marketphys.pipeline.build import build_day

    cfg = SynthConfig(minutes=1, seed=5, date="2024-05-13", n_walls=1)
    generate_session(cfg, tmp_path / "raw", progress=False)
    days, _ = plan_days([tmp_path / "raw"])
    build_day(days[0], tmp_path / "lake", Settings(progress=False, option_rate=cfg.rate))
    names = file_names(cfg.date_compact)
    defs = read_option_definitions(tmp_path / "raw" / names["definition"])
    oi = read_open_interest(tmp_path / "raw" / names["statistics"])
    top = defs.merge(oi, on="instrument_id").groupby("strike_price_int")["open_interest"].sum().idxmax() / 1e9
    g = _day(tmp_path / "lake", GEX_DATASET, cfg.date).to_pandas()
    peaks = g.loc[g.groupby("window_end_ts_ns")["gex_abs"].idxmax(), "strike_points"]
    assert len(peaks) >= 55 and (peaks == top).all()


def test_a_product_without_futures_spot_is_skipped_not_fatal(built, tmp_path, monkeypatch):
    raw, lake, _ = built
    from marketphys.pipeline import options_stage

    date = DAYS[0][0]
    names = file_names(date.replace("-", ""))
    real = options_stage.read_option_definitions

    def with_nq(paths):
        d = real(paths)
        nq = d.iloc[[0]].assign(instrument_id=999_999, raw_symbol="NQM4 C18000", asset="NQ",
                                strike_price_int=18_000 * 10**9)
        return pd.concat([d, nq], ignore_index=True)

    monkeypatch.setattr(options_stage, "read_option_definitions", with_nq)
    written = []
    res = options_stage.build_options_day([raw / date / names["options_mbo"]], [raw / date / names["definition"]],
                                          [raw / date / names["statistics"]], lake, date,
                                          lambda ds, prod, t: written.append((ds, prod)),
                                          calibration=gold.NormCalibration(0, date, date, {}))
    assert list(res["products"]) == ["ES"] and {p for _, p in written} == {"ES"}
    assert any("options NQ" in s and "no futures spot" in s for s in res["skipped"])
    assert res["rows"][GEX_DATASET] > 0
