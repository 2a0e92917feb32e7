"""Window surfaces -> MarketFrame: holding options, no lookahead, grid resampling; and live mode end to end."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fixtures_serving import build_fixture_lake
from marketphys.core.engine import Engine, EngineConfig
from marketphys.core.frame import FrameError
from marketphys.core.grid import Grid
from marketphys.core.producers import StrikeWallProducer, v1_producers
from marketphys.frames.assemble import AssembleConfig, FrameAssembler, assemble_frame, to_grid

S = 1_000_000_000
TICK_INT = 250_000_000


def snap(ts, mid, valid=True):
    ref = int(round(mid / 0.25)) * TICK_INT
    return pa.table({"window_end_ts_ns": pa.array([ts], pa.int64()), "mid_price": [mid],
                     "spot_ref_price_int": pa.array([ref], pa.int64()), "book_valid": [valid],
                     "best_bid_price_int": pa.array([ref - TICK_INT], pa.int64()),
                     "best_ask_price_int": pa.array([ref + TICK_INT], pa.int64())})


def physics(ts, above=0.7, below=0.2, ofi=0.1):
    return pa.table({"window_end_ts_ns": pa.array([ts], pa.int64()), "mid_price": [0.0], "above_score": [above],
                     "below_score": [below], "ofi": [ofi], "book_imbalance": [0.3]})


def gex(ts, spot_price, scale=1.0):
    rel = np.arange(-240, 241, 20)
    anchor = int(round(spot_price / 5.0)) * 20 * TICK_INT
    return pa.table({"window_end_ts_ns": pa.array([ts] * 25, pa.int64()),
                     "strike_price_int": pa.array(anchor + rel * TICK_INT, pa.int64()),
                     "rel_ticks": pa.array(rel, pa.int32()), "gex_abs_norm": scale * np.linspace(0, 1, 25)})


def test_options_are_held_until_their_next_window_and_follow_spot():
    asm = FrameAssembler()
    f1 = asm.push(1 * S // 2, {"snap": snap(S // 2, 5000.0), "physics": physics(S // 2)})
    assert f1.strikes == {} and f1.strike_rel_ticks is None
    f2 = asm.push(S, {"snap": snap(S, 5000.0), "physics": physics(S), "gex": gex(S, 5000.0)})
    np.testing.assert_array_equal(f2.strike_rel_ticks, np.arange(-240, 241, 20))
    assert f2.scalars["options_age_s"] == 0.0
    f3 = asm.push(3 * S // 2, {"snap": snap(3 * S // 2, 5001.0)})  # spot up 4 ticks, gex held
    np.testing.assert_array_equal(f3.strike_rel_ticks, np.arange(-240, 241, 20) - 4)
    np.testing.assert_array_equal(f3.strikes["gex_abs_norm"], f2.strikes["gex_abs_norm"])
    assert f3.scalars["options_age_s"] == 0.5
    f4 = asm.push(2 * S, {"snap": snap(2 * S, 5001.0), "gex": gex(2 * S, 5001.0, scale=2.0)})
    assert f4.strikes["gex_abs_norm"][-1] == 2.0


def test_scalars_from_physics_and_snap():
    f = assemble_frame({"snap": snap(S, 5000.0), "physics": physics(S, above=0.7, below=0.2, ofi=0.1)}, {})
    assert f.scalars["push"] == pytest.approx(0.5)
    assert f.scalars["ofi"] == 0.1 and f.scalars["imbalance"] == 0.3 and f.scalars["spread_ticks"] == 2.0
    assert f.ts_ns == S and f.spot == 5000.0


def test_held_options_from_the_future_are_refused():
    with pytest.raises(FrameError, match="lookahead"):
        assemble_frame({"snap": snap(S, 5000.0)}, {"gex": gex(2 * S, 5000.0)})


def test_invalid_book_gives_no_frame_and_is_counted():
    asm = FrameAssembler()
    assert asm.push(S, {"snap": snap(S, 5000.0, valid=False)}) is None
    assert asm.skipped == 1 and asm.frames == 0


def test_windows_must_increase():
    asm = FrameAssembler()
    asm.push(S, {"snap": snap(S, 5000.0)})
    with pytest.raises(FrameError, match="increasing"):
        asm.push(S, {"snap": snap(S, 5000.0)})


def test_non_finite_column_is_left_out_and_reported():
    t = gex(S, 5000.0).append_column("gex", pa.array([np.nan] + [1.0] * 24))
    asm = FrameAssembler()
    f = asm.push(S, {"snap": snap(S, 5000.0), "gex": t})
    assert "gex" not in f.strikes and "gex_abs_norm" in f.strikes
    assert asm.issues == {"gex.gex: non-finite": 1}


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 60), st.integers(-50, 50), st.data())
def test_to_grid_is_exact_on_cells_and_zero_outside(n_levels, start, data):
    grid = Grid(n=32, dx=2.0)
    rel = start * 2 + 2 * np.arange(n_levels)  # levels on cell centres
    vals = np.array(data.draw(st.lists(st.floats(-1e6, 1e6), min_size=n_levels, max_size=n_levels)))
    out = to_grid(rel, vals, grid)
    inside = (grid.x >= rel.min()) & (grid.x <= rel.max())
    cells = np.searchsorted(grid.x, rel[(rel >= grid.x[0]) & (rel <= grid.x[-1])])
    np.testing.assert_allclose(out[cells], vals[(rel >= grid.x[0]) & (rel <= grid.x[-1])])
    assert np.all(out[~inside] == 0.0)


def test_to_grid_interpolates_one_tick_levels():
    grid = Grid(n=2, dx=2.0)  # cells at -4, -2, 0, 2, 4 ticks
    out = to_grid(np.array([-3, -2, -1, 0, 1]), np.array([3.0, 2.0, 1.0, 0.0, -1.0]), grid)
    np.testing.assert_allclose(out, [0.0, 2.0, 0.0, 0.0, 0.0])


def test_perturbing_future_windows_leaves_earlier_frames_unchanged():
    def run(future_scale):
        asm = FrameAssembler()
        frames = []
        for k in range(1, 9):
            ts = k * S // 2
            tables = {"snap": snap(ts, 5000.0 + 0.25 * k), "physics": physics(ts, ofi=0.1 * k * (future_scale if k > 4 else 1))}
            if k % 2 == 0:
                tables["gex"] = gex(ts, 5000.0, scale=future_scale if k > 4 else 1.0)
            frames.append(asm.push(ts, tables))
        return frames

    a, b = run(1.0), run(-3.0)
    for fa, fb in zip(a[:4], b[:4]):
        assert fa.scalars == fb.scalars
        np.testing.assert_array_equal(fa.strikes["gex_abs_norm"] if fa.strikes else [], fb.strikes["gex_abs_norm"] if fb.strikes else [])
    assert a[5].scalars["ofi"] != b[5].scalars["ofi"]


def test_live_mode_feeds_a_running_engine_from_the_server(tmp_path):
    from marketphys.serving.client import LiveClient
    from marketphys.serving.server import ServeConfig, ServerThread

    build_fixture_lake(tmp_path, "2024-03-15", seconds=5)
    with ServerThread(ServeConfig(tmp_path, port=0, speed=None)) as s:
        live = LiveClient(s.url, surfaces="snap,wall,vacuum,physics,gex,bucket_radar,gex_flow")
        frames = list(live.frames())
        engine = Engine([*v1_producers(), StrikeWallProducer("flow_abs_norm")], EngineConfig(mode="live"))
        feed = live.start_feed(engine).wait(20)
    assert len(frames) == 10 and len(feed.forecasts) == 10 and engine.n_frames == 10
    assert [fc.origin_ts_ns for fc in feed.forecasts] == [f.ts_ns for f in frames]
    assert {"flow_abs_norm", "gex_abs", "d1_gex_abs"} <= set(frames[1].strikes) and "strike_points" not in frames[1].strikes
    assert any(k.startswith("strike_walls@") for k in engine.walls.walls)  # gex walls reached the physics
    assert engine.ledger is not None and engine.rejected == {}
    # the same frames replayed offline give the same forecasts: live = replay
    offline = Engine([*v1_producers(), StrikeWallProducer("flow_abs_norm")], EngineConfig(mode="replay")).run(frames)
    np.testing.assert_array_equal([fc.x_hat for fc in offline], [fc.x_hat for fc in feed.forecasts])
