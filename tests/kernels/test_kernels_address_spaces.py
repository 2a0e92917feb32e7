"""Metal's address-space rules, checked on Linux by the strict clang build (marketphys.kernels.lint).

The msl-cpu shim erases ``device``, ``constant`` and ``thread``, so these mistakes would
compile and run there and only fail on a Mac. Each test plants one violation in a kernel
that otherwise passes, and expects the strict build (run by ``lint_file`` on every
shader) to reject it naming the rule.
"""

from __future__ import annotations

import textwrap

import pytest

from marketphys.kernels import lint
from marketphys.kernels.lint import address_space_problems, lint_file, lint_source

BASE = textwrap.dedent("""\
    #include <metal_stdlib>
    using namespace metal;

    struct AddParams {
        uint n;
        float gain;
    };

    inline float first_thread(thread const float* a) { return a[0]; }
    inline float first_device(device const float* a) { return a[0]; }
    inline void bump(thread float& v) { v += 1.0f; }

    kernel void add(constant AddParams& p [[buffer(0)]],
                    device const float* src [[buffer(1)]],
                    constant float* weights [[buffer(2)]],
                    device float* out [[buffer(3)]],
                    uint gid [[thread_position_in_grid]]) {
        if (gid >= p.n) return;
        float local[2] = {src[gid], weights[0]};
        float acc = first_thread(local) + first_device(src) + weights[1] * p.gain;
        bump(acc);
        out[gid] = acc;
        /*PLANT*/
    }
""")


def planted(stmt: str) -> str:
    return BASE.replace("/*PLANT*/", stmt)


def test_the_clean_kernel_passes_both_checks():
    assert lint_source(BASE) == []
    assert address_space_problems(BASE) == []


@pytest.mark.parametrize("stmt", [
    pytest.param("out[0] = first_thread(src);", id="device-pointer-to-thread-parameter"),
    pytest.param("out[0] = first_device(weights);", id="constant-pointer-to-device-parameter"),
    pytest.param("out[0] = first_device(local);", id="thread-pointer-to-device-parameter"),
    pytest.param("bump(out[gid]);", id="device-reference-to-thread-reference"),
    pytest.param("device float* q = local; out[0] = q[0];", id="thread-address-as-device-pointer"),
    pytest.param("thread float* q = out; out[0] = q[0];", id="device-pointer-into-a-thread-pointer"),
    pytest.param("device float* q = weights; q[0] = 1.0f;", id="constant-pointer-into-a-device-pointer"),
    pytest.param("weights[0] = 1.0f;", id="write-through-a-constant-pointer"),
    pytest.param("p.n = 0u;", id="write-to-the-constant-params"),
])
def test_each_address_space_rule_is_enforced(stmt):
    src = planted(stmt)
    assert lint_source(src) == [], "the violation must be one only the strict build can see"
    problems = address_space_problems(src, "planted.metal")
    assert problems and all("address-space" in m and "planted.metal" in m for m in problems), problems


def test_threadgroup_pointers_are_their_own_space():
    # threadgroup memory is outside the subset (the lint says so); the strict build still keeps
    # it apart from device memory, as Metal does
    src = planted("threadgroup float* t = out; out[0] = t[0];")
    assert any("threadgroup" in m for m in lint_source(src))
    assert address_space_problems(src)


def test_member_function_on_device_memory_needs_the_qualifier():
    # (the subset lint also refuses a buffer struct with methods; this is the strict build's own finding)
    src = BASE.replace("struct AddParams {", "struct Pair { float a; float first() const { return a; } };\n\nstruct AddParams {")
    src = src.replace("device float* out [[buffer(3)]],", "device float* out [[buffer(3)]],\n                    device Pair* pairs [[buffer(4)]],")
    assert address_space_problems(src) == []
    bad = src.replace("/*PLANT*/", "out[0] = pairs[gid].first();")
    assert any("object parameter" in m for m in address_space_problems(bad)), address_space_problems(bad)


def test_lint_file_runs_the_strict_build(tmp_path):
    path = tmp_path / "bad.metal"
    path.write_text(planted("out[0] = first_thread(src);"))
    problems = lint_file(path)
    assert any("bad.metal" in m and "address-space" in m for m in problems), problems
    assert lint_file(path, address_spaces=False) == []


def test_missing_clang_is_a_failure_not_a_pass(monkeypatch):
    monkeypatch.setattr(lint, "find_clang", lambda: None)
    assert any("clang++ not found" in m for m in address_space_problems(BASE))
