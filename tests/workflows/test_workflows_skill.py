"""Acceptance: on a generated synthetic session the engine, replaying the lake with the default
lake producers and learning online, beats the random walk at every horizon (RMSE and a
significant Diebold-Mariano test), and what it learns points the right way at the truth."""

from __future__ import annotations

import numpy as np
import pytest

from marketphys.core.engine import EngineConfig
from marketphys.pipeline.build import build
from marketphys.frames.producers import FlowCurrentProducer
from marketphys.replay.session import Session
from marketphys.frames.sources import LakeSource
from marketphys.synth import SynthConfig, generate_session
from marketphys.synth.config import TICK

MINUTES = 30


@pytest.fixture(scope="module")
def replayed(tmp_path_factory):
    root = tmp_path_factory.mktemp("skill")
    res = generate_session(SynthConfig(minutes=MINUTES, seed=1), root / "dbn", progress=False)
    build([root / "dbn"], root / "lake", progress=False)
    # the latent start (EMA(mid) − mid, v0 = 0) is the ablation whose raw rollout wins by > 1 % at t+0.5 s;
    # with the seed's start (the default) the head keeps the engine from harm but the margin is smaller
    # (benchmarks/RESULTS.md, issue 13)
    s = Session.from_lake(root / "lake", config=EngineConfig(backend="auto", start="latent"))
    walls_seen = []   # (frame index, engine walls) at a few moments
    n = len(s.source)
    for k in (n // 3, 2 * n // 3):
        s.run(n=k - s.n_steps, progress=False)
        walls_seen.append((s.n_steps, s.walls.copy(), s.fields_frame()))
    s.run(progress=False)
    return res.truth, s, walls_seen, root / "lake"


@pytest.mark.slow
def test_engine_beats_random_walk_at_every_horizon(replayed):
    _, s, _, _ = replayed
    card = s.scorecard()
    rmse = card.metric("rmse")
    assert (rmse["engine"] < rmse["random_walk"]).all(), rmse
    dm = card.dm[card.dm["baseline"] == "random_walk"].set_index("horizon")
    assert (dm["p_value"] < 0.05).all() and (dm["stat"] < 0).all(), dm
    assert card.beats("random_walk").all()
    # a clear margin, not a rounding: at least 1% less RMSE at t+0.5 s
    assert rmse.loc[1, "engine"] < 0.99 * rmse.loc[1, "random_walk"], rmse


@pytest.mark.slow
def test_learned_weights_point_at_the_truth(replayed):
    truth, s, walls_seen, _ = replayed
    th = s.theta
    assert th["wC"] > 0.1, th        # drift follows the flow current
    assert th["wO"] > 0.1, th        # walls repel
    strikes = np.asarray(truth.wall_strike, dtype=np.float64)
    for i, walls, fields in walls_seen:
        w = min(i, truth.n_windows - 1)
        strong = walls[walls["strength"] > 0.5 * walls["strength"].max()]
        assert len(strong), walls
        # every strong engine wall sits on a generator wall strike
        dist = np.abs(strong["center"].to_numpy()[:, None] - strikes[None, :]).min(axis=1)
        assert (dist <= TICK).all(), (strong, strikes)
        # and the obstacle field peaks at a generator wall (walls come from open interest, so the
        # engine sees every wall strike, not yet how thick each one is now)
        peak = fields["price"].to_numpy()[int(np.argmax(fields["O"].to_numpy()))]
        assert np.abs(strikes - peak).min() <= 4 * TICK, (peak, strikes, truth.wall_strength[w])


@pytest.mark.slow
def test_flow_current_follows_the_true_order_flow(replayed):
    truth, _, _, lake = replayed
    p = FlowCurrentProducer("trade_imbalance")
    frames = list(LakeSource(lake))
    c = np.array([p.produce(f, None) for f in frames])
    w = np.clip(((np.array([f.ts_ns for f in frames]) - truth.window_start_ns[0]) // 500_000_000).astype(int),
                0, truth.n_windows - 1)
    assert np.corrcoef(c, truth.ofi[w])[0, 1] > 0.5
