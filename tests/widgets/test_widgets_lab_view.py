"""The lab's fitted zoom and arrow scales: the rules (properties) and the lab that applies them."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from marketphys.render import render_texture
from marketphys.widgets.lab import PhysicsLab
from marketphys.widgets.lab_view import (FIT_MARGIN, HOLD, ZOOM_FLOOR_TICKS, ViewTracker, action_extent, ease_half,
                                         fit_half, robust_ref)
from marketphys.widgets.sample import sample_engine, sample_frames

extent = st.floats(0, 400, allow_nan=False)
grid = st.sampled_from([16.0, 64.0, 128.0, 256.0])


@given(extent, grid)
def test_fit_shows_the_action_within_floor_and_grid(e, g):
    h = fit_half(e, g)
    assert min(ZOOM_FLOOR_TICKS, g) <= h <= g
    if e * FIT_MARGIN < g:
        assert h >= e * FIT_MARGIN          # the action sits inside 80 % of the half-range


@given(st.floats(1, 256), extent, grid)
def test_easing_never_leaves_the_action_out(prev, e, g):
    prev = min(prev, g)
    nxt = ease_half(prev, fit_half(e, g), e, g)
    assert nxt <= g
    if e < g / 1.05:
        assert nxt >= e                     # widening happens at once, to at least the action


@given(st.lists(st.floats(0, 1, allow_nan=False), min_size=2, max_size=50))
def test_jitter_inside_the_hold_band_keeps_the_zoom(jitter):
    """Targets that move around within HOLD below the view never change it: no breathing."""
    prev = 20.0
    for j in jitter:
        target = prev / (1 + HOLD * j)
        assert ease_half(prev, target, 0.0, 256.0) == prev


def test_narrowing_is_eased_not_a_jump():
    h, steps = 64.0, []
    for _ in range(30):
        h = ease_half(h, 8.0, 1.0, 256.0)
        steps.append(h)
    gaps = -np.diff([64.0] + steps)
    assert (gaps > 0).all() and gaps.max() < 0.06 * 64 and steps[-1] > 8.0


@given(st.lists(st.floats(1e-3, 1e3), min_size=1, max_size=200))
@settings(max_examples=60)
def test_robust_ref_draws_the_median_a_third_long_and_clamps_at_most_the_top(values):
    v = np.asarray(values)
    ref = robust_ref(np.median(v), np.quantile(v, 0.9), 10.0)
    assert np.median(v) / ref >= 1 / 3 - 1e-9
    assert (v > ref * (1 + 1e-9)).mean() <= 0.5        # the median itself never clamps


def test_robust_ref_falls_back_when_nothing_moved():
    assert robust_ref(0.0, 0.0, 40.0) == 40.0
    assert robust_ref(0.0, 2.0, 40.0) == 2.0           # v0 zero most of the time: the q90 speaks


def test_action_extent_ignores_missing_and_nan():
    assert action_extent(None, np.array([np.nan, -3.0]), np.array([1.0])) == 3.0
    assert action_extent(None, np.array([np.nan])) == 0.0


def test_tracker_rejects_a_bad_window():
    with pytest.raises(ValueError, match="window"):
        ViewTracker(window=0)


@pytest.fixture(scope="module")
def fed():
    eng = sample_engine(n_paths=8)
    lab = PhysicsLab(width=160, height=100)
    frames = sample_frames(40)
    shown = []
    for fr in frames:
        lab.push(eng, eng.step(fr))
        shown.append((lab.index, lab.x_half, bytes(lab.texture)))
    return lab, eng, frames, shown


def test_default_zoom_is_the_fit_not_the_grid(fed):
    lab, _, _, shown = fed
    grid_half = (lab.frame.U.size - 1) / 2 * lab.frame.dx
    assert lab.auto_zoom
    halves = [h for _, h, _ in shown]
    assert all(ZOOM_FLOOR_TICKS <= h < grid_half for h in halves)
    assert halves == [lab.view(i).x_half for i, _, _ in shown]


def test_scrubbing_back_shows_the_frame_as_drawn_live(fed):
    lab, _, _, shown = fed
    for i, _, tex in shown[::7]:
        lab.index = i
        assert bytes(lab.texture) == tex
    lab.resume()


def test_textures_use_the_fitted_arrow_scales(fed):
    lab, _, _, _ = fed
    i = lab.n_frames - 1
    fr, v = lab.history[i], lab.view(i)
    plain = render_texture(fr.scene(lab.tex_width, lab.tex_height, v.x_half), backend=lab.backend)
    assert not np.array_equal(lab.render_frame(i), plain)      # the refs change what is drawn
    assert v.c_ref != 10.0 and v.a_ref != 200.0


def test_a_user_zoom_is_held_over_new_frames_until_fit():
    eng = sample_engine()
    lab = PhysicsLab(width=64, height=40)
    frames = sample_frames(12)
    for fr in frames[:4]:
        lab.push(eng, eng.step(fr))
    lab.zoom(0.5)
    held = lab.x_half
    assert not lab.auto_zoom
    for fr in frames[4:]:
        lab.push(eng, eng.step(fr))
        assert lab.x_half == held and lab.meta["x_half"] == held
    lab.fit()
    assert lab.auto_zoom and lab.x_half == lab.view().x_half == lab.meta["x_half"]


def test_a_zoom_given_up_front_is_held():
    lab = PhysicsLab(width=64, height=40, x_half=30.0)
    eng = sample_engine()
    for fr in sample_frames(3):
        lab.push(eng, eng.step(fr))
    assert not lab.auto_zoom and lab.meta["x_half"] == 30.0


def test_clear_restarts_the_fit():
    eng = sample_engine()
    lab = PhysicsLab(width=64, height=40)
    for fr in sample_frames(5):
        lab.push(eng, eng.step(fr))
    lab.clear()
    assert lab.view(0) is None and lab._tracker._half is None


bits = st.sampled_from([0.0, -0.0, 1.5, -2.25, np.nan, np.inf, 1e-300])


@given(st.lists(bits, min_size=3, max_size=40), st.lists(st.tuples(st.integers(0, 39), st.floats(allow_nan=True)), max_size=12),
       st.booleans())
@settings(max_examples=150)
def test_field_encoding_round_trips_bit_for_bit(base, edits, same_prev):
    from marketphys.widgets.lab_store import decode_field, encode_field

    a = np.array(base, dtype=np.float64)
    for i, v in edits:
        if i < a.size:
            a[i] = v
    prev = encode_field(a.copy(), None) if same_prev else None
    enc = encode_field(a, prev)
    out = decode_field(enc)
    assert out.view(np.int64).tolist() == a.view(np.int64).tolist()
    assert not out.flags.writeable
    if same_prev:
        assert enc is prev                               # unchanged fields are shared, not copied


def test_store_rebuilds_every_frame_exactly():
    from marketphys.widgets.history import snapshot
    from marketphys.widgets.lab_store import FrameStore

    eng = sample_engine(n_paths=8)
    store, originals, meters = FrameStore(), [], {}
    for fr in sample_frames(30):
        fc = eng.step(fr)
        snap = snapshot(eng, fc, meters)
        meters = dict(zip(snap.wall_ids, snap.wall_meter.tolist()))
        store.append(snap)
        originals.append(snap)
    del store[:5]
    assert len(store) == 25 and store.ts_ns().tolist() == [f.ts_ns for f in originals[5:]]
    for got, want in zip(store, originals[5:]):
        for name, v in vars(want).items():
            g = getattr(got, name)
            if isinstance(v, np.ndarray):
                assert g.dtype == v.dtype and g.view(np.uint8).tobytes() == v.view(np.uint8).tobytes(), name
            else:
                assert g == v, name
    import pickle

    got = store[3]
    moved = replace(got, ts_ns=1)                     # a rebuilt frame behaves as a LabFrame
    assert moved.ts_ns == 1 and np.array_equal(moved.U, originals[8].U)
    again = pickle.loads(pickle.dumps(store[4]))
    assert np.array_equal(again.G, originals[9].G) and again.theta.tolist() == originals[9].theta.tolist()
    with pytest.raises(AttributeError, match="nope"):
        store[0].nope  # noqa: B018


def test_the_texture_cache_keeps_only_the_wire_form(fed):
    lab, _, _, _ = fed
    for i in range(lab.n_frames - 6, lab.n_frames):
        lab.index = i
    entries = list(lab._cache.values())
    assert entries and all("rgba" not in e and set(e) == {"png"} for e in entries)
    i = lab.index
    scene = replace(lab.history[i].scene(lab.tex_width, lab.tex_height, lab.view(i).x_half), **lab.view(i).refs)
    want = render_texture(scene, backend=lab.backend)
    assert np.array_equal(lab.render_frame(i), want)            # rendered again on demand, same pixels
    lab.texture_format = "raw"
    assert np.array_equal(lab.render_frame(i), want) and bytes(lab.texture) == want.tobytes()
    lab.texture_format = "png"
    lab.resume()
