"""One LearnerConfig and one Theta.coerce.

The learner's settings are listed and checked once (``core.learner.LearnerConfig``); the engine's
config extends it, the kernel lanes and recorded files are built from it. Every field must refuse a
bad value with an error naming the field and the value: the cases run over the dataclass's own
fields, so a field added without validation fails here.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from marketphys.core.engine import Engine, EngineConfig
from marketphys.core.learner import LEARNER_FIELDS, GaussNewtonLearner, LearnerConfig, LearnerSettingError
from marketphys.core.theta import Theta
from marketphys.kernels.replay import LANE_SETTINGS, hyper_from_engine, make_hyper
from marketphys.replay.specs import engine_config_from_dict

NEVER_VALID = (math.nan, "x", None)
"""Values no learner setting accepts (None only where the field's default is not None)."""

OUT_OF_RANGE = {"huber_delta": -1.0, "forgetting": 1.5, "damping": -0.1, "ridge": -1e-9, "prior_strength": math.inf,
                "step_size": -0.5, "learn": 1, "alpha": (1.0, -1.0, 1.0, 1.0)}
"""A value of the right type but outside the field's range, one per field."""

NON_DEFAULT = {"huber_delta": 2.5, "forgetting": 0.99, "damping": 0.5, "ridge": 1e-4, "prior_strength": 3.0,
               "step_size": 0.7, "learn": False, "alpha": (2.0, 1.0, 1.0, 0.5)}


def _cases():
    for name in LEARNER_FIELDS:
        default = getattr(LearnerConfig(), name)
        for bad in NEVER_VALID:
            if bad is None and default is None:
                continue
            yield name, bad
        yield name, OUT_OF_RANGE.get(name, "no out-of-range case: add one with the field's check")


@pytest.mark.parametrize("name,bad", list(_cases()))
def test_a_bad_value_for_each_field_is_refused_naming_the_field_and_the_value(name, bad):
    with pytest.raises(LearnerSettingError) as err:
        LearnerConfig(**{name: bad})
    assert err.value.field == name and str(err.value).startswith(name + " ") and repr(bad) in str(err.value)
    with pytest.raises(ValueError, match=rf"^{name} "):          # the engine's config checks through the same code
        EngineConfig(**{name: bad})


def test_the_tables_cover_every_field():
    assert set(OUT_OF_RANGE) == set(NON_DEFAULT) == set(LEARNER_FIELDS)
    assert {f.name for f in dataclasses.fields(EngineConfig)} >= set(LEARNER_FIELDS)


@pytest.mark.parametrize("name", LANE_SETTINGS)
def test_kernel_lanes_are_checked_as_learner_configs_naming_lane_and_setting(name):
    bad = OUT_OF_RANGE[name]
    good = getattr(LearnerConfig(), name)
    with pytest.raises(ValueError, match=rf"hyper-parameter {name} of lane 2 .*got {bad!r}"):
        make_hyper(3, 4, **{name: [good, good, bad]})
    with pytest.raises(TypeError, match="unknown settings"):
        make_hyper(1, 4, prior=1.0)


def test_settings_travel_whole_engine_learner_kernel_lanes_and_records():
    cfg = EngineConfig(**NON_DEFAULT)
    assert cfg.learner == LearnerConfig(**NON_DEFAULT)
    eng = Engine(config=cfg)
    lr = eng.learner
    assert lr.settings == cfg.learner and lr.A[0, 0] == 3.0 and lr.alpha.tolist() == [2.0, 1.0, 1.0, 0.5]
    assert (lr.huber_delta, lr.forgetting, lr.damping, lr.ridge, lr.step_size, lr.learn) == (2.5, 0.99, 0.5, 1e-4, 0.7, False)
    hyper = hyper_from_engine(cfg, 2)[1]
    for name in LANE_SETTINGS:
        assert hyper[name] == np.asarray(NON_DEFAULT[name], hyper.dtype[name]), name
    assert hyper["alpha"][:4].tolist() == [2.0, 1.0, 1.0, 0.5]
    back = engine_config_from_dict(cfg.to_dict())
    assert back.learner == cfg.learner and back == cfg
    old = {k: v for k, v in cfg.to_dict().items() if k not in ("ridge", "step_size")}   # a record from before
    assert engine_config_from_dict(old).learner == dataclasses.replace(cfg.learner, ridge=1e-6, step_size=1.0)
    assert dataclasses.replace(cfg, learn=True).learner == dataclasses.replace(cfg.learner, learn=True)
    assert GaussNewtonLearner(settings=cfg, damping=0.0).settings == dataclasses.replace(cfg.learner, damping=0.0)


def test_theta_coerce():
    assert np.array_equal(Theta.coerce(None).values, Theta().values)
    t = Theta([2.0, 1.0, 1.0, 1.0, 0.5])
    assert Theta.coerce(t) is t
    got = Theta.coerce([2, 1, 1, 1, 0.5])
    assert isinstance(got, Theta) and got.values.dtype == np.float64 and np.array_equal(got.values, t.values)
    with pytest.raises(ValueError, match=r"Theta needs 5 values .* got shape \(4,\)"):
        Theta.coerce([1.0, 1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="finite"):
        Theta.coerce([1.0, np.nan, 1.0, 1.0, 0.0])
    assert Engine(theta0=[2, 1, 1, 1, 0.5]).theta0.values.tolist() == t.values.tolist()
