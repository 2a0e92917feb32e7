"""Shader infrastructure: the MSL-subset lint, struct layouts, the inliner, the generic
dispatch layer (what a new kernel such as shaders/render.metal uses), backend choice."""

from __future__ import annotations

import sys
import textwrap

import numpy as np
import pytest

from fixtures_kernels import SHADER_BACKENDS, assert_standin_clean, shader_backend
from marketphys.kernels import available_backends, choose_backend, get_backend, layout
from marketphys.kernels.lint import lint_file, lint_source, struct_fields
from marketphys.kernels.msl_cpu import MslCpuBuildError, build
from marketphys.kernels.source import SHADER_DIR, ShaderSourceError, inline_includes, shader_files

GOOD = textwrap.dedent("""\
    #include <metal_stdlib>
    using namespace metal;

    struct PaintParams {
        uint n;
        uint width;
        float gain;
    };

    // RGBA8 pixels from a float field: the shape of a render kernel.
    kernel void paint(constant PaintParams& p [[buffer(0)]],
                      device const float* field [[buffer(1)]],
                      device uchar* rgba [[buffer(2)]],
                      uint gid [[thread_position_in_grid]]) {
        if (gid >= p.n) return;
        uint x = gid % p.width;
        float v = clamp(field[x] * p.gain, 0.0f, 1.0f);
        rgba[4u * gid] = uchar(v * 255.0f + 0.5f);
        rgba[4u * gid + 1u] = uchar(gid / p.width);
        rgba[4u * gid + 2u] = 0;
        rgba[4u * gid + 3u] = 255;
    }
    """)


@pytest.fixture(scope="module", params=SHADER_BACKENDS)
def msl(request):
    """msl-cpu, and MetalBackend on the metalcompute stand-in (fixtures_kernels)."""
    yield shader_backend(request.param)
    assert_standin_clean()


@pytest.mark.parametrize("path", shader_files(), ids=lambda p: p.name)
def test_every_shader_is_inside_the_msl_subset(path):
    assert lint_file(path) == []


def test_the_lint_catches_what_it_claims():
    assert lint_source(GOOD) == []
    bad = {
        "float y = x * 0.5;": "needs an `f` suffix",
        "half h = 1.0h;": "half types",
        "threadgroup_barrier(mem_flags::mem_threadgroup);": "barriers",
        "float2 q = float2(1.0f, 2.0f); float r = q.xy.x;": "swizzles",
        "atomic_fetch_add_explicit(a, 1, memory_order_relaxed);": "atomics",
        "float s = simd_sum(1.0f);": "simdgroup",
    }
    for stmt, why in bad.items():
        src = GOOD.replace("uint x = gid % p.width;", f"uint x = gid % p.width; {stmt}")
        assert any(why in msg for msg in lint_source(src)), (stmt, lint_source(src))
    no_guard = GOOD.replace("if (gid >= p.n) return;", "")
    assert any("first statement" in m for m in lint_source(no_guard))
    wrong_index = GOOD.replace("[[buffer(2)]]", "[[buffer(3)]]")
    assert any("metalcompute binds by position" in m for m in lint_source(wrong_index))
    no_space = GOOD.replace("device const float* field", "const float* field")
    assert any("address space" in m for m in lint_source(no_space))
    bool_field = GOOD.replace("float gain;", "float gain;\n    bool flag;")
    assert any("4-byte" in m for m in lint_source(bool_field))


def test_struct_dtypes_mirror_the_header():
    fields = struct_fields((SHADER_DIR / "include" / "mp_params.h").read_text())
    assert set(fields) == set(layout.STRUCTS)
    kinds = {"uint": np.dtype("<u4"), "int": np.dtype("<i4"), "float": np.dtype("<f4")}
    for name, dt in layout.STRUCTS.items():
        assert [f for _, f, _ in fields[name]] == list(dt.names), name
        for typ, fname, n in fields[name]:
            sub = dt.fields[fname][0]
            base, shape = (sub.subdtype if sub.subdtype else (sub, ()))
            want = layout.STRUCTS.get(typ) or kinds[typ]
            assert base == want and shape == ((n,) if n else ()), (name, fname)
        assert dt.itemsize == 4 * sum((n or 1) * (layout.STRUCTS[t].itemsize // 4 if t in layout.STRUCTS else 1)
                                      for t, _, n in fields[name])


def test_inliner_inlines_once_and_reports_missing(tmp_path):
    src = inline_includes("replay")
    assert '#include "' not in src and src.count("#define MP_COMMON_H") == 1
    bad = tmp_path / "bad.metal"
    bad.write_text('#include <metal_stdlib>\n#include "nope.h"\n')
    with pytest.raises(ShaderSourceError, match="nope.h"):
        inline_includes(bad)
    a, b = tmp_path / "a.h", tmp_path / "b.h"
    a.write_text('#include "b.h"\n')
    b.write_text('#include "a.h"\n')
    with pytest.raises(ShaderSourceError, match="include cycle"):
        inline_includes(a)
    with pytest.raises(ShaderSourceError, match="not found"):
        inline_includes("no_such_kernel")


def test_generic_dispatch_runs_a_new_kernel_without_code_changes(msl, tmp_path):
    path = tmp_path / "paint.metal"
    path.write_text(GOOD)
    width, height = 7, 3
    dt = np.dtype([("n", "<u4"), ("width", "<u4"), ("gain", "<f4")])
    params = np.array([(width * height, width, 2.0)], dtype=dt)
    field = np.linspace(-0.2, 0.7, width).astype(np.float32)
    rgba = np.zeros((height, width, 4), np.uint8)
    msl.dispatch(path, "paint", width * height, params, field, rgba)
    want = np.round(np.clip(field * 2.0, 0, 1) * 255).astype(np.uint8)
    np.testing.assert_array_equal(rgba[1, :, 0], want)
    np.testing.assert_array_equal(rgba[:, 0, 1], [0, 1, 2])
    assert np.all(rgba[..., 3] == 255)


def test_dispatch_rejects_bad_buffers_with_clear_messages(msl):
    p = layout.pack(layout.RNG_PARAMS, n=4, n_steps=2, seed_lo=0, seed_hi=0, stream=0, lane_offset=0)
    words, normals = np.zeros((2, 2, 4), np.uint32), np.zeros((2, 2), np.float32)
    with pytest.raises(ValueError, match="params.n=4 but dispatching n=5"):
        msl.dispatch("rng", "philox_draws", 5, p, words, normals)
    with pytest.raises(ValueError, match="'normals'.*needs dtype float32"):
        msl.dispatch("rng", "philox_draws", 4, p, words, normals.astype(np.float64))
    with pytest.raises(ValueError, match="takes 3 buffers"):
        msl.dispatch("rng", "philox_draws", 4, p, words)
    with pytest.raises(ValueError, match="has no kernel 'nope'"):
        msl.dispatch("rng", "nope", 4, p, words, normals)
    with pytest.raises(ValueError, match="missing fields"):
        layout.pack(layout.RNG_PARAMS, n=1)


def test_double_promotion_is_a_build_error(tmp_path):
    path = tmp_path / "dbl.metal"
    path.write_text(GOOD.replace("float v = clamp(field[x] * p.gain, 0.0f, 1.0f);",
                                 "float v = clamp(field[x] * p.gain * 0.5, 0.0f, 1.0f);"))
    with pytest.raises(MslCpuBuildError, match="double-promotion|float-conversion"):
        build(path, cache=tmp_path / "cache")


def test_build_is_cached_by_source_hash(tmp_path):
    path = tmp_path / "paint.metal"
    path.write_text(GOOD)
    lib1 = build(path, cache=tmp_path / "c")
    assert build(path, cache=tmp_path / "c") == lib1
    path.write_text(GOOD.replace("255.0f", "254.0f"))
    assert build(path, cache=tmp_path / "c") != lib1


def test_backends_listing_and_auto_choice():
    rows = {name: (ok, why) for name, ok, why in available_backends()}
    assert rows["numpy"][0] and rows["msl-cpu"][0]
    if sys.platform != "darwin":
        assert rows["metal"] == (False, "Metal only on macOS")
        name, why = choose_backend()
        assert name == "msl-cpu" and "metal unavailable" not in why and "msl-cpu" in why
        assert get_backend("auto").name == "msl-cpu"
    with pytest.raises(ValueError, match="unknown kernel backend 'cuda2'"):
        get_backend("cuda2")


def test_missing_compiler_falls_back_to_numpy_with_a_message(monkeypatch):
    import marketphys.kernels as k

    monkeypatch.setenv("CXX", "/nonexistent/c++")
    monkeypatch.setattr(k, "_instances", {})
    rows = {name: (ok, why) for name, ok, why in available_backends()}
    assert rows["msl-cpu"] == (False, "no C++ compiler found (install g++ or clang++, or set CXX)")
    if sys.platform != "darwin":
        with pytest.warns(RuntimeWarning, match="auto picked numpy.*no C\\+\\+ compiler"):
            be = get_backend("auto")
        assert be.name == "numpy"


def test_cli_backends_prints_each_backend(capsys):
    from marketphys.cli import main

    assert main(["backends"]) == 0
    out = capsys.readouterr().out
    assert "msl-cpu" in out and "numpy" in out and "metal" in out
