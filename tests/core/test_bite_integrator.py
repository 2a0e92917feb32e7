"""The rollout against a scalar pure-Python reference written from the scheme in the docstring.

The reference (``reference_rollout``) reads the fields with ``np.interp`` (linear, held at the
edges), and steps one lane at a time in Python floats: v' = (v + h·A)/(1 + h·κ), the |a| cap with
v' = v + h·a, the |v| cap, x += v·h, then √(2·max(D, 0)·h)·z with z drawn from Philox at
(seed, lane + offset, substep, stream). Every guard it fires is counted the same way the stats
promise. Sensitivities are checked against central finite differences, in the regimes where
the guards fire too (a clamped quantity has zero sensitivity, and that is the true derivative).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from marketphys.core.fields import Fields
from marketphys.core.grid import Grid
from marketphys.core.integrator import (SAMPLED, IntegratorConfig, RolloutStats, energy, ensemble_bands,
                                        field_table, rollout, sample)
from marketphys.core.rng import normal

GRID = Grid(n=16, dx=2.0)


def theta(wU=0.0, wC=0.0, wG=0.0, wO=0.0, b=0.0):
    return np.array([wU, wC, wG, wO, b], dtype=float)


def random_fields(rng, scale=1.0, grid=GRID):
    x = grid.x
    return Fields.from_arrays(
        grid,
        U=scale * (15 * np.sin(x / (5 + 3 * rng.random())) + 0.05 * x ** 2 * rng.random()),
        C=scale * 4 * np.cos(x / (6 + 4 * rng.random()) + rng.random()),
        G=np.abs(1.0 + 0.6 * np.sin(x / 7 + rng.random())),
        O=scale * 10 * np.exp(-0.5 * ((x - rng.uniform(-20, 20)) / 4.0) ** 2),
        D=0.5 + 2.0 * rng.random(grid.size) - 0.7,   # some cells negative: the noise floors D at 0
    )


def reference_rollout(fields, th, v0, cfg, seed=None, lane=0, stream=0, x0=0.0):
    """One lane, Python floats: (x per horizon, v per horizon, a of the first substep, counters)."""
    g = fields.grid
    xs_grid = g.x
    F_U, C, G, F_O, D = -fields.dU, fields.C, fields.G, -fields.dO, fields.D
    wU, wC, wG, wO, b = (float(t) for t in th)
    h = cfg.dt / cfg.substeps
    counts = {"clamp_a": 0, "clamp_v": 0, "nonfinite": 0, "off_grid": 0}
    x, v = float(x0), float(v0)
    if abs(v) > cfg.v_max:
        counts["clamp_v"] += 1
        v = math.copysign(cfg.v_max, v)
    out_x, out_v, a_first = [], [], None
    for hz in range(cfg.horizons):
        for k in range(cfg.substeps):
            if not (xs_grid[0] <= x <= xs_grid[-1]):
                counts["off_grid"] += 1
            at = {name: float(np.interp(x, xs_grid, arr)) for name, arr in
                  (("fu", F_U), ("c", C), ("g", G), ("fo", F_O), ("d", D))}
            A = wU * at["fu"] + wC * at["c"] + wO * at["fo"] + b
            kappa = wC + wG * at["g"]
            if not (math.isfinite(A) and math.isfinite(kappa)):
                counts["nonfinite"] += 1
                A, kappa = 0.0, 0.0
            v_new = (v + h * A) / (1.0 + h * kappa)
            a = (v_new - v) / h
            if abs(a) > cfg.a_max:
                counts["clamp_a"] += 1
                a = math.copysign(cfg.a_max, a)
                v_new = v + h * a
            if a_first is None:
                a_first = a
            v = v_new
            if abs(v) > cfg.v_max:
                counts["clamp_v"] += 1
                v = math.copysign(cfg.v_max, v)
            x = x + v * h
            if seed is not None:
                z = float(normal(seed, np.uint32(lane), hz * cfg.substeps + k, stream))
                x = x + math.sqrt(2.0 * max(at["d"], 0.0) * h) * z
        out_x.append(x)
        out_v.append(v)
    return np.array(out_x), np.array(out_v), a_first, counts


def assert_matches_reference(res, fields, ths, v0s, cfg, seed=None, lane_offset=0, stream=0, x0=0.0):
    total = {"clamp_a": 0, "clamp_v": 0, "nonfinite": 0, "off_grid": 0}
    for lane, (th, v0) in enumerate(zip(ths, v0s)):
        x, v, a0, counts = reference_rollout(fields, th, v0, cfg, seed, lane + lane_offset, stream, x0)
        np.testing.assert_allclose(res.x[lane], x, rtol=1e-9, atol=1e-9, err_msg=f"x, lane {lane}")
        np.testing.assert_allclose(res.v[lane], v, rtol=1e-9, atol=1e-9, err_msg=f"v, lane {lane}")
        assert res.a0[lane] == pytest.approx(a0, rel=1e-9, abs=1e-9), f"a0, lane {lane}"
        for key in total:
            total[key] += counts[key]
    assert res.stats.to_dict() == total


# ----------------------------------------------------------------------------- config and counters

@pytest.mark.parametrize("name,bad", [("dt", 0.0), ("dt", -0.5), ("dt", float("nan")), ("dt", float("inf")),
                                      ("a_max", 0.0), ("a_max", float("inf")), ("v_max", 0.0), ("v_max", -1.0)])
def test_config_rejects_non_positive_or_non_finite(name, bad):
    with pytest.raises(ValueError, match=rf"IntegratorConfig\.{name} must be finite and > 0, got {bad!r}"):
        IntegratorConfig(**{name: bad})


@pytest.mark.parametrize("name,bad", [("horizons", 0), ("horizons", 2.5), ("substeps", 0), ("substeps", -3),
                                      ("substeps", 1.5)])
def test_config_rejects_non_integer_counts(name, bad):
    with pytest.raises(ValueError, match=rf"IntegratorConfig\.{name} must be an integer >= 1, got {bad!r}"):
        IntegratorConfig(**{name: bad})


def test_config_smallest_valid_values_and_dict():
    cfg = IntegratorConfig(dt=1e-9, horizons=1, substeps=1, a_max=1e-9, v_max=1e-9)
    assert cfg.h == 1e-9
    cfg = IntegratorConfig(dt=0.75, horizons=3, substeps=6, a_max=12.0, v_max=7.0)
    assert cfg.h == 0.125
    assert cfg.to_dict() == {"dt": 0.75, "horizons": 3, "substeps": 6, "a_max": 12.0, "v_max": 7.0}
    assert IntegratorConfig(**cfg.to_dict()) == cfg


def test_stats_add_and_dict():
    s = RolloutStats(1, 2, 3, 4)
    s.add(RolloutStats(10, 20, 30, 40))
    assert s.to_dict() == {"clamp_a": 11, "clamp_v": 22, "nonfinite": 33, "off_grid": 44}
    assert RolloutStats().to_dict() == {"clamp_a": 0, "clamp_v": 0, "nonfinite": 0, "off_grid": 0}


# ----------------------------------------------------------------------------- the sampled table

def test_field_table_columns_are_the_forces():
    rng = np.random.default_rng(3)
    f = random_fields(rng)
    t = field_table(f)
    assert t.shape == (GRID.size, len(SAMPLED))
    np.testing.assert_array_equal(t[:, 0], -f.dU)
    np.testing.assert_array_equal(t[:, 1], f.C)
    np.testing.assert_array_equal(t[:, 2], f.G)
    np.testing.assert_array_equal(t[:, 3], -f.dO)
    np.testing.assert_array_equal(t[:, 4], f.D)


def test_sample_interpolates_and_slopes_vanish_off_grid():
    rng = np.random.default_rng(4)
    table = rng.normal(size=(GRID.size, 5))
    edge = GRID.half_width_ticks
    x = np.array([-edge - 3.0, -edge, -7.3, 0.0, 0.5, 5.0, edge, edge + 0.1])
    vals, slopes, inside = sample(table, GRID.n, GRID.dx, x)
    for j in range(5):
        np.testing.assert_allclose(vals[:, j], np.interp(x, GRID.x, table[:, j]), rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(inside, [False, True, True, True, True, True, True, False])
    # inside: the slope of the cell the point is in (right cell at a node), (hi − lo)/dx
    for i, xi in enumerate(x):
        if not inside[i]:
            np.testing.assert_array_equal(slopes[i], 0.0)
            continue
        c = min(int(np.floor((xi + edge) / GRID.dx)), GRID.size - 2)
        np.testing.assert_allclose(slopes[i], (table[c + 1] - table[c]) / GRID.dx, rtol=1e-12)


# ----------------------------------------------------------------------------- the scheme

@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), v0=st.floats(-120.0, 120.0), x0=st.floats(-40.0, 40.0),
       horizons=st.integers(1, 3), substeps=st.integers(1, 5), noisy=st.booleans(),
       lane_offset=st.integers(0, 5), stream=st.integers(0, 3),
       caps=st.sampled_from([(400.0, 80.0), (30.0, 80.0), (400.0, 12.0), (5.0, 3.0)]))
def test_rollout_equals_the_scalar_reference(seed, v0, x0, horizons, substeps, noisy, lane_offset, stream, caps):
    """Random fields, θ per lane, v0 beyond the caps, starts near and beyond the grid's edge, noise on or off."""
    rng = np.random.default_rng(seed)
    f = random_fields(rng)
    L = 3
    ths = np.column_stack([rng.uniform(0, 2, (L, 4)), rng.uniform(-20, 20, L)])
    v0s = v0 + rng.uniform(-10, 10, L)
    cfg = IntegratorConfig(dt=0.5, horizons=horizons, substeps=substeps, a_max=caps[0], v_max=caps[1])
    s = seed if noisy else None
    res = rollout(f, ths, v0s, cfg, seed=s, lane_offset=lane_offset, stream=stream, x0=x0)
    assert res.x.shape == res.v.shape == (L, horizons) and res.jac.shape == (L, horizons, 5)
    assert_matches_reference(res, f, ths, v0s, cfg, s, lane_offset, stream, x0)


def test_every_guard_fires_and_is_counted_like_the_reference():
    """A start beyond v_max, a push past a_max, a trip off the grid, a NaN force and an infinite drag."""
    f = random_fields(np.random.default_rng(6), scale=3.0)
    cfg = IntegratorConfig(dt=0.5, horizons=4, substeps=4, a_max=60.0, v_max=40.0)
    ths = np.array([theta(wU=1.0, wC=3.0), theta(wC=0.5, b=-200.0), theta(wU=1.0, b=float("nan")),
                    theta(wC=0.5, wG=float("inf")), theta(wC=0.1, b=5.0)])
    v0s = np.array([-90.0, 10.0, 3.0, 4.0, 39.0])
    with np.errstate(invalid="ignore"):
        res = rollout(f, ths, v0s, cfg, x0=8.0)
    st_ = res.stats
    assert st_.clamp_a > 0 and st_.clamp_v > 0 and st_.nonfinite > 0 and st_.off_grid > 0
    assert np.all(np.isfinite(res.x)) and np.all(np.isfinite(res.jac))
    assert_matches_reference(res, f, ths, v0s, cfg, x0=8.0)
    # a NaN force or an infinite drag leaves the lane coasting at its own velocity: x = x0 + v0·t
    t = np.arange(1, 5) * 0.5
    np.testing.assert_allclose(res.x[2], 8.0 + 3.0 * t, rtol=1e-12)
    np.testing.assert_allclose(res.x[3], 8.0 + 4.0 * t, rtol=1e-12)
    assert st_.nonfinite == 2 * 16


def test_one_substep_by_hand():
    """h = 0.5: A = 2·3 + 1·4 + 0.5·(−1) + 1 = 10.5 (F_U = −∂U/∂x = 3 with U = −3x), κ = 1 + 2·0.25 = 1.5.

    v' = (2 + 0.5·10.5)/(1 + 0.5·1.5) = 7.25/1.75; a = (v' − 2)/0.5; x = 0.5·v'.
    """
    g = Grid(n=4, dx=1.0)
    f = Fields.from_arrays(g, U=-3.0 * g.x, C=4.0, G=0.25, O=0.5 * g.x)
    cfg = IntegratorConfig(dt=0.5, horizons=1, substeps=1)
    res = rollout(f, theta(2.0, 1.0, 2.0, 1.0, 1.0), 2.0, cfg)
    v1 = 7.25 / 1.75
    assert res.v[0, 0] == pytest.approx(v1, rel=1e-14)
    assert res.a0[0] == pytest.approx((v1 - 2.0) / 0.5, rel=1e-14)
    assert res.x[0, 0] == pytest.approx(0.5 * v1, rel=1e-14)
    # ∂v'/∂θ = h·(F_U, C − v', −Γ·v', F_O, 1)/(1 + hκ) (the fields are linear, so ∂A/∂x·s_x is 0 on step one);
    # ∂x/∂θ = h·∂v'/∂θ
    comps = np.array([3.0, 4.0 - v1, -0.25 * v1, -0.5, 1.0])
    np.testing.assert_allclose(res.jac[0, 0], 0.5 * 0.5 * comps / 1.75, rtol=1e-13)


def test_a_clamped_from_below_and_the_first_acceleration_is_the_capped_one():
    cfg = IntegratorConfig(dt=0.5, horizons=2, substeps=2, a_max=10.0, v_max=80.0)
    res = rollout(Fields.zeros(GRID), theta(b=-100.0), 0.0, cfg)
    assert res.a0[0] == -10.0
    # capped at −10 every substep: v = −2.5, −5, −7.5, −10; x = h·Σv
    np.testing.assert_allclose(res.v[0], [-5.0, -10.0])
    np.testing.assert_allclose(res.x[0], [-0.25 * 7.5, -0.25 * 25.0])
    assert res.stats.clamp_a == 4


def test_broadcasting_lanes_from_theta_or_from_v0():
    f = random_fields(np.random.default_rng(8))
    cfg = IntegratorConfig(horizons=2, substeps=3)
    ths = np.array([theta(1.0, 0.5, 0.2, 1.0, 2.0), theta(0.3, 1.5, 1.0, 0.2, -3.0)])
    by_theta = rollout(f, ths, 4.0, cfg)
    for i in range(2):
        one = rollout(f, ths[i], 4.0, cfg)
        np.testing.assert_array_equal(by_theta.x[i], one.x[0])
        np.testing.assert_array_equal(by_theta.jac[i], one.jac[0])
    by_v = rollout(f, ths[0], np.array([-3.0, 0.0, 6.0]), cfg)
    assert by_v.x.shape == (3, 2)
    for i, v0 in enumerate([-3.0, 0.0, 6.0]):
        np.testing.assert_array_equal(by_v.x[i], rollout(f, ths[0], v0, cfg).x[0])


def test_without_sensitivities_the_path_is_the_same_and_jac_is_none():
    f = random_fields(np.random.default_rng(9))
    cfg = IntegratorConfig()
    th = theta(1.0, 0.5, 0.5, 1.0, 1.0)
    a = rollout(f, th, 3.0, cfg)
    b = rollout(f, th, 3.0, cfg, sensitivities=False)
    assert b.jac is None
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.v, b.v)


# ----------------------------------------------------------------------------- sensitivities where guards fire

def finite_difference_jac(f, th, v0, cfg, x0=0.0, eps=1e-6):
    cols = []
    for p in range(5):
        d = np.zeros(5)
        d[p] = eps
        xp = rollout(f, th + d, v0, cfg, sensitivities=False, x0=x0).x[0]
        xm = rollout(f, th - d, v0, cfg, sensitivities=False, x0=x0).x[0]
        cols.append((xp - xm) / (2 * eps))
    return np.stack(cols, axis=-1)


@pytest.mark.parametrize("case", ["v_capped", "a_capped", "off_grid", "start_off_grid"])
def test_sensitivities_equal_finite_differences_when_guards_fire(case):
    rng = np.random.default_rng(11)
    f = random_fields(rng)
    cfg = IntegratorConfig(dt=0.5, horizons=3, substeps=4)
    th, v0, x0 = theta(1.0, 0.6, 0.4, 1.0, 1.5), 3.0, 0.0
    if case == "v_capped":
        cfg = IntegratorConfig(dt=0.5, horizons=3, substeps=4, v_max=5.0)
        th = theta(0.2, 0.3, 0.1, 0.2, 30.0)
    elif case == "a_capped":   # capped on the first substeps only, while the drag on v0 = −60 is strong
        cfg = IntegratorConfig(dt=0.5, horizons=3, substeps=4, a_max=100.0)
        th, v0 = theta(0.2, 3.0, 0.1, 0.2, 1.0), -60.0
    elif case == "off_grid":
        v0 = 60.0
        th = theta(0.5, 0.1, 0.05, 0.5, 5.0)
    else:
        x0 = 40.0
    res = rollout(f, th, v0, cfg, x0=x0)
    fired = res.stats.to_dict()
    key = {"v_capped": "clamp_v", "a_capped": "clamp_a", "off_grid": "off_grid", "start_off_grid": "off_grid"}[case]
    assert fired[key] > 0
    np.testing.assert_allclose(res.jac[0], finite_difference_jac(f, th, v0, cfg, x0), rtol=1e-4, atol=1e-6)


# ----------------------------------------------------------------------------- energy and bands

def test_energy_by_interpolation():
    g = Grid(n=3, dx=2.0)
    U = np.array([0.0, 1.0, 4.0, 9.0, 16.0, 25.0, 36.0])
    O = np.array([7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0])
    f = Fields.from_arrays(g, U=U, O=O)
    # x = 1 is halfway between cells 3 (x=0) and 4 (x=2): U = 12.5, O = 3.5
    e = energy(f, np.array([[2.0, 0.0, 0.0, 3.0, 0.0]]), np.array([1.0]), np.array([4.0]))
    assert e[0] == pytest.approx(0.5 * 16 + 2.0 * 12.5 + 3.0 * 3.5)
    e2 = energy(f, np.array([[1.0, 9.0, 9.0, 1.0, 9.0], [0.0, 0.0, 0.0, 2.0, 0.0]]), np.array([-6.0, 6.0]),
                np.array([0.0, -2.0]))
    np.testing.assert_allclose(e2, [0.0 + 7.0, 2.0 + 2.0 * 1.0])


def test_ensemble_bands_are_quantiles_of_the_seeded_paths():
    f = random_fields(np.random.default_rng(12))
    cfg = IntegratorConfig(horizons=3, substeps=4)
    th = theta(1.0, 0.5, 0.5, 1.0, 0.5)
    qs = (0.1, 0.5, 0.9)
    bands, stats = ensemble_bands(f, th, 2.0, cfg, n_paths=64, seed=5, quantiles=qs, stream=3, x0=1.5)
    paths = rollout(f, np.broadcast_to(th, (64, 5)), np.full(64, 2.0), cfg, sensitivities=False, seed=5,
                    stream=3, x0=1.5)
    assert list(bands) == [0.1, 0.5, 0.9] and all(type(k) is float for k in bands)
    for q in qs:
        np.testing.assert_array_equal(bands[q], np.quantile(paths.x, q, axis=0))
    assert stats.to_dict() == paths.stats.to_dict()
    # the paths really diffuse, and around the noise-free path
    free = rollout(f, th, 2.0, cfg, sensitivities=False, x0=1.5).x[0]
    assert np.all(bands[0.9] - bands[0.1] > 0)
    assert np.all(np.abs(bands[0.5] - free) < bands[0.9] - bands[0.1])
    default, _ = ensemble_bands(f, th, 2.0, cfg, n_paths=8, seed=5)
    assert list(default) == [0.05, 0.25, 0.5, 0.75, 0.95]


def test_noise_defaults_to_lane_zero_stream_zero():
    """Without lane_offset or stream, lane i draws Philox(seed, i, substep, 0): the reference with lane i, stream 0."""
    f = random_fields(np.random.default_rng(13))
    cfg = IntegratorConfig(horizons=2, substeps=3)
    ths = np.array([theta(1.0, 0.5, 0.5, 1.0, 1.0)] * 2)
    res = rollout(f, ths, np.array([1.0, -1.0]), cfg, seed=21)
    assert_matches_reference(res, f, ths, [1.0, -1.0], cfg, seed=21)


def test_a_value_exactly_at_its_cap_is_not_clamped():
    """The caps are strict (|a| > a_max, |v| > v_max), as the kernels count them (mp_integrator.h), so the
    counters agree across backends. h = 0.125 and b = 8 are exact: a = 8 = a_max, v reaches 2 = v_max, and the
    sensitivity to b keeps growing: ∂x/∂b = h²·n(n+1)/2 after n substeps."""
    cfg = IntegratorConfig(dt=0.25, horizons=1, substeps=2, a_max=8.0, v_max=2.0)
    res = rollout(Fields.zeros(GRID), theta(b=8.0), 0.0, cfg)
    assert res.v[0, 0] == 2.0 and res.a0[0] == 8.0
    assert res.stats.to_dict() == {"clamp_a": 0, "clamp_v": 0, "nonfinite": 0, "off_grid": 0}
    assert res.jac[0, 0, 4] == 0.125 ** 2 * 3
    at_cap = rollout(Fields.zeros(GRID), theta(), np.array([2.0, -2.0]), cfg)
    assert at_cap.stats.clamp_v == 0
    np.testing.assert_array_equal(at_cap.x[:, 0], [0.5, -0.5])


def test_ensemble_defaults_are_stream_zero_from_the_mid():
    f = random_fields(np.random.default_rng(14))
    cfg = IntegratorConfig(horizons=2, substeps=3)
    th = theta(1.0, 0.5, 0.5, 1.0, 0.5)
    bands, _ = ensemble_bands(f, th, 1.0, cfg, n_paths=16, seed=9)
    paths = rollout(f, np.broadcast_to(th, (16, 5)), np.full(16, 1.0), cfg, seed=9)
    for q in (0.05, 0.25, 0.5, 0.75, 0.95):
        np.testing.assert_array_equal(bands[q], np.quantile(paths.x, q, axis=0))
    shifted, _ = ensemble_bands(f, th, 1.0, cfg, n_paths=16, seed=9, stream=1)
    assert not np.array_equal(shifted[0.5], bands[0.5])
