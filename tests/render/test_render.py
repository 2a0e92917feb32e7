"""The three-band renderer: goldens, one test per encoding rule, validation, kernel equivalence."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from marketphys.render import HAZE_CAP, RenderScene, band_heights, pack, px_to_tick, render_texture, tick_to_px
from marketphys.render.layout import PALETTE
from marketphys.render.scene import normalize_potential
from fixtures_kernels import SHADER_BACKENDS, assert_standin_clean, shader_backend
from tests.fixtures_render import assert_matches_golden, flat_scene, rich_scene


def colour_mask(img, name, tol=40):
    want = np.array(PALETTE[name]) * 255
    return np.abs(img[..., :3].astype(float) - want).max(axis=2) < tol


# ------------------------------------------------------------------------ goldens
def test_golden_rich_scene():
    assert_matches_golden("rich_320x200", render_texture(rich_scene()))


def test_golden_zoomed_scene():
    assert_matches_golden("rich_zoom20_320x200", render_texture(rich_scene().zoomed(20.0)))


def test_golden_failure_writes_diff(tmp_path, monkeypatch):
    import tests.fixtures_render as fx

    monkeypatch.setattr(fx, "ARTIFACTS", tmp_path)
    img = render_texture(rich_scene()).copy()
    img[:40, :40, :3] = 255 - img[:40, :40, :3]
    with pytest.raises(AssertionError, match="differ"):
        fx.assert_matches_golden("rich_320x200", img)
    assert (tmp_path / "rich_320x200.diff.png").exists()


# ------------------------------------------------------------------------ layout
@pytest.mark.parametrize("h", [20, 99, 180, 540, 720, 1081])
def test_band_heights_are_65_20_15(h):
    a, b, c = band_heights(h)
    assert a + b + c == h
    assert abs(a / h - 0.65) <= 0.5 / h + 1e-9 and abs(b / h - 0.20) <= 0.5 / h + 1e-9
    assert abs(c / h - 0.15) <= 1.0 / h + 1e-9


def test_band_separators_drawn_at_band_edges():
    img = render_texture(flat_scene(width=200, height=300))
    a, b, _ = band_heights(300)
    sep = np.array(PALETTE["separator"]) * 255
    col = 10   # away from the centre line and most grid lines
    for y in (a, a + b):
        assert np.abs(img[y - 1:y + 1, col, :3].astype(float) - sep).max(axis=1).min() < 80


# ------------------------------------------------------------------------ X axis
def test_x_never_rescales_with_volatility():
    """Grid and centre lines stay in place whatever the fields and forecast do."""
    calm = render_texture(flat_scene())
    wild = render_texture(flat_scene(C=np.full(65, 50.0), U=np.linspace(-500, 900, 65), x_hat=np.array([60.0, -90, 200, 5])))
    row = 5   # top of band A: grid only (terrain and arrows sit lower)
    assert np.array_equal(colour_mask(calm, "center")[row], colour_mask(wild, "center")[row])
    assert np.array_equal(calm[row], wild[row])


def test_zoom_is_symmetric_and_keeps_spot_centred():
    base = flat_scene(width=320)
    for half in (64.0, 20.0, 7.5):
        img = render_texture(base.zoomed(half))
        cols = np.flatnonzero(colour_mask(img, "center", tol=25)[5])
        assert cols.size and abs(cols.mean() - 159.5) < 1.0, (half, cols)
    assert tick_to_px(0.0, 20.0, 320) == 160.0
    assert px_to_tick(tick_to_px(13.0, 20.0, 320), 20.0, 320) == pytest.approx(13.0)
    assert tick_to_px(10.0, 10.0, 320) - 160.0 == pytest.approx(160.0 - tick_to_px(-10.0, 10.0, 320))


# ------------------------------------------------------------------------ terrain
@settings(max_examples=12, deadline=None)
@given(st.integers(min_value=-20, max_value=20))
def test_valley_appears_where_u_has_its_minimum(i_min):
    n, dx, W = 32, 2.0, 256
    x = np.arange(-n, n + 1) * dx
    U = 0.001 * x - np.exp(-0.5 * ((x - i_min * dx) / 6.0) ** 2)   # one vacuum on a gentle slope
    img = render_texture(flat_scene(width=W, height=200, U=U))
    a, _, _ = band_heights(200)
    line = colour_mask(img[:a], "terrain_line", tol=30)
    ys = np.array([np.flatnonzero(line[:, c]).mean() if line[:, c].any() else -1 for c in range(W)])
    ys[W // 2 - 9:W // 2 + 9] = -1   # the probe sits on the terrain at x = 0 and hides the line there
    deepest = np.flatnonzero(ys >= ys.max() - 0.5).mean()   # screen y grows downward: the valley is lowest
    tol = 2 * dx if abs(i_min) > 4 else 6 * dx
    assert abs(px_to_tick(deepest + 0.5, n * dx, W) - i_min * dx) <= tol


def test_normalize_potential_keeps_shape_and_handles_flat():
    v = np.array([3.0, 1.0, 2.0, 5.0])
    n = normalize_potential(v)
    assert n.min() == -1.0 and n.max() == 1.0 and np.argmin(n) == 1
    assert np.array_equal(normalize_potential(np.full(5, 7.0)), np.zeros(5))


# ------------------------------------------------------------------------ walls
def wall_kw(strength, d_strength=0.0, meter=None):
    return dict(wall_center=np.array([20.0]), wall_strength=np.array([strength]), wall_width=np.array([4.0]),
                wall_s_max=np.array([10.0]), wall_d_strength=np.array([d_strength]),
                wall_meter=None if meter is None else np.array([meter]))


def test_wall_of_strength_zero_draws_no_gate():
    assert np.array_equal(render_texture(flat_scene(**wall_kw(0.0))), render_texture(flat_scene()))


def test_gate_opacity_grows_with_strength_and_stays_in_its_width():
    none = render_texture(flat_scene()).astype(int)
    weak = render_texture(flat_scene(**wall_kw(2.0))).astype(int)
    strong = render_texture(flat_scene(**wall_kw(9.0))).astype(int)
    a, _, _ = band_heights(200)
    x0, x1 = tick_to_px(18.0, 64.0, 320), tick_to_px(22.0, 64.0, 320)   # σ = 4 ticks: centre 20 ± 2
    cols = slice(int(x0) + 2, int(x1) - 1)
    d_weak = np.abs(weak - none)[a // 2:a - 30, cols].mean()
    d_strong = np.abs(strong - none)[a // 2:a - 30, cols].mean()
    assert 0 < d_weak < d_strong
    far = slice(0, int(x0) - 10)   # outside the gate (and its glow) nothing changes
    assert np.array_equal(strong[:a, far], none[:a, far])


@pytest.mark.parametrize("sigma, zoom", [(4.0, 64.0), (10.0, 64.0), (6.0, 40.0)])
def test_gate_spans_sigma(sigma, zoom):
    """Spec 4.2: gate width = wall σ, i.e. the filled gate covers centre ± σ/2 (not ± σ)."""
    kw = wall_kw(9.0)
    kw["wall_width"] = np.array([sigma])
    W = 640
    base = flat_scene(width=W).zoomed(zoom)
    gate = render_texture(flat_scene(width=W, **kw).zoomed(zoom)).astype(int)
    none = render_texture(base).astype(int)
    a, _, _ = band_heights(200)
    row = a // 2 - 20                      # a row in band A away from the wear meter, arrows and probe
    changed = np.flatnonzero(np.abs(gate[row] - none[row]).max(axis=1) > 0)
    ppt = W / (2 * zoom)
    span_px = changed.max() - changed.min() + 1
    # fill spans σ·ppt; the crisp anti-aliased edge adds at most ~1 px on each side
    assert abs(span_px - sigma * ppt) <= 3, (span_px, sigma * ppt)
    assert abs((changed.max() + changed.min() + 1) / 2 - tick_to_px(20.0, zoom, W)) <= 1.0


def test_glow_only_on_fast_change():
    slow = render_texture(flat_scene(**wall_kw(5.0, d_strength=0.1))).astype(int)
    fast = render_texture(flat_scene(**wall_kw(5.0, d_strength=1.0))).astype(int)
    x1 = tick_to_px(22.0, 64.0, 320)
    ring = slice(int(x1) + 2, int(x1) + 5)
    assert np.abs(fast - slow)[:, ring].sum() > 0
    inside = slice(int(tick_to_px(19.0, 64.0, 320)), int(tick_to_px(21.0, 64.0, 320)))
    assert np.array_equal(fast[:, inside], slow[:, inside])


def test_wear_meter_fill_tracks_meter_value():
    a, _, _ = band_heights(200)
    gx = int(tick_to_px(20.0, 64.0, 320))
    counts = []
    for m in (0.2, 0.5, 0.9):
        img = render_texture(flat_scene(**wall_kw(5.0, meter=m)))
        counts.append(int(colour_mask(img[:a, gx - 1:gx + 2], "meter", tol=30).sum()))
    assert counts[0] < counts[1] < counts[2]


# ------------------------------------------------------------------------ haze
@settings(max_examples=10, deadline=None)
@given(st.floats(min_value=0.0, max_value=1e6))
def test_haze_opacity_is_capped(gamma):
    clear = render_texture(flat_scene()).astype(float) / 255
    hazy = render_texture(flat_scene(G=np.full(65, gamma))).astype(float) / 255
    haze = np.array(PALETTE["haze"])
    bound = HAZE_CAP * np.abs(haze - clear[..., :3]) + 1.5 / 255
    ok = np.abs(hazy[..., :3] - clear[..., :3]) <= bound
    ok[40:90, 145:175] = True   # the probe is drawn over the haze; its anti-aliased rim sees the haze beneath
    assert ok.all()


def test_haze_cap_above_limit_is_rejected():
    with pytest.raises(ValueError, match="haze_cap"):
        pack(flat_scene(haze_cap=0.9))


# ------------------------------------------------------------------------ currents
@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_arrows_point_with_c(sign):
    W, n, dx = 320, 32, 2.0
    img = render_texture(flat_scene(width=W, C=np.full(2 * n + 1, sign * 8.0)))
    a, _, _ = band_heights(200)
    yb = int(0.90 * a)
    cur = colour_mask(img[yb - 1:yb + 2], "current", tol=40).any(axis=0)
    spacing = dx * W / (2 * n * dx)      # 5 px per bucket -> stride 2
    stride = 2
    for j in (-20, -10, 10, 20):
        ax = tick_to_px(j * dx, n * dx, W)
        ahead = int(ax + sign * 0.4 * spacing * stride)
        behind = int(ax - sign * 0.1 * spacing * stride)
        assert cur[ahead], (j, ahead)
        assert not cur[behind], (j, behind)


def test_arrow_density_one_per_bucket_or_every_other():
    from marketphys.render.layout import arrow_stride
    assert arrow_stride(2.0, 64.0, 1280) == 1      # 20 px per bucket
    assert arrow_stride(2.0, 64.0, 480) == 2       # 7.5 px per bucket
    assert arrow_stride(2.0, 256.0, 1280) == 2     # 5 px


# ------------------------------------------------------------------------ probe and ladders
def test_velocity_arrow_points_with_v():
    a, _, _ = band_heights(200)
    right = colour_mask(render_texture(flat_scene(probe_v=30.0))[:a], "velocity", tol=40)
    left = colour_mask(render_texture(flat_scene(probe_v=-30.0))[:a], "velocity", tol=40)
    assert np.flatnonzero(right.any(axis=0)).mean() > 165 and np.flatnonzero(left.any(axis=0)).mean() < 155


def test_forecast_ladder_near_horizons_are_bigger():
    x_hat = np.array([-40.0, -12.0, 12.0, 40.0])
    img = render_texture(flat_scene(x_hat=x_hat))
    a, b, _ = band_heights(200)
    m = colour_mask(img[a:a + b], "forecast", tol=60)
    sizes = [int(m[:, int(tick_to_px(x, 64.0, 320)) - 7:int(tick_to_px(x, 64.0, 320)) + 8].sum()) for x in x_hat]
    assert sizes[0] > sizes[1] > sizes[2] > sizes[3] > 0


def test_resolved_ladder_draws_error_bar_only_when_resolved():
    kw = dict(resolved_pred=np.array([-20.0, 0, 0, 0]), resolved_actual=np.array([20.0, 0, 0, 0]))
    a, b, _ = band_heights(200)
    with_res = render_texture(flat_scene(**kw))[a + b:]
    without = render_texture(flat_scene())[a + b:]
    err = colour_mask(with_res, "error", tol=60)
    assert err.any() and not colour_mask(without, "error", tol=60).any()
    cols = np.flatnonzero(err.any(axis=0))
    assert tick_to_px(-20, 64, 320) - 2 <= cols.min() and cols.max() <= tick_to_px(20, 64, 320) + 2


# ------------------------------------------------------------------------ validation
@pytest.mark.parametrize("kw, field", [
    (dict(U=np.full(65, np.nan)), "U"),
    (dict(x_hat=np.array([1.0, np.inf, 0, 0])), "x_hat"),
    (dict(x_half=-3.0), "x_half"),
    (dict(n_contours=9), "n_contours"),
    (dict(C=np.zeros(10)), "C"),
    (dict(resolved_pred=np.zeros(3), resolved_actual=np.zeros(4)), "resolved_pred"),
    (dict(x_hat=np.zeros(9)), "x_hat.*1..8"),
])
def test_bad_input_names_the_field(kw, field):
    with pytest.raises(ValueError, match=field):
        pack(flat_scene(**kw))


# ------------------------------------------------------------------------ shader equivalence
@pytest.fixture(scope="module", params=SHADER_BACKENDS)
def shader_be(request):
    from marketphys.render import render_backends
    if "msl-cpu" not in render_backends():
        pytest.skip("msl-cpu backend unavailable: no working C++ compiler on this platform "
                    "(scripts/ensure_test_tools.sh installs g++)")
    yield shader_backend(request.param)
    assert_standin_clean()


@pytest.fixture(scope="module")
def msl_cpu(shader_be):
    from marketphys.render import kernel_backend
    return lambda scene: kernel_backend.render(pack(scene), shader_be)


@pytest.mark.parametrize("scene", [rich_scene(), rich_scene(333, 171), rich_scene(257, 99).zoomed(9.0), flat_scene(31, 23),
                                   flat_scene(64, 40, **wall_kw(0.0))],
                         ids=["rich", "odd", "zoomed", "tiny", "zero-wall"])
def test_render_metal_matches_numpy_reference(msl_cpu, scene):
    want = render_texture(scene)
    got = msl_cpu(scene)
    diff = np.abs(want.astype(int) - got.astype(int))
    assert diff.max() <= 1, f"{(diff > 1).mean():.4%} pixels differ by > 1 (max {diff.max()})"


@pytest.mark.parametrize("scene", [rich_scene(), rich_scene(257, 99).zoomed(9.0), flat_scene(31, 23)], ids=["rich", "zoomed", "tiny"])
def test_prepass_records_match_numpy(shader_be, scene):
    """The kernel's per-column and per-row records equal the NumPy twin's (float32 rounding aside)."""
    from marketphys.render import kernel_backend
    from marketphys.render.reference import column_data, row_data

    pk = pack(scene)
    cols, rows = kernel_backend.prepass(pk, shader_be)
    np.testing.assert_allclose(cols, column_data(pk), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(rows, row_data(pk), rtol=1e-5, atol=1e-6)


@pytest.fixture
def brute_force(monkeypatch):
    """The NumPy reference with every row-range shortcut switched off: each shape is evaluated on every row."""
    import marketphys.render.reference as ref

    monkeypatch.setattr(ref, "_rows", lambda py, lo, hi: slice(0, py.size))
    return lambda scene: ref.render_packed(pack(scene))


@st.composite
def random_scenes(draw):
    n = draw(st.integers(3, 24))
    m = 2 * n + 1
    dx = draw(st.sampled_from([0.25, 1.0, 2.0]))
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    span = n * dx
    k = draw(st.integers(0, 4))
    nh = draw(st.integers(1, 8))
    res = draw(st.booleans())
    pred = rng.normal(0, span / 2, nh) if res else None
    act = rng.normal(0, span / 2, nh) if res else None
    if res and nh > 1:
        act[rng.integers(nh)] = np.nan                  # one horizon not resolved yet
    return RenderScene(U=rng.normal(0, 3, m), O=rng.normal(0, 1, m), C=rng.normal(0, 12, m), G=np.abs(rng.normal(0, 5, m)),
                       dx=dx, wall_center=rng.uniform(-1.2 * span, 1.2 * span, k), wall_strength=rng.uniform(0, 12, k),
                       wall_width=rng.uniform(0.1, span / 2, k), wall_s_max=np.full(k, 10.0),
                       wall_d_strength=rng.normal(0, 1.5, k), probe_v=float(rng.normal(0, 40)), probe_a=float(rng.normal(0, 200)),
                       x_hat=rng.normal(0, span / 2, nh), resolved_pred=pred, resolved_actual=act,
                       x_half=draw(st.sampled_from([None, span / 3, span * 1.5])), width=draw(st.integers(16, 160)),
                       height=draw(st.integers(20, 120)), n_contours=draw(st.integers(3, 7)))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])   # the patch is stateless
@given(random_scenes())
def test_kernel_shortcuts_never_cut_a_shape(msl_cpu, brute_force, scene):
    """Random scenes: the kernel (column/row records, masks, row-range early-outs) and the NumPy
    reference with row shortcuts off agree pixel for pixel, so no bound hides part of a shape."""
    want = brute_force(scene)
    got = msl_cpu(scene)
    diff = np.abs(want.astype(int) - got.astype(int))
    assert diff.max() <= 1, f"{(diff > 1).sum()} pixels differ by > 1"


@pytest.mark.parametrize("scene", [rich_scene(200, 160), rich_scene(333, 171).zoomed(12.0)], ids=["rich", "zoomed"])
def test_numpy_row_shortcuts_are_exact(monkeypatch, scene):
    """Shading only the rows a shape can reach gives the very same texture as shading every row."""
    import marketphys.render.reference as ref

    fast = ref.render_packed(pack(scene))
    monkeypatch.setattr(ref, "_rows", lambda py, lo, hi: slice(0, py.size))
    assert np.array_equal(fast, ref.render_packed(pack(scene)))
