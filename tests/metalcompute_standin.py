"""A stand-in for metalcompute 0.2.9, for tests only (never installed): the API surface
``marketphys.kernels.metal.MetalBackend`` uses, behaving as the package does (read from its
0.2.9 source and README), with the MSL compiled as C++ through the msl-cpu build.

Modelled behaviour, and the mistake each one makes visible:

- ``Device()`` opens the default device, ``Device(i)`` device ``i`` (one here; a bad index
  raises ``error("Cannot create device")``).
- ``dev.kernel(src)`` compiles a source *string*: a quoted ``#include "..."`` left in it
  fails, as Metal has no file to read. Compile errors raise ``error`` with the diagnostics.
- ``.function(name)``; an unknown name raises ``error("Function not found")``.
- ``dev.buffer(n)`` is ``n`` zero bytes, ``dev.buffer(obj)`` a copy of a buffer object; both
  expose the buffer protocol (read them with ``numpy.frombuffer``).
- ``fn(count, *bufs)``: every argument that is not a ``dev.buffer`` is *copied* into a
  temporary buffer at call time, so a kernel's writes to it are lost (outputs must be device
  buffers); a Python int/float becomes a zero-filled buffer of that many bytes (so a scalar
  passed for the Params struct reads as zeros); the grid is rounded up to whole threadgroups
  of ``THREADS_PER_THREADGROUP``, so a kernel without the ``gid >= p.n`` guard runs past its
  data (writes past a buffer's end are caught by a canary and recorded in ``faults``).
- The call returns a handle; the kernel's writes land only when the handle completes, which
  is when it is deleted. Reading outputs while a handle is alive sees stale data, and
  ``pending()`` counts handles never completed (a bare call left in a notebook's ``Out[]``).
"""

from __future__ import annotations

import ctypes
import weakref

import numpy as np

from marketphys.kernels.msl_cpu import MslCpuBuildError, build_source, default_workers

THREADS_PER_THREADGROUP = 1024
"""threadExecutionWidth (32) x maxTotalThreadsPerThreadgroup / 32 on Apple GPUs: what 0.2.9
dispatches per threadgroup, ``ceil(count / 1024)`` threadgroups."""

CANARY_BYTES = 1 << 16
CANARY = 0xA5

faults: list[str] = []
"""Writes past a buffer's end found when a run completed (a destructor cannot raise)."""

_live_runs: "weakref.WeakSet[Run]" = weakref.WeakSet()


class error(Exception):  # noqa: N801 - metalcompute's own name for its exception
    """metalcompute.error"""


def pending() -> int:
    """Handles returned by ``fn(...)`` and not completed yet (stand-in only)."""
    return sum(1 for r in _live_runs if not r.completed)


def reset() -> None:
    faults.clear()


def get_devices():
    return [_DeviceInfo()]


class _DeviceInfo:
    deviceName = "msl-cpu stand-in"  # noqa: N815
    hasUnifiedMemory = True  # noqa: N815


class Buffer(bytearray):
    """metalcompute.Buffer: fixed-length bytes with the buffer protocol."""

    def __str__(self) -> str:
        return f"metalcompute.Buffer(length={len(self)})"


def _to_buffer(obj) -> Buffer:
    """As 0.2.9's ``to_buffer``/``Buffer_init``: a buffer object is copied, a number becomes
    that many zero bytes, anything else is refused."""
    if type(obj) is Buffer:
        return obj
    try:
        view = memoryview(obj)
    except TypeError:
        view = None
    if view is not None:
        if not view.c_contiguous:
            raise error("Unsupported input format")
        return Buffer(view.tobytes())
    try:
        length = int(obj)
    except (TypeError, ValueError):
        raise error("Unsupported input format") from None
    if length < 0:
        raise error("Could not make buffer")
    return Buffer(length)


class Device:
    def __init__(self, device_index: int = -1):
        if device_index >= len(get_devices()):
            raise error("Cannot create device")
        self.index = device_index

    def __str__(self) -> str:
        return "metalcompute.Device(msl-cpu stand-in)"

    def kernel(self, program: str) -> "Kernel":
        return Kernel(self, program)

    def buffer(self, length_or_buffer) -> Buffer:
        return _to_buffer(length_or_buffer) if type(length_or_buffer) is not Buffer else Buffer(length_or_buffer)


class Kernel:
    def __init__(self, dev: Device, program: str):
        if not isinstance(program, str):
            raise TypeError("argument 1 must be str")
        for line in program.splitlines():
            if line.strip().startswith("#include") and '"' in line:
                raise error(f"Failed to compile: {line.strip()}: file not found (metalcompute compiles a string; "
                            f"inline quoted includes first)")
        self.dev = dev
        try:
            self._lib = ctypes.CDLL(str(build_source(program, "standin", extra_flags=("-DMP_LANES=1",))))
        except MslCpuBuildError as err:
            raise error(str(err)) from err

    def function(self, name: str) -> "Function":
        return Function(self, name)


class Function:
    def __init__(self, kern: Kernel, name: str):
        try:
            self._entry = getattr(kern._lib, f"mp_entry_{name}")
        except AttributeError:
            raise error("Function not found") from None
        self._entry.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_uint32, ctypes.c_uint32]
        self._entry.restype = ctypes.c_int
        self.kern, self.name = kern, name

    def __call__(self, *args) -> "Run":
        return Run(self, args)


class Run:
    """The handle ``fn(...)`` returns: the work is done (and becomes visible) when it is deleted."""

    completed = True  # until __init__ has succeeded: a refused call has nothing to run

    def __init__(self, fn: Function, args: tuple):
        if len(args) < 2:
            raise error("Buffer not found")
        count = args[0]
        if not isinstance(count, (int, float, np.integer, np.floating)):
            raise error("First argument should be an integer kernel count")
        self.fn = fn
        self.count = int(count)
        self.bufs = tuple(_to_buffer(a) for a in args[1:])  # copies taken now, as 0.2.9 does
        self.completed = False
        _live_runs.add(self)

    @property
    def threads(self) -> int:
        """The grid actually run: whole threadgroups."""
        tg = THREADS_PER_THREADGROUP
        return -(-self.count // tg) * tg

    def _complete(self) -> None:
        if self.completed:
            return
        self.completed = True
        if self.count <= 0:
            return
        scratch = []
        for b in self.bufs:
            s = np.full(len(b) + CANARY_BYTES, CANARY, np.uint8)
            s[:len(b)] = np.frombuffer(b, np.uint8)
            scratch.append(s)
        ptrs = (ctypes.c_void_p * len(scratch))(*[s.ctypes.data for s in scratch])
        self.fn._entry(ptrs, self.threads, default_workers())
        for i, (b, s) in enumerate(zip(self.bufs, scratch)):
            if np.any(s[len(b):] != CANARY):
                faults.append(f"{self.fn.name}: buffer {i} written past its end ({len(b)} bytes) by a grid of "
                              f"{self.threads} threads for count={self.count}")
            np.frombuffer(b, np.uint8)[:] = s[:len(b)]

    def __del__(self):
        self._complete()

    def __str__(self) -> str:
        return "metalcompute.Run"
