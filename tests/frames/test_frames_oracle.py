"""Both assembly paths (window by window, whole day) against frames derived here, straight from the tables.

The day and window paths share one derivation of every channel, so their equality alone cannot
catch a wrong derivation; this oracle recomputes each frame with plain pandas and ``np.interp``
(push = above − below, spread and queue imbalance from the BBO, options held as of the frame,
strikes placed by price, the latent-mid EMA) and must agree with both paths.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from fixtures_serving import build_fixture_lake
from marketphys.core.grid import Grid
from marketphys.frames.assemble import AssembleConfig, FrameAssembler, assemble_day
from marketphys.frames.sources import LakeSource

TS = "window_end_ts_ns"
S = 1_000_000_000
TICK, TICK_INT = 0.25, 250_000_000
NOT_VALUES = {TS, "rel_ticks", "side", "strike_price_int", "strike_points", "spot_ref_price_int", "book_valid", "tick_int",
              "bucket", "instrument_id", "price_int"}


def _values(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if c not in NOT_VALUES and not c.endswith("_price_int")
            and pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])]


def oracle(day: dict[str, pd.DataFrame], grid: Grid, tick: float) -> list[dict]:
    """Each frame as {ts, spot, scalars, profiles, strike_rel, strikes}, one window at a time, in plain terms."""
    out, ema, last = [], None, None
    for _, r in day["snap"].sort_values(TS).iterrows():
        ts, spot = int(r[TS]), float(r["mid_price"])
        if not r.get("book_valid", True) or not (np.isfinite(spot) and spot > 0):
            continue
        sc: dict[str, float] = {}
        ph = day["physics"][day["physics"][TS] == ts] if "physics" in day else pd.DataFrame()
        if len(ph):
            sc.update({c: float(ph[c].iloc[0]) for c in _values(ph) if np.isfinite(ph[c].iloc[0])})
            if "above_score" in sc and "below_score" in sc:
                sc["push"] = sc["above_score"] - sc["below_score"]
            if "book_imbalance" in sc:
                sc["imbalance"] = sc["book_imbalance"]
        bid, ask = int(r["best_bid_price_int"]), int(r["best_ask_price_int"])
        sc["spread_ticks"] = (ask - bid) * 1e-9 / tick
        bq, aq = float(r["best_bid_qty"]), float(r["best_ask_qty"])
        if bq + aq > 0:
            sc["queue_imbalance"] = (bq - aq) / (bq + aq)
        held = {s: day[s][day[s][TS] == day[s][TS][day[s][TS] <= ts].max()].sort_values("rel_ticks")
                for s in ("gex", "gex_flow") if s in day and (day[s][TS] <= ts).any()}
        if held:
            sc["options_age_s"] = (ts - max(int(h[TS].iloc[0]) for h in held.values())) / 1e9
        ema = spot if ema is None or ts - last > 2 * S else ema + 0.8 * (spot - ema)
        last = ts
        sc["latent_offset"] = (ema - spot) / tick
        prof = {}
        for s in ("bucket_radar", "vacuum"):
            rows = day[s][day[s][TS] == ts].sort_values("rel_ticks") if s in day else pd.DataFrame()
            for c in (_values(rows) if len(rows) else []):
                if np.all(np.isfinite(rows[c])):
                    prof[c if c not in prof else f"{s}_{c}"] = np.interp(grid.x, rows["rel_ticks"], rows[c], left=0.0, right=0.0)
        wall = day["wall"][day["wall"][TS] == ts] if "wall" in day else pd.DataFrame()
        for code, name in (("A", "wall_depth_ask"), ("B", "wall_depth_bid")):
            if len(wall):
                w = wall[wall["side"] == code].sort_values("rel_ticks")
                prof[name] = np.interp(grid.x, w["rel_ticks"], np.log1p(np.maximum(w["depth_qty_rest"], 0.0)), 0.0, 0.0)
        rel, strikes = None, {}
        if held:
            ref = None
            for s, h in held.items():
                price = h["strike_price_int"].to_numpy() * 1e-9
                if ref is None:
                    ref = price
                at = {round(p, 6): v for p, v in zip(price, range(len(price)))}
                for c in _values(h):
                    if np.all(np.isfinite(h[c])):
                        strikes[c] = np.array([h[c].iloc[at[round(p, 6)]] if round(p, 6) in at else 0.0 for p in ref])
            rel = (ref - spot) / tick
        out.append({"ts": ts, "spot": spot, "scalars": sc, "profiles": prof, "strike_rel": rel, "strikes": strikes})
    return out


def assert_matches(frames, want):
    assert [f.ts_ns for f in frames] == [w["ts"] for w in want]
    for f, w in zip(frames, want):
        assert f.spot == w["spot"] and f.scalars.keys() == w["scalars"].keys(), f.ts_ns
        for k, v in w["scalars"].items():
            assert f.scalars[k] == pytest.approx(v, rel=1e-12, abs=1e-12), (f.ts_ns, k)
        assert f.profiles.keys() == w["profiles"].keys(), f.ts_ns
        for k, v in w["profiles"].items():
            np.testing.assert_allclose(f.profiles[k], v, rtol=1e-12, atol=1e-12, err_msg=f"{f.ts_ns} {k}")
        assert (f.strike_rel_ticks is None) == (w["strike_rel"] is None) and f.strikes.keys() == w["strikes"].keys()
        if w["strike_rel"] is not None:
            np.testing.assert_allclose(f.strike_rel_ticks, w["strike_rel"], rtol=1e-12, atol=1e-9)
        for k, v in w["strikes"].items():
            np.testing.assert_allclose(f.strikes[k], v, rtol=1e-12, atol=1e-12, err_msg=f"{f.ts_ns} {k}")


def window_by_window(tables: dict[str, pa.Table], cfg: AssembleConfig):
    """Cut whole-day tables into windows (as the lake merger does) and feed them to ``FrameAssembler``."""
    asm = FrameAssembler(cfg)
    ends = np.unique(np.concatenate([t.column(TS).to_numpy() for t in tables.values()]))
    frames = []
    for ts in ends:
        cut = {s: t.filter(pc.equal(t.column(TS), ts)) for s, t in tables.items()}
        f = asm.push(int(ts), {s: t for s, t in cut.items() if t.num_rows})
        frames += [f] if f is not None else []
    return frames, asm.issues


def test_lake_frames_match_the_oracle_on_both_paths(tmp_path):
    info = build_fixture_lake(tmp_path, seconds=8, parts=2, level_ticks=30)
    src = LakeSource(tmp_path, date=info["date"])
    from marketphys.frames.cursors import read_day_tables

    day = {s: t.to_pandas() for s, t in read_day_tables(src.lake, src.contracts, src.product, src.date).items()}
    want = oracle(day, src.assemble.grid, src.assemble.tick_size)
    assert len(want) == 16 and want[1]["strikes"] and want[0]["strike_rel"] is None
    assert_matches(list(src), want)
    assert_matches(src.day_frames(), want)


def hand_made_day() -> dict[str, pa.Table]:
    """Eight 0.5 s windows with the awkward cases: an invalid book, a NaN score, a NaN vacuum level, a
    missing physics row, gex every 1 s and gex_flow on a strike grid shifted by one strike, once absent."""
    rng = np.random.default_rng(3)
    ts = np.arange(1, 9) * S // 2
    mid = 5000.0 + 0.25 * np.array([0, 1, 1, 3, 2, 2, 5, 4])
    ref = np.round(mid / TICK).astype(np.int64) * TICK_INT
    snap = pa.table({TS: ts, "mid_price": mid, "book_valid": [True, True, False, True, True, True, True, True],
                     "best_bid_price_int": ref - TICK_INT, "best_ask_price_int": ref + TICK_INT * np.array([1, 1, 1, 2, 1, 1, 1, 3]),
                     "best_bid_qty": rng.integers(1, 50, 8), "best_ask_qty": rng.integers(1, 50, 8),
                     "tick_int": np.full(8, TICK_INT)})
    keep = np.array([0, 1, 2, 3, 4, 6, 7])                                   # no physics at the sixth window
    above = rng.uniform(0, 1, 8)
    above[4] = np.nan
    phys = pa.table({TS: ts[keep], "above_score": above[keep], "below_score": rng.uniform(0, 1, 7),
                     "ofi": rng.normal(size=7), "book_imbalance": rng.uniform(-1, 1, 7)})
    lv = np.arange(-12, 13, 3)
    vac_ts = np.repeat(ts, len(lv))
    vac = rng.uniform(0, 1, vac_ts.size)
    vac[3 * len(lv) + 2] = np.nan
    vacuum = pa.table({TS: vac_ts, "rel_ticks": np.tile(lv, 8)[::-1].copy(), "vacuum_score": vac,
                       "wall_erosion": rng.normal(size=vac_ts.size)})
    wall_ts = np.repeat(ts, 2 * len(lv))
    wall = pa.table({TS: wall_ts, "rel_ticks": np.tile(np.r_[lv, lv[::-1]], 8), "side": np.tile(["A"] * len(lv) + ["B"] * len(lv), 8),
                     "depth_qty_rest": rng.uniform(0, 90, wall_ts.size)})
    strikes = 5000 * 4 * TICK_INT + np.arange(-5, 6) * 20 * TICK_INT
    gts = np.repeat(ts[1::2], len(strikes))
    gex = pa.table({TS: gts, "strike_price_int": np.tile(strikes, 4), "rel_ticks": np.tile(np.arange(-5, 6) * 20, 4),
                    "gex_abs": rng.uniform(0, 1e9, gts.size), "gex": rng.normal(size=gts.size) * 1e8})
    fts = np.repeat(ts[[1, 5, 7]], len(strikes))                                # gex_flow absent at window 4
    flow = pa.table({TS: fts, "strike_price_int": np.tile(strikes + 20 * TICK_INT, 3),
                     "rel_ticks": np.tile(np.arange(-4, 7) * 20, 3), "flow_abs_norm": rng.uniform(0, 1, fts.size)})
    return {"snap": snap, "physics": phys, "vacuum": vacuum, "wall": wall, "gex": gex, "gex_flow": flow}


def test_hand_made_day_matches_the_oracle_on_both_paths():
    tables = hand_made_day()
    cfg = AssembleConfig(grid=Grid(n=8, dx=2.0))
    want = oracle({s: t.to_pandas() for s, t in tables.items()}, cfg.grid, TICK)
    assert len(want) == 7 and "push" not in want[3]["scalars"] and "ofi" not in want[4]["scalars"]
    assert "vacuum_score" not in want[2]["profiles"] and want[0]["strike_rel"] is None
    day_issues: dict[str, int] = {}
    assert_matches(assemble_day(tables, cfg, day_issues), want)
    frames, issues = window_by_window(tables, cfg)
    assert_matches(frames, want)
    assert issues == day_issues == {"physics.above_score: non-finite": 1, "vacuum.vacuum_score: non-finite": 1}
