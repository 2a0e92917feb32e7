"""Walls with memory by hand: S(t+1) = clip(decay·S(t) + r, 0, s_max), creation, forgetting, the obstacle field.

Every expected strength is the recursion done on paper in the test; the obstacle field is the
Gaussian sum written out with ``math.exp`` at single points.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from marketphys.core.grid import Grid
from marketphys.core.walls import MIN_WIDTH_TICKS, WallSet, WallState, obstacle_field


def wall(**kw):
    base = dict(wall_id="w", center=100.0, strength=1.0, width=2.0)
    base.update(kw)
    return WallState(**base)


@pytest.mark.parametrize("field,bad", [("center", 0.0), ("center", -1.0), ("center", float("nan")),
                                       ("center", float("inf")), ("width", -0.1), ("width", float("inf")),
                                       ("width", float("nan")), ("decay", -0.01), ("decay", 1.01),
                                       ("decay", float("nan")), ("s_max", 0.0), ("s_max", float("inf")),
                                       ("s_max", float("nan")), ("strength", float("nan")),
                                       ("strength", float("inf"))])
def test_wall_state_rejects_bad_values_naming_wall_and_field(field, bad):
    with pytest.raises(ValueError, match=rf"WallState 'w': {field} .*{bad!r}"):
        wall(**{field: bad})


def test_wall_state_accepts_the_edges():
    for kw in ({"width": 0.0}, {"decay": 0.0}, {"decay": 1.0}, {"s_max": 1e-9}, {"strength": -3.0},
               {"center": 1e-9}):
        wall(**kw)


def test_evolve_by_hand():
    w = wall(strength=2.0, decay=0.5, s_max=10.0, age=3)
    w1 = w.evolve(0.25)                              # 0.5·2 + 0.25
    assert (w1.strength, w1.reinforcement, w1.d_strength, w1.age) == (1.25, 0.25, -0.75, 4)
    assert (w1.wall_id, w1.center, w1.width, w1.decay, w1.s_max) == ("w", 100.0, 2.0, 0.5, 10.0)
    assert w.strength == 2.0 and w.age == 3          # evolve returns a new wall
    top = w.evolve(20.0)                             # 21 capped at s_max
    assert top.strength == 10.0 and top.d_strength == 8.0
    floor = w.evolve(-5.0)                           # −4 floored at 0
    assert floor.strength == 0.0 and floor.reinforcement == -5.0
    for bad in (float("nan"), float("inf"), -float("inf")):
        b = w.evolve(bad)                            # a non-finite reinforcement counts as none
        assert b.strength == 1.0 and b.reinforcement == 0.0
    assert type(w.evolve(np.float32(1.0)).strength) is float


def test_wallset_step_decays_reinforces_overrides_and_creates():
    ws = WallSet()
    ws.step({"a": {"center": 101.0, "width": 3.0, "reinforcement": 1.0},
             "b": {"center": 99.5, "width": 0.5, "strength": 4.0, "decay": 0.5, "s_max": 6.0, "reinforcement": 3.0}})
    a, b = ws.get("a"), ws.get("b")
    # a created with the defaults (strength 0, decay 0.98, s_max 10), then evolved once: 0.98·0 + 1
    assert (a.strength, a.decay, a.s_max, a.age, a.center, a.width) == (1.0, 0.98, 10.0, 1, 101.0, 3.0)
    # b: 0.5·4 + 3 = 5 (under s_max 6)
    assert (b.strength, b.decay, b.s_max, b.age) == (5.0, 0.5, 6.0, 1)
    ws.step({"b": {"reinforcement": 2.0, "s_max": 4.6, "decay": 0.9, "width": 1.5}})
    # a decays alone: 0.98; b: 0.5·5 + 2 = 4.5 with the old decay and s_max, then takes the new settings
    assert ws.get("a").strength == pytest.approx(0.98) and ws.get("a").age == 2
    b = ws.get("b")
    assert (b.strength, b.decay, b.s_max, b.width, b.age) == (4.5, 0.9, 4.6, 1.5, 2)
    ws.step({"b": {"reinforcement": 1.0}})
    assert ws.get("b").strength == 4.6 and ws.get("b").center == 99.5   # 0.9·4.5 + 1 = 5.05, capped at the new s_max
    ws.step({})
    assert ws.get("b").strength == pytest.approx(0.9 * 4.6) and ws.get("b").decay == 0.9
    assert len(ws) == 2 and [w.wall_id for w in ws] == ["a", "b"]
    assert ws.get("zzz") is None


def test_forgetting_at_the_threshold_and_updates_keep_a_weak_wall():
    ws = WallSet(forget_below=0.25)
    ws.step({"keep": {"center": 10.0, "width": 1.0, "reinforcement": 0.5, "decay": 0.5},
             "fade": {"center": 11.0, "width": 1.0, "reinforcement": 0.4, "decay": 0.5},
             "held": {"center": 12.0, "width": 1.0, "reinforcement": 0.1, "decay": 0.5}})
    ws.step({"held": {"reinforcement": 0.0}})
    # keep: 0.25 (exactly the threshold: kept); fade: 0.2 (forgotten); held: 0.05 but updated this frame
    assert sorted(w.wall_id for w in ws) == ["held", "keep"]
    assert ws.get("keep").strength == 0.25 and ws.get("held").strength == 0.05
    ws.step({})
    assert sorted(w.wall_id for w in ws) == []        # 0.125 and 0.025, no updates
    assert WallSet().forget_below == 1e-4


def test_a_new_wall_needs_center_and_width():
    for u in ({"width": 1.0}, {"center": 5.0}, {"reinforcement": 1.0}):
        with pytest.raises(ValueError, match=r"wall update 'new' creates a new wall and needs 'center' and 'width'"):
            WallSet().step({"new": u})
    ws = WallSet()
    ws.step({"x": {"center": 5.0, "width": 1.0}})
    assert ws.get("x").strength == 0.0              # no reinforcement given: 0, and kept because it was updated


def test_arrays_and_snapshot_in_id_order():
    ws = WallSet()
    ws.step({"z": {"center": 5002.0, "width": 4.0, "reinforcement": 2.0},
             "a": {"center": 4999.5, "width": 1.0, "reinforcement": 1.0}})
    c, s, w = ws.arrays(spot=5000.0, tick_size=0.25)
    np.testing.assert_array_equal(c, [-2.0, 8.0])
    np.testing.assert_array_equal(s, [1.0, 2.0])
    np.testing.assert_array_equal(w, [1.0, 4.0])
    assert c.dtype == s.dtype == w.dtype == np.float64
    assert [x.wall_id for x in ws.snapshot()] == ["a", "z"]
    empty = WallSet().arrays(1.0, 1.0)
    assert all(a.shape == (0,) for a in empty)


def test_obstacle_field_is_the_gaussian_sum():
    g = Grid(n=4, dx=2.0)
    centers, strengths, widths = np.array([1.0, -3.0]), np.array([2.0, 5.0]), np.array([1.5, 4.0])
    o = obstacle_field(g, centers, strengths, widths)
    for i, x in enumerate(g.x):
        expect = sum(s * math.exp(-0.5 * ((x - c) / w) ** 2) for c, s, w in zip(centers, strengths, widths))
        assert o[i] == pytest.approx(expect, rel=1e-13), i
    # lists work as arrays; no walls give a flat zero
    np.testing.assert_array_equal(obstacle_field(g, [1.0, -3.0], [2.0, 5.0], [1.5, 4.0]), o)
    np.testing.assert_array_equal(obstacle_field(g, np.zeros(0), np.zeros(0), np.zeros(0)), np.zeros(g.size))


def test_a_zero_width_wall_is_floored_not_a_division_by_zero():
    g = Grid(n=2, dx=1e-3)
    o = obstacle_field(g, np.array([0.0]), np.array([3.0]), np.array([0.0]))
    # σ = MIN_WIDTH_TICKS = 1e-3, so one cell (1e-3 ticks) away the wall is 3·e^(−½)
    assert MIN_WIDTH_TICKS == 1e-3
    np.testing.assert_allclose(o, 3.0 * np.exp(-0.5 * (g.x / 1e-3) ** 2), rtol=1e-12)
    assert o[2] == 3.0 and o[3] == pytest.approx(3.0 * math.exp(-0.5), rel=1e-12)


def test_an_update_without_reinforcement_only_decays_and_new_walls_follow_existing_ones():
    ws = WallSet()
    ws.step({"a": {"center": 10.0, "width": 1.0, "reinforcement": 2.0, "decay": 0.5}})
    ws.step({"a": {"width": 3.0}, "b": {"center": 11.0, "width": 2.0, "reinforcement": 1.0}})
    assert ws.get("a").strength == 1.0 and ws.get("a").width == 3.0    # 0.5·2 + no reinforcement
    assert ws.get("b") is not None and ws.get("b").strength == 1.0     # created after an existing id
