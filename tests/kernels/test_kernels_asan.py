"""An AddressSanitizer build of the same kernels: out-of-bounds writes the GPU would hide.

Runs the kernels on odd sizes in a subprocess with the ASan runtime preloaded (it must
come first in the process). Skips where the toolchain has no ASan runtime.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from marketphys.kernels.msl_cpu import find_compiler

ROOT = Path(__file__).resolve().parents[2]


def _asan_cxx() -> str | None:
    """The GNU toolchain when present: its libasan is what we preload (clang's sanitizer
    runtime has other names); the source under test is the same whichever compiler builds it."""
    return shutil.which("g++") or find_compiler()


def _asan_runtime() -> str | None:
    cxx = _asan_cxx()
    if cxx is None or sys.platform != "linux":
        return None
    out = subprocess.run([cxx, "-print-file-name=libasan.so"], capture_output=True, text=True)
    path = out.stdout.strip()
    return path if out.returncode == 0 and os.path.isabs(path) and os.path.exists(path) else None


def _asan_env(tmp_path, **extra) -> dict:
    return dict(os.environ, LD_PRELOAD=_asan_runtime(), CXX=_asan_cxx(), MARKETPHYS_KERNEL_CACHE=str(tmp_path),
                PYTHONPATH=str(ROOT), **extra)


SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    sys.path.insert(0, "tests")
    from fixtures_kernels import producers, synthetic_frames
    from marketphys.core.engine import EngineConfig
    from marketphys.core.fields import Fields
    from marketphys.core.grid import Grid
    from marketphys.core.integrator import IntegratorConfig
    from marketphys.kernels import ReplayBlock
    from marketphys.kernels.msl_cpu import ASAN_FLAGS, MslCpuBackend

    be = MslCpuBackend(workers=2, extra_flags=ASAN_FLAGS)
    for n in (1, 7):
        grid = Grid(n=n)
        contrib = np.random.default_rng(n).normal(size=(3, 5, grid.size))
        walls = np.zeros((3, 2, 3)); walls[..., 1] = 1.0; walls[..., 2] = 2.0
        fields = be.compose(grid, contrib, walls)
        f = Fields(grid, *fields[0].astype(float))
        for lanes in (1, 33):
            be.rollout(f, np.ones((lanes, 5)), np.full(lanes, 200.0), IntegratorConfig(horizons=3, substeps=3), seed=1)
    be.philox(3, 5, 7)
    grid = Grid(n=9)
    block = ReplayBlock.from_frames(synthetic_frames(90, grid, gaps=True), producers(), EngineConfig(grid=grid))
    be.calibrate(block, np.ones((3, 5)), trace=True, chunk_frames=31)
    print("asan-ok")
""")


@pytest.mark.slow
@pytest.mark.skipif(_asan_runtime() is None, reason="no AddressSanitizer runtime in this toolchain (libasan.so)")
def test_kernels_clean_under_address_sanitizer(tmp_path):
    env = _asan_env(tmp_path, ASAN_OPTIONS="detect_leaks=0:abort_on_error=1",
                    UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1")
    res = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0 and "asan-ok" in res.stdout, res.stderr[-4000:]


OOB_KERNEL = """#include <metal_stdlib>
using namespace metal;
struct P {
    uint n;
};
kernel void oob(constant P& p [[buffer(0)]], device float* out [[buffer(1)]], uint gid [[thread_position_in_grid]]) {
    if (gid >= p.n) return;
    out[gid + 1u] = 1.0f;
}
"""


@pytest.mark.skipif(_asan_runtime() is None, reason="no AddressSanitizer runtime in this toolchain (libasan.so)")
def test_address_sanitizer_build_catches_an_out_of_bounds_write(tmp_path):
    (tmp_path / "oob.metal").write_text(OOB_KERNEL)
    script = textwrap.dedent(f"""
        import numpy as np
        from marketphys.kernels.msl_cpu import ASAN_FLAGS, MslCpuBackend
        be = MslCpuBackend(workers=1, extra_flags=ASAN_FLAGS)
        be.dispatch({str(tmp_path / 'oob.metal')!r}, "oob", 8, np.array([(8,)], dtype=[("n", "<u4")]), np.zeros(8, np.float32))
        print("not caught")
    """)
    env = _asan_env(tmp_path, ASAN_OPTIONS="detect_leaks=0")
    res = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode != 0 and "heap-buffer-overflow" in res.stderr, (res.stdout, res.stderr[-2000:])
