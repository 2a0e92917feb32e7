"""The learner's IRLS/Huber step against hand computation, for the Python and the shader learner.

The only other learner tests compare the two learners with each other, so a bug planted in
both (the Huber weight dropped, say) passes them. Here the expected step is written out from
the seed design (section 9): w_h = α_h·min(1, δ/|r_h|), A = λ·A0 + JᵀWJ, g = JᵀWr,
(A + μ·diag(A) + εI)·Δ = g, θ1 = clip(θ0 + Δ).
"""

from __future__ import annotations

import numpy as np
import pytest

from fixtures_kernels import producers, synthetic_frames
from marketphys.core.engine import Engine, EngineConfig
from marketphys.core.grid import Grid
from marketphys.core.learner import GaussNewtonLearner
from marketphys.core.theta import ThetaBounds

THETA0 = np.array([1.0, 1.0, 1.0, 1.0, 0.0])


def test_one_outlier_step_by_hand():
    """J has one live column, so every quantity is a sum one can do on paper.

    r = (1, 2, 0, 40), δ = 4: weights (1, 1, 1, 4/40) -> Σw = 3.1, g0 = 1 + 2 + 0 + 0.1·40 = 7.
    A00 = λ·1 + Σw = 0.999 + 3.1 = 4.099; M00 = A00·(1 + μ) + ε = 4.5089 + 1e-6; Δ0 = 7 / M00.
    Without the Huber weight: Σw = 4, g0 = 43, Δ0 = 43 / (4.999·1.1) — a step five times longer.
    """
    jac = np.zeros((4, 5))
    jac[:, 0] = 1.0
    lrn = GaussNewtonLearner(THETA0, huber_delta=4.0, forgetting=0.999, damping=0.1, ridge=1e-6, prior_strength=1.0)
    loss = lrn.learn_one(np.zeros(4), jac, THETA0.copy(), np.array([1.0, 2.0, 0.0, 40.0]))
    # loss: ½·1 + ½·4 + 0 + δ(|r| − δ/2) = 0.5 + 2 + 4·38 = 154.5
    assert loss == pytest.approx(154.5, abs=1e-12)
    step0 = 7.0 / (4.099 * 1.1 + 1e-6)
    assert step0 == pytest.approx(1.552485, abs=1e-6)  # the paper figure
    assert lrn.theta[0] == pytest.approx(1.0 + step0, abs=1e-12)
    np.testing.assert_array_equal(lrn.theta[1:], THETA0[1:])  # no information about the other parameters
    # the information matrix: only A00 moved, by λ and the weighted curvature
    assert lrn.A[0, 0] == pytest.approx(4.099, abs=1e-12)
    assert lrn.A[1, 1] == pytest.approx(0.999, abs=1e-12) and lrn.A[0, 1] == 0.0


def test_inlier_only_step_is_plain_least_squares():
    """All residuals inside δ: the weights are α (here 2, 1, 1, 1), the Huber loss is ½r²."""
    jac = np.zeros((4, 5))
    jac[:, 1] = [1.0, 2.0, 0.0, 1.0]
    lrn = GaussNewtonLearner(THETA0, alpha=[2.0, 1.0, 1.0, 1.0], huber_delta=4.0, damping=0.0, ridge=0.0,
                             forgetting=1.0, prior_strength=1.0)
    loss = lrn.learn_one(np.zeros(4), jac, THETA0.copy(), np.array([1.0, -1.0, 3.0, 2.0]))
    assert loss == pytest.approx(2 * 0.5 + 0.5 + 4.5 + 2.0)
    # A11 = 1 + 2·1 + 4 + 1 = 8; g1 = 2·1 + 2·(−1) + 0 + 2 = 2; Δ1 = 0.25
    assert lrn.theta[1] == pytest.approx(1.25, abs=1e-12)


def test_correction_for_theta_moved_since_forecast():
    """x̂ is corrected first-order for θ having moved: pred = x̂ + J(θ − θ_forecast)."""
    jac = np.zeros((4, 5))
    jac[:, 0] = 1.0
    lrn = GaussNewtonLearner(THETA0, damping=0.0, ridge=0.0, forgetting=1.0)
    then = THETA0.copy()
    then[0] = 0.5                     # θ0 has since moved by +0.5: the prediction rises by 0.5
    loss = lrn.learn_one(np.zeros(4), jac, then, np.full(4, 1.5))
    assert loss == pytest.approx(4 * 0.5 * 1.0)      # residuals are 1.5 − 0.5 = 1, not 1.5
    assert lrn.theta[0] == pytest.approx(1.0 + 4.0 / 5.0)  # A00 = 1 + 4, g0 = 4


def _reference_first_step(fc, actual, theta_now, delta=4.0, lam=0.999, mu=0.1, eps=1e-6, prior=1.0,
                          bounds=ThetaBounds()):
    """The first IRLS step from a fresh learner, written out independently of marketphys.core.learner."""
    r = actual - (fc.x_hat + fc.jac @ (theta_now - fc.theta))
    w = np.array([1.0 if abs(x) <= delta else delta / abs(x) for x in r])
    A = lam * prior * np.eye(5) + fc.jac.T @ (w[:, None] * fc.jac)
    g = fc.jac.T @ (w * r)
    step = np.linalg.solve(A + mu * np.diag(np.diag(A)) + eps * np.eye(5), g)
    return np.clip(theta_now + step, bounds.lo_array, bounds.hi_array), w


GRID = Grid(n=40, dx=2.0)


@pytest.fixture(scope="module")
def outlier_session():
    """Eight frames; frame 4 (the h=4 target of origin 0, the first origin to complete) jumps 30 ticks."""
    frames = synthetic_frames(8, GRID, seed=3)
    frames[4] = type(frames[4])(**{**frames[4].__dict__, "spot": frames[4].spot + 30 * 0.25})
    eng = Engine(producers(), EngineConfig(grid=GRID))
    fcs = eng.run(frames)
    actual = np.array([(frames[k].spot - frames[0].spot) / 0.25 for k in range(1, 5)])
    want, w = _reference_first_step(fcs[0], actual, fcs[0].theta)
    return frames, fcs, want, w


def test_python_learner_first_step_in_the_engine(outlier_session):
    frames, fcs, want, w = outlier_session
    assert w[3] < 0.5 and (w[:3] == 1.0).all()           # the outlier really is outside δ
    np.testing.assert_allclose(fcs[4].theta, want, rtol=0, atol=1e-10)
    np.testing.assert_array_equal(fcs[3].theta, fcs[0].theta)  # nothing learned before origin 0 completed


def test_shader_learner_first_step_msl_cpu(outlier_session):
    from marketphys.kernels import ReplayBlock, get_backend

    frames, fcs, want, w = outlier_session
    try:
        msl = get_backend("msl-cpu")
    except Exception as err:  # pragma: no cover - platform
        pytest.skip(f"msl-cpu backend unavailable (needs a C++ compiler): {err}")
    block = ReplayBlock.from_frames(frames, producers(), EngineConfig(grid=GRID))
    res = msl.calibrate(block, fcs[0].theta, trace=True)
    unweighted, _ = _reference_first_step(fcs[0], np.array([(f.spot - frames[0].spot) / 0.25 for f in frames[1:5]]),
                                          fcs[0].theta, delta=np.inf)
    assert np.abs(unweighted - want).max() > 0.05       # the Huber weight matters far beyond float32 noise
    np.testing.assert_allclose(res.trace_theta[0][4], want, rtol=0, atol=2e-4)


# -- the rest of the learner's contract, by hand ------------------------------------------------------

def _col0_jac():
    jac = np.zeros((4, 5))
    jac[:, 0] = 1.0
    return jac


def test_huber_weight_below_one_delta():
    from marketphys.core.learner import huber_loss, huber_weight

    assert huber_weight(np.array([0.5, 0.2, -2.0]), 0.25).tolist() == [0.5, 1.0, 0.125]
    assert huber_loss(np.array([0.5, -0.1]), 0.25).tolist() == pytest.approx([0.25 * (0.5 - 0.125), 0.005])


def test_mask_excludes_a_finite_horizon():
    """Horizon 3 resolved (finite) but masked out: it must not count in the loss nor in the step."""
    lrn = GaussNewtonLearner(THETA0, damping=0.0, ridge=0.0, forgetting=1.0)
    loss = lrn.learn_one(np.zeros(4), _col0_jac(), THETA0.copy(), np.array([1.0, 1.0, 30.0, 1.0]),
                         mask=np.array([True, True, False, True]))
    assert loss == pytest.approx(1.5) and lrn.last_loss == loss
    assert lrn.theta[0] == pytest.approx(1.0 + 3.0 / 4.0)        # A00 = 1 + 3, g0 = 3


def test_nothing_resolved_returns_nan_and_changes_nothing():
    lrn = GaussNewtonLearner(THETA0)
    loss = lrn.learn_one(np.zeros(4), _col0_jac(), THETA0.copy(), np.full(4, np.nan))
    assert np.isnan(loss) and lrn.n_updates == 0 and np.array_equal(lrn.theta, THETA0)
    assert np.isnan(lrn.learn_one(np.zeros(4), _col0_jac(), THETA0.copy(), np.ones(4), mask=np.zeros(4, bool)))


def test_learn_false_reports_the_loss_and_keeps_theta():
    lrn = GaussNewtonLearner(THETA0, learn=False)
    assert lrn.learn_one(np.zeros(4), _col0_jac(), THETA0.copy(), np.full(4, 2.0)) == pytest.approx(8.0)
    assert np.array_equal(lrn.theta, THETA0) and lrn.n_updates == 0 and np.array_equal(lrn.A, np.eye(5))


def test_singular_and_non_finite_systems_take_no_step():
    import warnings

    lrn = GaussNewtonLearner(THETA0, prior_strength=0.0, ridge=0.0, damping=0.0)
    lrn.learn_one(np.zeros(4), np.zeros((4, 5)), THETA0.copy(), np.ones(4))      # M = 0: singular
    assert np.array_equal(lrn.theta, THETA0) and lrn.n_updates == 1
    lrn = GaussNewtonLearner(THETA0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lrn.learn_one(np.zeros(4), np.full((4, 5), 1e200), THETA0.copy(), np.ones(4))   # overflow: NaN step
    assert np.array_equal(lrn.theta, THETA0) and lrn.n_updates == 1


def test_bound_hits_count_each_projection():
    from marketphys.core.theta import ThetaBounds

    b = ThetaBounds(lo=(0.0, 0.0, 0.0, 0.0, -1.0), hi=(1.2, 5.0, 5.0, 5.0, 1.0))
    lrn = GaussNewtonLearner(THETA0, bounds=b, damping=0.0, ridge=0.0, forgetting=1.0)
    for k in range(1, 3):
        lrn.learn_one(np.zeros(4), _col0_jac(), lrn.theta.copy(), np.full(4, 3.0))
        assert lrn.theta[0] == 1.2 and lrn.bound_hits.tolist() == [k, 0, 0, 0, 0] and lrn.n_updates == k
    sd = lrn.state_dict()
    assert sd == {"theta": {"wU": 1.2, "wC": 1.0, "wG": 1.0, "wO": 1.0, "b": 0.0}, "A": lrn.A.tolist(),
                  "n_updates": 2, "bound_hits": [2, 0, 0, 0, 0]}
    assert repr(lrn).startswith("GaussNewtonLearner(") and "n_updates=2" in repr(lrn)
    assert lrn.theta_named.values.tolist() == [1.2, 1.0, 1.0, 1.0, 0.0]


def test_defaults_and_initial_state():
    from marketphys.core.theta import Theta, ThetaBounds

    lrn = GaussNewtonLearner()
    assert (lrn.huber_delta, lrn.forgetting, lrn.damping, lrn.ridge, lrn.prior_strength, lrn.step_size, lrn.learn) == \
        (4.0, 0.999, 0.1, 1e-6, 1.0, 1.0, True)
    assert np.array_equal(lrn.theta, Theta().values) and np.array_equal(lrn.alpha, np.ones(4))
    assert np.array_equal(lrn.A, np.eye(5)) and lrn.bound_hits.dtype == np.int64 and not lrn.bound_hits.any()
    assert np.isnan(lrn.last_loss) and lrn.n_updates == 0 and lrn.cfg.horizons == 4
    assert lrn.bounds == ThetaBounds()
    assert np.array_equal(GaussNewtonLearner(Theta(THETA0.copy())).theta, THETA0)
    assert np.array_equal(GaussNewtonLearner(list(THETA0)).theta, THETA0)
    assert GaussNewtonLearner([99.0, 1.0, 1.0, 1.0, 0.0]).theta[0] == 50.0          # θ0 projected on the bounds
    assert np.array_equal(GaussNewtonLearner(prior_strength=2.5).A, 2.5 * np.eye(5))
    half = GaussNewtonLearner(THETA0, step_size=0.5, damping=0.0, ridge=0.0, forgetting=1.0)
    half.learn_one(np.zeros(4), _col0_jac(), THETA0.copy(), np.ones(4))
    assert half.theta[0] == pytest.approx(1.0 + 0.5 * 4.0 / 5.0)


@pytest.mark.parametrize("kw,msg", [
    ({"alpha": [1.0, 1.0, 1.0]}, "alpha must be 4 finite weights >= 0"),
    ({"alpha": [1.0, -1.0, 1.0, 1.0]}, "alpha must be 4 finite weights"),
    ({"alpha": [1.0, np.nan, 1.0, 1.0]}, "alpha must be 4 finite weights"),
    ({"forgetting": 0.0}, r"forgetting must be in \(0, 1\], got 0.0"),
    ({"forgetting": 1.5}, r"forgetting must be in \(0, 1\], got 1.5"),
    ({"huber_delta": -1.0}, "huber_delta must be finite and >= 0, got -1.0"),
    ({"damping": np.nan}, "damping must be finite and >= 0, got nan"),
    ({"ridge": -1e-9}, "ridge must be finite and >= 0"),
    ({"prior_strength": np.inf}, "prior_strength must be finite and >= 0, got inf"),
    ({"step_size": -0.5}, "step_size must be finite and >= 0, got -0.5"),
])
def test_bad_settings_are_named(kw, msg):
    with pytest.raises(ValueError, match=msg):
        GaussNewtonLearner(**kw)


def test_forgetting_one_is_allowed_and_zero_settings_too():
    lrn = GaussNewtonLearner(forgetting=1.0, huber_delta=0.0, damping=0.0, ridge=0.0, prior_strength=0.0, step_size=0.0,
                             alpha=[0.0, 0.0, 0.0, 0.0])
    assert lrn.forgetting == 1.0 and lrn.alpha.tolist() == [0.0] * 4


def test_predict_one_rolls_out_from_x0_with_sensitivities(outlier_session):
    from marketphys.core.integrator import IntegratorConfig, rollout

    frames, fcs, _, _ = outlier_session
    eng = Engine(producers(), EngineConfig(grid=GRID))
    eng.run(frames[:3])
    lrn = GaussNewtonLearner(THETA0)
    got = lrn.predict_one(eng.fields, 2.0)
    want = rollout(eng.fields, THETA0, 2.0, IntegratorConfig(), sensitivities=True, x0=0.0)
    assert got.jac is not None and np.array_equal(got.jac, want.jac) and np.array_equal(got.x, want.x)
    moved = lrn.predict_one(eng.fields, 2.0, x0=3.0)
    assert np.array_equal(moved.x, rollout(eng.fields, THETA0, 2.0, IntegratorConfig(), sensitivities=True, x0=3.0).x)
    assert not np.array_equal(moved.x, got.x)
