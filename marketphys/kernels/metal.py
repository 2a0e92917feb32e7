"""The metal backend: shaders/*.metal on the GPU through metalcompute (macOS, Apple Silicon).

metalcompute 0.2.9 facts designed around (docs/architecture.md#kernels-and-backends): source compiled from
a string (quoted includes inlined first); ``fn(count, *bufs)`` dispatches ``count``
threads rounded up to whole threadgroups (every kernel starts with the ``gid >= p.n``
guard); inputs may be any buffer (copied each call) but outputs must be
``dev.buffer``s; a call returns a handle that waits when deleted; fast math is on.
Device buffers are allocated once per (kernel, slot, size) and reused across frames.

``MetalBackend(module=...)`` takes any module with metalcompute's API instead of the real
one: the test suite passes its stand-in (tests/metalcompute_standin.py), which runs the
same calls through the msl-cpu compiler on Linux and models those traps, so every line
here runs in CI.
"""

from __future__ import annotations

import platform
import sys

import numpy as np

from marketphys.kernels.base import BackendUnavailable, ShaderBackend
from marketphys.kernels.source import EntryPoint, inline_includes


def metal_platform_ok() -> tuple[bool, str]:
    if sys.platform != "darwin":
        return False, "Metal only on macOS"
    if platform.machine() != "arm64":
        return False, "metalcompute wheels exist only for Apple Silicon (arm64)"
    try:
        import metalcompute  # noqa: F401
    except ImportError as err:
        return False, f"metalcompute is not installed ({err}); pip install 'metalcompute>=0.2.9'"
    return True, "metalcompute"


class MetalBackend(ShaderBackend):
    name = "metal"

    def __init__(self, device_index: int | None = None, *, module=None):
        if module is None:
            ok, why = metal_platform_ok()
            if not ok:
                raise BackendUnavailable(f"metal: {why}")
            import metalcompute as mc
        else:
            mc = module
        self.module_name = mc.__name__

        try:
            self.dev = mc.Device() if device_index is None else mc.Device(device_index)
        except Exception as err:  # noqa: BLE001 - any device failure means "unavailable"
            raise BackendUnavailable(f"metal: cannot open a Metal device ({err})") from err
        self._fns: dict[tuple[str, str], object] = {}
        self._bufs: dict[tuple[str, int, int], object] = {}

    def function(self, path, entry: str):
        key = (str(path), entry)
        fn = self._fns.get(key)
        if fn is None:
            fn = self._fns[key] = self.dev.kernel(inline_includes(path)).function(entry)
        return fn

    def _device_buffer(self, entry: str, slot: int, nbytes: int):
        key = (entry, slot, nbytes)
        buf = self._bufs.get(key)
        if buf is None:
            buf = self._bufs[key] = self.dev.buffer(nbytes)
        return buf

    def _run(self, path, entry: EntryPoint, n: int, arrays: list[np.ndarray], width: int = 1) -> None:
        fn = self.function(path, entry.name)
        args, outs = [], []
        for slot, (spec, a) in enumerate(zip(entry.buffers, arrays)):
            if spec.writable:
                buf = self._device_buffer(entry.name, slot, a.nbytes)
                view = np.frombuffer(buf, dtype=np.uint8, count=a.nbytes)
                view[:] = a.reshape(-1).view(np.uint8)  # in/out buffers (lane state) start from the caller's data
                args.append(buf)
                outs.append((a, view))
            else:
                # plain bytes (structured dtypes too), never a bare Python int/float (that becomes a zero buffer)
                args.append(a.reshape(-1).view(np.uint8))
        if n:
            handle = fn(n, *args)
            del handle  # waits for completion; never leave it alive (e.g. in a notebook's Out[])
        for a, view in outs:
            a.reshape(-1).view(np.uint8)[:] = view
