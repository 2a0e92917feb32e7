"""A causal lake: build from a stream and from the same stream cut at T; every column of every table
(bronze, silver, gold) must be identical for all windows up to T. Generic over the tables the lake holds,
so a new surface is covered without a new test."""

from __future__ import annotations

import pytest

from fixtures_causality import assert_same_up_to, cut_inputs, lake_tables
from marketphys.pipeline.build import build
from marketphys.synth.config import SynthConfig
from marketphys.synth.session import generate_session

DAYS = [("2024-05-09", 11), ("2024-05-10", 12)]
WINDOW = 500_000_000


@pytest.fixture(scope="module")
def two_days(tmp_path_factory):
    """Two synthetic days with options (so gold normalisation is exercised), built whole, once."""
    root = tmp_path_factory.mktemp("causal")
    files = []
    for date, seed in DAYS:
        generate_session(SynthConfig(minutes=1, seed=seed, date=date), root / "raw" / date, progress=False)
        files += sorted((root / "raw" / date).glob("*.dbn.zst"))
    build(files, root / "full", progress=False, tick_size=0.25)
    return root, files


def _window_ends(lake, date):
    t = lake_tables(lake)[("silver", "ES", "future_mbo.snap", date)]
    return t.column("window_end_ts_ns").to_pylist()


@pytest.mark.parametrize("day, where", [(0, "mid-window"), (1, "mid-window"), (1, "on a window end")])
def test_synthetic_days_cut_at_t(two_days, tmp_path, day, where):
    root, files = two_days
    ends = _window_ends(root / "full", DAYS[day][0])
    t = ends[len(ends) // 2] + (WINDOW // 3 if where == "mid-window" else 0)
    build(cut_inputs(files, tmp_path / "cut", t), tmp_path / "lake", progress=False, tick_size=0.25)
    compared = assert_same_up_to(root / "full", tmp_path / "lake", t)
    names = {k[2] for k in compared}
    # the options surfaces and the gold calibration were really compared, not only the futures ones
    assert {"future_mbo.snap", "future_mbo.wall", "future_option_mbo.gex_flow_surface_1s",
            "hud.physics_norm_calibration"} <= names


def test_real_es_conformance_file_cut_at_t(conformance_dir, tmp_path):
    glbx = conformance_dir / "glbx"
    files = [glbx / "orderbooks_mbo_2024-05-08T00-00-00_2024-05-08T00-00-02.dbn.zst",
             glbx / "orderbooks_definition.dbn.zst", glbx / "futures_definition.dbn.zst"]
    build(files, tmp_path / "full", progress=False, tick_size=0.25)
    ends = _window_ends(tmp_path / "full", "2024-05-08")
    assert len(ends) >= 3
    for k, t in enumerate((ends[1], ends[1] + 123_456_789, ends[-2] + 1)):
        build(cut_inputs(files, tmp_path / f"cut{k}", t), tmp_path / f"lake{k}", progress=False, tick_size=0.25)
        compared = assert_same_up_to(tmp_path / "full", tmp_path / f"lake{k}", t)
        assert ("silver", "ES", "future_mbo.snap", "2024-05-08") in compared


def test_a_planted_lookahead_is_caught(two_days, tmp_path, monkeypatch):
    """The test itself: normalising a day on its own values (the old same-day rule) must fail it."""
    import numpy as np
    import pyarrow.parquet as pq

    from marketphys.pipeline import gold, options_stage
    from marketphys.pipeline.lake import atomic_write_table, partition_dir
    from marketphys.pipeline.silver_options import GEX_FLOW_DATASET

    root, files = two_days
    real = options_stage.build_options_day

    def same_day_norms(mbo, defs, stats, lake, date, write, **kw):
        res = real(mbo, defs, stats, lake, date, write, **kw)
        parts = sorted(partition_dir(kw["staged_root"], GEX_FLOW_DATASET, "ES", date).glob("part-*.parquet"))
        day = [pq.read_table(p) for p in parts]
        bands = {m: gold.quantile_band(np.concatenate([t.column(gold.METRICS[m].column).to_numpy() for t in day]),
                                       gold.METRICS[m]) for m in ("flow_abs", "flow_reinforce", "pull_rest_intensity")}
        cal = gold.NormCalibration(0, date, date, bands, "self")
        for p, t in zip(parts, day):
            atomic_write_table(gold.apply_norms(t, cal), p)
        return res

    monkeypatch.setattr(options_stage, "build_options_day", same_day_norms)
    ends = _window_ends(root / "full", DAYS[0][0])
    t = ends[len(ends) // 2]
    build(files, tmp_path / "full", progress=False, tick_size=0.25)
    build(cut_inputs(files, tmp_path / "cut", t), tmp_path / "lake", progress=False, tick_size=0.25)
    with pytest.raises(AssertionError, match="gex_flow_surface_1s.*column flow_.*_norm"):
        assert_same_up_to(tmp_path / "full", tmp_path / "lake", t)


def test_lobster_day_cut_at_t(tmp_path):
    """A LOBSTER day cut after message k (its orderbook rows with it) builds the same lake up to T."""
    import numpy as np

    from fixtures_lobster import generate_day, write_pair
    from marketphys.pipeline import lobster

    msgs, rows = generate_day(seed=5, n_events=3000)
    full = write_pair(tmp_path / "full_in", msgs, rows)
    build(full, tmp_path / "full", progress=False)
    day = lobster.read_day(lobster.split_inputs(full)[0][0])
    ends = _window_ends_of(tmp_path / "full")
    t = ends[len(ends) // 2] + WINDOW // 4
    k = int(np.searchsorted(day.ts_ns, t, side="right"))
    build(write_pair(tmp_path / "cut_in", msgs[:k], rows[:k]), tmp_path / "lake", progress=False)
    compared = assert_same_up_to(tmp_path / "full", tmp_path / "lake", t)
    assert ("silver", "TEST", "future_mbo.snap", "2024-01-16") in compared


def _window_ends_of(lake):
    (t,) = [v for k, v in lake_tables(lake).items() if k[2] == "future_mbo.snap"]
    return t.column("window_end_ts_ns").to_pylist()
