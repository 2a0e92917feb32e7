"""The truth is learnable: the engine with the true θ and the true fields beats a random walk."""

from __future__ import annotations

import numpy as np

from fixtures_synth import synth_sample  # noqa: F401
from marketphys.core.engine import Engine, EngineConfig
from marketphys.core.theta import ThetaBounds
from marketphys.synth.config import TICK
from marketphys.synth.frames import forecast_errors, truth_frames, truth_producers


def test_true_theta_engine_beats_random_walk_at_every_horizon(synth_sample):
    t = synth_sample[0].truth
    eng = Engine(truth_producers(), EngineConfig(learn=False, mode="test", bounds=ThetaBounds()), theta0=t.theta_array)
    fcs = eng.run(truth_frames(t, spot="latent", stop=600))
    err = forecast_errors(t, fcs, spot="latent")
    mids = t.latent_mid
    rw = np.array([[(mids[w] - mids[w + h]) / TICK if w + h < t.n_windows else np.nan for h in range(1, 5)]
                   for w in range(600)])
    mse_engine = np.nanmean(err ** 2, axis=0)
    mse_rw = np.nanmean(rw ** 2, axis=0)
    assert (mse_engine < mse_rw).all(), (mse_engine, mse_rw)
    # with the true fields, θ and v0, what is left is the diffusion: 2·D·t ticks² at horizon t
    expected = 2 * t.config["diffusion"] * 0.5 * np.arange(1, 5)
    np.testing.assert_allclose(mse_engine, expected, rtol=0.35)


def test_frames_carry_the_true_fields(synth_sample):
    t = synth_sample[0].truth
    f = next(truth_frames(t, spot="book", start=10))
    fields = t.fields_at(10, spot=t.book_mid[10])
    np.testing.assert_array_equal(f.profiles["true_O"], fields.O)
    assert f.spot == t.book_mid[10] and f.scalars["velocity"] == t.velocity[10]
