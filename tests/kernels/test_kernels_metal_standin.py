"""The metalcompute stand-in (tests/metalcompute_standin.py) behaves like metalcompute 0.2.9 and
makes each trap it models visible, so the kernel tests that run MetalBackend on it would fail
if MetalBackend fell into one. Each trap test plants the mistake in a MetalBackend subclass."""

from __future__ import annotations

import textwrap

import metalcompute_standin as mc
import numpy as np
import pytest

from fixtures_kernels import assert_standin_clean, standin_metal
from marketphys.kernels import get_backend
from marketphys.kernels.metal import MetalBackend

REF = get_backend("numpy")

COPY = textwrap.dedent("""\
    #include <metal_stdlib>
    using namespace metal;
    struct CopyParams { uint n; float gain; };
    kernel void scale(constant CopyParams& p [[buffer(0)]], device const float* src [[buffer(1)]],
                      device float* out [[buffer(2)]], uint gid [[thread_position_in_grid]]) {
        if (gid >= p.n) return;
        out[gid] = src[gid] * p.gain;
    }
    kernel void unguarded(constant CopyParams& p [[buffer(0)]], device const float* src [[buffer(1)]],
                          device float* out [[buffer(2)]], uint gid [[thread_position_in_grid]]) {
        out[gid] = p.gain;
    }
""")
P = np.dtype([("n", "<u4"), ("gain", "<f4")])


@pytest.fixture(autouse=True)
def clean_faults():
    mc.reset()
    yield
    mc.reset()


@pytest.fixture(scope="module")
def fn():
    return mc.Device().kernel(COPY).function("scale")


def philox_ok(be) -> bool:
    """The RNG kernel's words equal the reference (outputs start zeroed, so lost writes show)."""
    from marketphys.core.rng import seed_key
    from marketphys.kernels import layout

    k0, k1 = seed_key(3)
    words, normals = np.zeros((5, 7, 4), np.uint32), np.zeros((5, 7), np.float32)
    p = layout.pack(layout.RNG_PARAMS, n=35, n_steps=7, seed_lo=k0, seed_hi=k1, stream=0, lane_offset=0)
    be.dispatch("rng", "philox_draws", 35, p, words, normals)
    return bool(np.array_equal(words, REF.philox(3, 5, 7)[0]))


def test_the_api_as_documented(fn):
    dev = mc.Device()
    assert str(mc.Device(0)).startswith("metalcompute.Device")
    with pytest.raises(mc.error, match="Cannot create device"):
        mc.Device(5)
    out = dev.buffer(4 * 3)
    assert bytes(out) == bytes(12)  # dev.buffer(n) is n zero bytes
    src = np.array([1.0, 2.0, 3.0], np.float32)
    h = fn(3, np.array([(3, 2.0)], P), src, out)
    del h  # completes the run
    np.testing.assert_array_equal(np.frombuffer(out, np.float32), [2.0, 4.0, 6.0])
    with pytest.raises(mc.error, match="Function not found"):
        dev.kernel(COPY).function("nope")
    with pytest.raises(mc.error, match="integer kernel count"):
        fn("3", src, out)
    with pytest.raises(mc.error, match="compil"):
        dev.kernel(COPY.replace("* p.gain;", "* p.gain"))


def test_quoted_includes_must_be_inlined_first():
    with pytest.raises(mc.error, match="inline quoted includes"):
        mc.Device().kernel('#include <metal_stdlib>\n#include "include/mp_common.h"\n' + COPY.split("\n", 1)[1])


def test_inputs_are_copied_at_call_time(fn):
    src = np.array([1.0, 2.0], np.float32)
    out = mc.Device().buffer(8)
    h = fn(2, np.array([(2, 1.0)], P), src, out)
    src[:] = 99.0  # the run took its copy when called
    del h
    np.testing.assert_array_equal(np.frombuffer(out, np.float32), [1.0, 2.0])


def test_output_that_is_not_a_device_buffer_loses_its_writes(fn):
    out = np.full(3, -1.0, np.float32)
    del_h = fn(3, np.array([(3, 2.0)], P), np.ones(3, np.float32), out)
    del del_h
    np.testing.assert_array_equal(out, [-1.0, -1.0, -1.0])  # written into a temporary copy, then dropped


def test_a_python_scalar_becomes_a_zero_buffer(fn):
    out = mc.Device().buffer(12)
    h = fn(3, 8, np.ones(3, np.float32), out)  # params passed as an int: 8 zero bytes, so p.n == 0
    del h
    assert bytes(out) == bytes(12)


def test_handle_completes_only_when_deleted(fn):
    out = mc.Device().buffer(4)
    h = fn(1, np.array([(1, 5.0)], P), np.ones(1, np.float32), out)
    assert mc.pending() == 1 and np.frombuffer(out, np.float32)[0] == 0.0  # not done while the handle lives
    del h
    assert mc.pending() == 0 and np.frombuffer(out, np.float32)[0] == 5.0


def test_grid_is_rounded_up_to_whole_threadgroups():
    out = mc.Device().buffer(4 * 3)
    h = mc.Device().kernel(COPY).function("unguarded")(3, np.array([(3, 1.0)], P), np.ones(3, np.float32), out)
    assert h.threads == mc.THREADS_PER_THREADGROUP
    del h
    assert mc.faults and "written past its end" in mc.faults[0] and "1024 threads for count=3" in mc.faults[0]


# ---- MetalBackend with each mistake planted: the stand-in shows it --------------------------------------
class OutputsAsPlainArrays(MetalBackend):
    def _device_buffer(self, entry, slot, nbytes):
        return np.zeros(nbytes, np.uint8)  # a numpy array where a dev.buffer is needed


class ScalarParams(MetalBackend):
    def function(self, path, entry):
        real = super().function(path, entry)
        return lambda n, params, *rest: real(n, int(np.frombuffer(params, np.uint32)[0]), *rest)


class ReadsBeforeCompletion(MetalBackend):
    def function(self, path, entry):
        real = super().function(path, entry)
        kept = self.__dict__.setdefault("kept", [])

        def call(*args):
            kept.append(real(*args))  # handle kept alive (as a notebook's Out[] would)
            return None
        return call


@pytest.mark.parametrize("planted", [OutputsAsPlainArrays, ScalarParams, ReadsBeforeCompletion],
                         ids=lambda c: c.__name__)
def test_metal_backend_mistakes_show(planted):
    assert philox_ok(standin_metal())
    be = planted(module=mc)
    assert not philox_ok(be)
    be.__dict__.pop("kept", None)
    assert_standin_clean()


def test_a_handle_left_alive_is_counted():
    be = ReadsBeforeCompletion(module=mc)
    philox_ok(be)
    with pytest.raises(AssertionError, match="never completed"):
        assert_standin_clean()
    be.kept.clear()
    assert_standin_clean()
