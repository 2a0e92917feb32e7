"""A θ file carries the engine's whole learning state: resuming from it equals never having stopped."""

from __future__ import annotations

import json

import numpy as np
import pytest

from marketphys.replay.export import export_theta, load_theta
from marketphys.frames.producers import DepthVacuumProducer, FlowCurrentProducer
from marketphys.replay.session import Session
from marketphys.synth.engine_world import WorldConfig, make_world


def _world():
    w = make_world(WorldConfig(n_frames=360, seed=5))
    # add producers with remembered state (an EMA level, a per-cell depth level) to the world's own
    return w.frames, [*w.producers, FlowCurrentProducer("push", gain=0.5, name="flow_push"),
                      DepthVacuumProducer(channel="u", gain=0.5, name="vac")]


def _trace(session):
    out = []
    session.watch(type("W", (), {"on_step": lambda self, s, fc: out.append(fc), "on_reset": lambda self, s: None})())
    return out


@pytest.mark.parametrize("cut", [150, 211])
def test_resumed_run_equals_the_uninterrupted_one(tmp_path, cut):
    frames, prods = _world()
    full = Session(frames, producers=prods, baselines=[])
    got_full = _trace(full)
    full.run(progress=False)

    frames, prods = _world()
    first = Session(frames[:cut], producers=prods, baselines=[])
    first.run(progress=False)
    path = export_theta(tmp_path / "theta.json", first)
    tf = load_theta(path)
    assert {"learner", "ledger", "head", "walls", "producers"} <= set(tf.state)
    assert np.asarray(tf.state["learner"]["A"]).shape == (5, 5) and len(tf.state["head"]["D"]) == 4

    _, prods2 = _world()
    resumed = Session(frames[cut:], producers=prods2, baselines=[], theta=path)
    got = _trace(resumed)
    resumed.run(progress=False)
    assert len(got) == len(frames) - cut
    for a, b in zip(got_full[cut:], got):
        assert np.array_equal(a.x_hat, b.x_hat)
        assert np.array_equal(a.theta, b.theta)
        assert np.array_equal(a.mean, b.mean) and np.array_equal(a.median, b.median)
        for q in a.bands:
            assert np.array_equal(a.bands[q], b.bands[q])
    assert np.array_equal(full.engine.learner.A, resumed.engine.learner.A)
    assert np.array_equal(full.engine.head.D, resumed.engine.head.D)


def test_a_fresh_start_from_theta_alone_differs(tmp_path):
    """The state matters: θ without the learner state does not continue the same run (the test above can fail)."""
    frames, prods = _world()
    first = Session(frames[:150], producers=prods, baselines=[])
    first.run(progress=False)
    path = export_theta(tmp_path / "theta.json", first)
    doc = json.loads(path.read_text())
    _, p2 = _world()
    bare = Session(frames[150:], producers=p2, baselines=[], theta0=load_theta(path).theta, config=first.config)
    bare.run(progress=False)
    _, p3 = _world()
    res = Session(frames[150:], producers=p3, baselines=[], theta=path)
    res.run(progress=False)
    assert "state" in doc
    assert not np.array_equal(bare.engine.learner.A, res.engine.learner.A)
