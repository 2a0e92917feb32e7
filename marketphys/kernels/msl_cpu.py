"""The msl-cpu backend: the very .metal sources compiled as C++ and called through ctypes.

A shim directory holding a file named ``metal_stdlib`` stands in for Metal's header
(address spaces and ``kernel`` as empty macros, the metal:: math used, vector types
with MSL sizes). Each shader is inlined, given generated C entry points (a thread
loop over ``thread_position_in_grid``, split over std::threads), compiled once with
``-Werror=double-promotion -Werror=float-conversion`` and cached by source hash.
This is how Linux CI exercises the real shader code.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np

from marketphys.kernels.base import BackendUnavailable, ShaderBackend
from marketphys.kernels.source import EntryPoint, entry_points, inline_includes, shader_path

SHIM_DIR = Path(__file__).resolve().parent / "shim"

CXXFLAGS = ("-std=c++17", "-O3", "-fPIC", "-shared", "-pthread", "-fno-math-errno", "-fno-trapping-math", "-Wall", "-Wextra",
            "-Wno-attributes", "-Wno-unused-parameter", "-Wno-unknown-pragmas",
            "-Werror=double-promotion", "-Werror=float-conversion", "-Werror=return-type")
"""Warnings as errors where a silent double computation or a missing return would slip through.
``-fno-trapping-math`` (no value changes: the kernels never read FP exception flags) lets g++
evaluate both sides of a select, which it needs to turn the lane loops into SIMD code."""

LANES_PER_THREAD = 16
"""Lanes each CPU thread advances together (MP_LANES) in a g++ build: 16 floats fill an AVX-512
register (two AVX2 ones), enough independent chains to hide the latency of a substep.
$MARKETPHYS_MSL_LANES overrides it (a power of two from 1 to 64) for experiments."""

LANES_PER_THREAD_CLANG = 32
"""The same for a clang build: two registers' worth, which clang schedules as two interleaved
chains (measured: replay ~4% and the ensemble ~3% less CPU time than 16; g++ spills at 32)."""


GROUP_MIN_LANES = 8
"""Fewer lanes than this run one lane per thread (MP_LANES=1 build): a lone lane (one session's
replay, one rollout) would otherwise pay for a whole group. Measured: one group costs about as
much as 7 single lanes."""


def lanes_per_thread() -> int:
    env = os.environ.get("MARKETPHYS_MSL_LANES")
    if not env:
        cxx = find_compiler()
        return LANES_PER_THREAD_CLANG if cxx and "clang" in compiler_identity(cxx).lower() else LANES_PER_THREAD
    if env not in {str(2**k) for k in range(7)}:
        raise ValueError(f"MARKETPHYS_MSL_LANES must be a power of two from 1 to 64, got {env!r}")
    return int(env)

SERIAL_BELOW = {"medium_table": 1 << 16, "compose_frames": 32}
"""Kernels whose threads do so little that starting a second OS thread (~45 µs measured) costs
more than it saves below this many threads: a frame's medium table (one thread per cell), a
few frames' composition."""

ASAN_FLAGS = ("-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-g", "-O1")


class MslCpuBuildError(RuntimeError):
    """The C++ compiler rejected a shader; carries its diagnostics."""


def cache_dir() -> Path:
    """Where compiled kernels live: $MARKETPHYS_KERNEL_CACHE or ~/.cache/marketphys/msl-cpu."""
    env = os.environ.get("MARKETPHYS_KERNEL_CACHE")
    if env:
        return Path(env)
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "marketphys" / "msl-cpu"


def find_compiler() -> str | None:
    """$CXX if set, else clang++ (newest version on PATH first), else c++ or g++.

    clang is preferred because its vectoriser turns the lane loops into faster SIMD code than
    g++ 12 here (benchmarks/RESULTS.md, Kernels: replay ~8% and the ensemble ~19% less CPU
    time on the same source); any of them builds the same kernels."""
    env = os.environ.get("CXX")
    if env:
        return shutil.which(env) or (env if Path(env).is_file() else None)
    for name in ("clang++", *versioned_clang(), "c++", "g++"):
        found = shutil.which(name)
        if found:
            return found
    return None


def versioned_clang() -> list[str]:
    """``clang++-N`` on PATH (Debian installs versioned names), newest first."""
    found = set()
    for d in os.environ.get("PATH", "").split(os.pathsep):
        try:
            names = os.listdir(d) if d else []
        except OSError:
            continue
        found.update(n for n in names if re.fullmatch(r"clang\+\+-\d+", n))
    return sorted(found, key=lambda n: int(n.rsplit("-", 1)[1]), reverse=True)


@lru_cache(maxsize=None)
def compiler_identity(cxx: str) -> str:
    try:
        out = subprocess.run([cxx, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise BackendUnavailable(f"msl-cpu: C++ compiler {cxx!r} does not run ({err}); install g++ or clang++ or set CXX") from err
    if out.returncode != 0:
        raise BackendUnavailable(f"msl-cpu: `{cxx} --version` failed: {out.stderr.strip()[:200]}")
    return out.stdout.splitlines()[0] if out.stdout else cxx


@lru_cache(maxsize=None)
def native_flags(cxx: str) -> tuple[str, ...]:
    """``-march=native`` (FMA, AVX2 where present) when the compiler accepts it and
    $MARKETPHYS_MSL_CPU_NATIVE is not 0; the library cache key then includes the CPU."""
    if os.environ.get("MARKETPHYS_MSL_CPU_NATIVE", "1") == "0":
        return ()
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "probe.cpp"
        src.write_text("int main() { return 0; }\n")
        try:
            res = subprocess.run([cxx, "-march=native", "-o", str(Path(tmp) / "probe"), str(src)], capture_output=True,
                                 timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            return ()
    return ("-march=native",) if res.returncode == 0 else ()


@lru_cache(maxsize=None)
def cpu_identity() -> str:
    """What -march=native depends on: the CPU model and its feature flags."""
    try:
        info = Path("/proc/cpuinfo").read_text()
        keys = [ln for ln in info.splitlines() if ln.startswith(("model name", "flags", "Features", "CPU part"))]
        return hashlib.sha256("\n".join(sorted(set(keys))).encode()).hexdigest()[:16]
    except OSError:
        import platform

        return platform.machine() + platform.processor()


def default_workers() -> int:
    """Threads per dispatch: $MARKETPHYS_THREADS, else the CPUs this process may use."""
    env = os.environ.get("MARKETPHYS_THREADS")
    if env:
        try:
            n = int(env)
        except ValueError:
            raise ValueError(f"MARKETPHYS_THREADS must be an integer, got {env!r}") from None
        if n < 1:
            raise ValueError(f"MARKETPHYS_THREADS must be >= 1, got {n}")
        return n
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS
        return max(1, os.cpu_count() or 1)


def generate_entry_wrappers(eps: list[EntryPoint]) -> str:
    """C entry points: ``int mp_entry_<name>(void** buffers, uint n, uint workers)``."""
    out = ["\n// ---- generated by marketphys.kernels.msl_cpu: C entry points over the thread grid ----"]
    for ep in eps:
        args = []
        for p in ep.params:
            if p.attribute == "thread_position_in_grid":
                args.append("gid")
            elif p.buffer_index is not None:
                t = p.decl_type
                args.append(f"*({t[:-1].strip()}*)b[{p.buffer_index}]" if p.is_reference else f"({t})b[{p.buffer_index}]")
            else:
                raise MslCpuBuildError(f"kernel {ep.name}: attribute [[{p.attribute}]] of {p.name!r} is outside the msl-cpu subset")
        call = f"{ep.name}({', '.join(args)});"
        out.append(f'extern "C" int mp_entry_{ep.name}(void** b, uint n, uint workers) {{\n'
                   f"    mp_cpu_parallel_for(n, workers, [&](uint lo, uint hi) {{\n"
                   f"        for (uint gid = lo; gid < hi; ++gid) {call}\n"
                   f"    }});\n    return 0;\n}}")
    return "\n".join(out) + "\n"


def translation_unit(path) -> str:
    """The C++ text msl-cpu compiles for a shader: inlined source + generated entry points."""
    return translation_unit_of(inline_includes(path))


def translation_unit_of(source: str) -> str:
    """The same for an already inlined source string (what metalcompute receives)."""
    from marketphys.kernels.source import parse_entry_points

    return source + generate_entry_wrappers(parse_entry_points(source))


def build(path, *, extra_flags: tuple[str, ...] = (), cache: Path | None = None) -> Path:
    """Compile a shader into a shared library (cached by source + shim + flags + compiler)."""
    return build_source(inline_includes(path), shader_path(path).stem, extra_flags=extra_flags, cache=cache)


def build_source(source: str, stem: str = "kernel", *, extra_flags: tuple[str, ...] = (), cache: Path | None = None) -> Path:
    """Compile an inlined MSL source string into a shared library (the cache is shared with ``build``)."""
    cxx = find_compiler()
    if cxx is None:
        raise BackendUnavailable("msl-cpu: no C++ compiler found (install g++ or clang++, or set CXX)")
    ident = compiler_identity(cxx)
    tu = translation_unit_of(source)
    shim = (SHIM_DIR / "metal_stdlib").read_text()
    flags = (*CXXFLAGS, *native_flags(cxx), *extra_flags)
    cpu = cpu_identity() if "-march=native" in flags else ""
    key = hashlib.sha256("\0".join((tu, shim, " ".join(flags), ident, cxx, cpu)).encode()).hexdigest()[:20]
    cache = cache or cache_dir()
    lib = cache / f"{stem}-{key}.so"
    if lib.is_file():
        return lib
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        cpp = Path(tmp) / f"{stem}.cpp"
        cpp.write_text(tu)
        out = Path(tmp) / lib.name
        cmd = [cxx, *flags, "-I", str(SHIM_DIR), "-o", str(out), str(cpp)]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            raise MslCpuBuildError(f"msl-cpu: compiling {stem} failed:\n{res.stderr[-4000:]}")
        os.replace(out, lib)  # atomic: a concurrent build never sees a half-written library
    return lib


class MslCpuBackend(ShaderBackend):
    """The shaders as native code on the CPU, parallel over lanes."""

    name = "msl-cpu"

    def __init__(self, workers: int | None = None, extra_flags: tuple[str, ...] = ()):
        if find_compiler() is None:
            raise BackendUnavailable("msl-cpu: no C++ compiler found (install g++ or clang++, or set CXX)")
        self.workers = workers or default_workers()
        self.lanes_per_thread = lanes_per_thread()
        self.extra_flags = tuple(extra_flags)
        self._libs: dict[tuple[Path, int], ctypes.CDLL] = {}
        self._fns: dict[tuple[Path, str, int], object] = {}
        self._lock = threading.Lock()

    def lane_width(self, lanes: int) -> int:
        """A few lanes run one per thread, and a wide group narrows to 16 for fewer lanes than it
        holds (a group would otherwise compute mostly padding)."""
        if lanes < GROUP_MIN_LANES:
            return 1
        width = self.lanes_per_thread
        while width > LANES_PER_THREAD and lanes < width:
            width //= 2
        return width

    def function(self, path: Path, entry: str, width: int | None = None):
        width = self.lanes_per_thread if width is None else width
        key = (path, entry, width)
        fn = self._fns.get(key)
        if fn is None:
            with self._lock:
                lib = self._libs.get((path, width))
                if lib is None:
                    flags = (f"-DMP_LANES={width}", *self.extra_flags)
                    lib = self._libs[(path, width)] = ctypes.CDLL(str(build(path, extra_flags=flags)))
                fn = getattr(lib, f"mp_entry_{entry}")
                fn.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_uint32, ctypes.c_uint32]
                fn.restype = ctypes.c_int
                self._fns[key] = fn
        return fn

    def _run(self, path, entry: EntryPoint, n: int, arrays: list[np.ndarray], width: int) -> None:
        fn = self.function(path, entry.name, width)
        ptrs = (ctypes.c_void_p * len(arrays))(*[_address(a) for a in arrays])
        workers = 1 if n < SERIAL_BELOW.get(entry.name, 0) else self.workers
        if n:
            fn(ptrs, n, workers)  # ctypes releases the GIL during the call


def _address(a: np.ndarray) -> int:
    """Data pointer of an array (structured dtypes via .ctypes: their __array_interface__ is slow to build)."""
    return a.ctypes.data if a.dtype.names is not None else a.__array_interface__["data"][0]


def probe() -> tuple[bool, str]:
    """Whether msl-cpu works here (compiles and runs the RNG kernel), and why not."""
    cxx = find_compiler()
    if cxx is None:
        return False, "no C++ compiler found (install g++ or clang++, or set CXX)"
    try:
        be = MslCpuBackend()
        words, _ = be.philox(seed=1, lanes=1, steps=1)
    except Exception as err:  # noqa: BLE001 - reported, never raised, by design
        return False, f"{type(err).__name__}: {str(err).splitlines()[0][:200]}"
    return True, f"{compiler_identity(cxx)}; {be.workers} threads; cache {cache_dir()}"
