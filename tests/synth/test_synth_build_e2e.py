"""End to end: `marketphys build` reads the synthetic DBN and rebuilds exactly the generator's book."""

from __future__ import annotations

import numpy as np

from marketphys.pipeline.lake import list_dates, read_partition
from marketphys.synth import SynthConfig, generate_session


def test_build_reconstructs_the_generators_book(tmp_path):
    from marketphys.pipeline.build import build

    cfg = SynthConfig(minutes=1, seed=21)
    res = generate_session(cfg, tmp_path / "dbn", progress=False)
    summary = build([tmp_path / "dbn"], tmp_path / "lake", progress=False)
    assert summary.days == [cfg.date]
    snap = read_partition(tmp_path / "lake", "silver.future_mbo.snap", "ES", cfg.date).to_pandas()
    snap = snap.sort_values("window_end_ts_ns")
    assert snap["book_valid"].all()
    t = res.truth
    w = (snap["window_end_ts_ns"].to_numpy() - cfg.start_ns) // 500_000_000
    inside = (w >= 1) & (w < t.n_windows)
    assert inside.sum() >= t.n_windows - 2
    # the pipeline's mid at each window end is the generator's book mid at the next window's start
    np.testing.assert_array_equal(snap["mid_price"].to_numpy()[inside], t.book_mid[w[inside]])
    assert (snap["best_bid_price_int"] < snap["best_ask_price_int"]).all()
    # the options stage sees the gamma walls: gex_abs peaks at a wall strike in (nearly) every window
    assert list_dates(tmp_path / "lake", "silver.future_option_mbo.gex_surface_1s", "ES") == [cfg.date], \
        "options surfaces missing from the build"
    gex = read_partition(tmp_path / "lake", "silver.future_option_mbo.gex_surface_1s", "ES", cfg.date).to_pandas()
    top = gex.loc[gex.groupby("window_end_ts_ns")["gex_abs"].idxmax(), "strike_points"]
    assert top.isin(set(t.wall_strike.tolist())).mean() >= 0.9
