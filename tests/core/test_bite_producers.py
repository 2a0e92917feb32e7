"""The producer contract by hand: outputs, broadcasting, named errors, the registry, the built-in producers.

Expected values are the producers' formulas (docs/architecture.md#producers) applied by hand to small frames.
"""

from __future__ import annotations

import numpy as np
import pytest

from marketphys.core.frame import MarketFrame
from marketphys.core.grid import Grid
from marketphys.core import producers as P
from marketphys.core.producers import (ConstantDiffusion, ConstantViscosity, FunctionProducer, ProducerError,
                                       ProfileProducer, PushProducer, SoftWallProducer, StrikeWallProducer,
                                       check_field_output, check_wall_output, class_key, producer,
                                       register_producer, registered_class, registered_function, v1_producers)

GRID = Grid(n=3, dx=1.0)


def frame(ts=7, spot=100.0, tick=0.25, **kw):
    return MarketFrame(ts_ns=ts, spot=spot, tick_size=tick, **kw)


def test_targets():
    assert P.FIELD_TARGETS == ("U", "C", "G", "O", "D") and P.TARGETS == ("U", "C", "G", "O", "D", "walls")


def test_config_holds_the_public_scalar_settings_only():
    class Mine(P.Producer):
        target = "C"

        def __init__(self):
            self.gain, self.n, self.label, self.on, self.name = 2.5, 3, "x", True, "mine"
            self._state, self.arr, self.maybe = 1.0, np.ones(2), None

    m = Mine()
    assert m.config() == {"gain": 2.5, "n": 3, "label": "x", "on": True, "name": "mine"}
    assert repr(m) == "Mine(name='mine', target='C')"
    assert P.Producer().reset() is None


def test_function_producer_names_and_targets():
    def my_fn(frame, grid):
        return 1.5

    p = FunctionProducer(my_fn, "G")
    assert (p.name, p.target, p.produce(frame(), GRID)) == ("my_fn", "G", 1.5)
    assert FunctionProducer(my_fn, "walls", name="other").name == "other"
    with pytest.raises(ProducerError, match=r"producer target must be one of .*'walls'.*got 'X'"):
        FunctionProducer(my_fn, "X")
    lam = FunctionProducer(lambda f, g: g.size + f.ts_ns, "U")
    assert lam.name == "<lambda>" and lam.produce(frame(ts=5), GRID) == 12     # the function gets frame and grid

    class NoName:                                        # a callable without __name__
        def __call__(self, frame, grid):
            return 0.0

    assert FunctionProducer(NoName(), "U").name == "producer"


def test_registry_rebuilds_only_what_was_registered():
    @producer("D", name="bite_registry_fn")
    def f(frame, grid):
        return 0.25

    assert isinstance(f, FunctionProducer) and f.target == "D" and f.name == "bite_registry_fn"
    fn, target = registered_function("bite_registry_fn")
    assert target == "D" and fn(frame(), GRID) == 0.25
    assert registered_function("never_registered_anywhere") is None

    @producer("U")
    def bite_registry_unnamed(frame, grid):
        return 1.0

    assert registered_function("bite_registry_unnamed")[1] == "U"
    with pytest.raises(ProducerError, match=r"got 'nope'"):
        producer("nope")

    class Reg(P.Producer):
        target = "C"

    assert register_producer(Reg) is Reg
    assert class_key(Reg) == f"{__name__}:test_registry_rebuilds_only_what_was_registered.<locals>.Reg"
    assert registered_class(class_key(Reg)) is Reg
    assert registered_class("nowhere:Nothing") is None
    for bad in (int, object(), Reg()):
        with pytest.raises(ProducerError, match="register_producer needs a Producer subclass"):
            register_producer(bad)


def test_check_field_output_broadcasts_and_names_the_producer():
    p = ProfileProducer("depth", "U", name="depthy")
    out = check_field_output(p, 2, GRID, frame())
    np.testing.assert_array_equal(out, np.full(GRID.size, 2.0))
    assert out.dtype == np.float64
    arr = np.arange(GRID.size)
    got = check_field_output(p, arr, GRID, frame())
    np.testing.assert_array_equal(got, arr)
    assert got.dtype == np.float64                        # integer output is lifted to float64
    with pytest.raises(ProducerError, match=r"producer 'depthy' \(target U\) returned shape \(6,\); "
                                            r"expected a scalar or \(7,\) at ts_ns=7"):
        check_field_output(p, np.ones(6), GRID, frame())
    bad = np.zeros(GRID.size)
    bad[5] = np.inf
    bad[6] = np.nan
    with pytest.raises(ProducerError, match=r"producer 'depthy' \(target U\) returned a non-finite value inf at cell 2 "
                                            r"\(ts_ns=7\)"):
        check_field_output(p, bad, GRID, frame())
    with pytest.raises(ProducerError, match=r"non-finite value nan at cell -3"):
        check_field_output(p, np.nan, GRID, frame())


def test_check_wall_output():
    p = SoftWallProducer(name="sw")
    assert check_wall_output(p, None, frame()) == {}
    ok = {"a": {"center": 1.0, "width": 1.0}, "b": {"reinforcement": 2.0}}
    assert check_wall_output(p, ok, frame()) is ok
    with pytest.raises(ProducerError, match=r"wall producer 'sw' must return a dict of wall updates, got list"):
        check_wall_output(p, [1], frame())
    with pytest.raises(ProducerError, match=r"wall producer 'sw': reinforcement of wall 'b' is not finite \(inf\) "
                                            r"at ts_ns=7"):
        check_wall_output(p, {"a": {"reinforcement": 1.0}, "b": {"reinforcement": np.float64(np.inf)}}, frame())


def test_push_producer():
    p = PushProducer(channel="ofi", gain=-2)
    assert p.produce(frame(scalars={"ofi": 1.5, "push": 9.0}), GRID) == -3.0
    assert p.produce(frame(scalars={"push": 9.0}), GRID) == 0.0
    d = PushProducer()
    assert (d.channel, d.gain, d.name, d.target) == ("push", 1.0, "push", "C")
    assert d.produce(frame(scalars={"push": 0.5}), GRID) == 0.5


def test_soft_wall_is_placed_from_the_first_spot_and_remembers_it():
    p = SoftWallProducer(offset_ticks=8.0, width_ticks=3.0, reinforcement=0.2, decay=0.7, s_max=4.0, name="sw")
    assert p.target == "walls"
    u = p.produce(frame(spot=100.0, tick=0.25), GRID)
    assert u == {"sw": {"center": 102.0, "width": 3.0, "reinforcement": 0.2, "decay": 0.7, "s_max": 4.0}}
    assert p.produce(frame(spot=150.0), GRID)["sw"]["center"] == 102.0     # identity: it does not follow spot
    p.reset()
    assert p.produce(frame(spot=50.0, tick=0.5), GRID)["sw"]["center"] == 54.0
    fixed = SoftWallProducer(center_price=99.0, channel="pressure", gain=3.0)
    assert fixed.produce(frame(spot=10.0, scalars={"pressure": 0.5}), GRID)["soft_wall"] == {
        "center": 99.0, "width": 6.0, "reinforcement": 1.5, "decay": 0.95, "s_max": 10.0}
    assert fixed.produce(frame(spot=10.0), GRID)["soft_wall"]["reinforcement"] == 0.0
    assert SoftWallProducer(channel="p").produce(frame(scalars={"p": 0.5}), GRID)["soft_wall"]["reinforcement"] == 0.5
    fixed.reset()
    assert fixed.produce(frame(spot=10.0), GRID)["soft_wall"]["center"] == 99.0
    d = SoftWallProducer()
    assert d.produce(frame(spot=100.0), GRID)["soft_wall"]["center"] == 105.0   # 20 ticks of 0.25
    assert d.produce(frame(spot=100.0), GRID)["soft_wall"]["reinforcement"] == 0.05


@pytest.mark.parametrize("cls,arg,attr", [(ConstantViscosity, "gamma", "gamma"), (ConstantDiffusion, "d", "d")])
def test_constant_fields(cls, arg, attr):
    p = cls(**{arg: 0.0})
    assert p.produce(frame(), GRID) == 0.0
    p = cls(**{arg: 2})
    assert p.produce(frame(), GRID) == 2.0 and type(getattr(p, attr)) is float
    assert cls().produce(frame(), GRID) == 1.0
    for bad in (-1e-9, float("nan"), float("inf")):
        with pytest.raises(ProducerError, match=rf"{cls.__name__}: {arg} must be >= 0, got {bad!r}"):
            cls(**{arg: bad})
    assert (ConstantViscosity().target, ConstantViscosity().name) == ("G", "viscosity")
    assert (ConstantDiffusion().target, ConstantDiffusion().name) == ("D", "diffusion")


def test_profile_producer():
    prof = np.arange(GRID.size, dtype=float)
    p = ProfileProducer("depth", "O", gain=-2.0)
    assert p.name == "profile:depth->O" and p.target == "O"
    np.testing.assert_array_equal(p.produce(frame(profiles={"depth": prof}), GRID), -2.0 * prof)
    assert p.produce(frame(profiles={"other": prof}), GRID) == 0.0
    assert ProfileProducer("x").target == "U" and ProfileProducer("x", name="n").name == "n"
    assert ProfileProducer("x", "D").gain == 1.0
    assert [ProfileProducer("x", t).target for t in "UCGOD"] == list("UCGOD")
    np.testing.assert_array_equal(ProfileProducer("x").produce(frame(profiles={"x": [1, 2]}), GRID), [1.0, 2.0])
    with pytest.raises(ProducerError, match=r"ProfileProducer target must be a field .*got 'walls'"):
        ProfileProducer("depth", "walls")


def test_strike_walls_by_hand():
    p = StrikeWallProducer(channel="g", gain=0.5, threshold=0.3, width_ticks=5.0, decay=0.8, s_max=7.0, name="sk")
    f = frame(spot=100.0, tick=0.25, strike_rel_ticks=np.array([-10.0, 3.1, 20.0]),
              strikes={"g": np.array([0.3, 0.9, 0.29])})
    out = p.produce(f, GRID)
    # −10 ticks: 97.50, value 0.3 reaches the threshold; 3.1 ticks: 100.775 rounds to the tick 100.75; 0.29 is below
    assert out == {"sk@97.50": {"center": 97.5, "width": 5.0, "reinforcement": 0.15, "decay": 0.8, "s_max": 7.0},
                   "sk@100.75": {"center": 100.75, "width": 5.0, "reinforcement": 0.45, "decay": 0.8, "s_max": 7.0}}
    assert p.produce(frame(strike_rel_ticks=np.array([1.0]), strikes={"other": np.array([1.0])}), GRID) == {}
    assert p.produce(frame(), GRID) == {}
    d = StrikeWallProducer()
    assert (d.channel, d.gain, d.threshold, d.width_ticks, d.decay, d.s_max, d.name, d.target) == (
        "gex_abs_norm", 0.2, 0.2, 8.0, 0.9, 10.0, "strike_walls", "walls")
    assert list(d.produce(frame(spot=100.0, strike_rel_ticks=np.array([4.0, 8.0]),
                                strikes={"gex_abs_norm": np.array([0.2, 0.1])}), GRID)) == ["strike_walls@101.00"]


def test_v1_producers_are_the_seed_trio():
    ps = v1_producers()
    assert [type(p) for p in ps] == [PushProducer, SoftWallProducer, ConstantViscosity]
    assert [p.target for p in ps] == ["C", "walls", "G"]
    assert v1_producers()[1] is not ps[1]                 # fresh state each call
