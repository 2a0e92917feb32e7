"""Lint for the documented MSL subset every backend honours (shaders/README.md).

Run on each shaders/*.metal by the test suite, so the macOS path cannot rot on Linux:
an entry point must have the attributes metalcompute needs and start with the
``gid >= p.n`` guard (metalcompute rounds the grid up to whole threadgroups); no
half, threadgroup memory, barriers, atomics, simdgroup ops, textures, swizzles or
doubles; every float literal carries ``f``; structs hold only 4-byte fields.

``address_space_problems`` is the second half: Metal's address-space rules, which the
msl-cpu build erases, checked by compiling the inlined source with clang and the shim's
strict mode (``device``, ``constant`` and ``threadgroup`` as distinct
``__attribute__((address_space(N)))``, ``constant`` also const) under ``-fsyntax-only``.
``lint_file`` runs both, so CI fails on a shader Apple's compiler would reject for
mixing address spaces or writing through ``constant``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path

from marketphys.kernels.source import _strip_comments, inline_includes, parse_entry_points

FORBIDDEN = {
    r"\bhalf\d?\b": "half types",
    r"\bdouble\b": "double (not on Apple GPUs)",
    r"\bthreadgroup(_imageblock)?\b": "threadgroup memory",
    r"\b(threadgroup_barrier|simdgroup_barrier|mem_flags)\b": "barriers",
    r"\batomic\w*": "atomics",
    r"\bsimd_\w+|\bsimdgroup\w*|\bquad_\w+": "simdgroup/quad operations",
    r"\b(texture[123]d\w*|sampler|depth2d\w*)\b": "textures/samplers",
    r"\.(?:[xyzw]{2,4}|[rgba]{2,4})\b": "swizzles",
    r"\[\[\s*(stage_in|threadgroup_position_in_grid|threads_per_threadgroup|thread_position_in_threadgroup)\b": "attributes outside the subset",
    r"\bgoto\b": "goto",
}
_FLOAT_NO_F = re.compile(r"(?<![\w.])(\d+\.\d*|\.\d+)([eE][+-]?\d+)?(?![\w.])|(?<![\w.])\d+[eE][+-]?\d+(?![\w.])")
_STRUCT = re.compile(r"\bstruct\s+(\w+)\s*\{(.*?)\};", re.S)
FOUR_BYTE = {"uint", "int", "float"}


def struct_fields(source: str) -> dict[str, list[tuple[str, str, int]]]:
    """struct name -> [(type, field, array length or 0)] for every struct in ``source``."""
    out = {}
    for m in _STRUCT.finditer(_strip_comments(source)):
        fields = []
        for decl in m.group(2).split(";"):
            decl = " ".join(decl.split())
            if not decl:
                continue
            fm = re.fullmatch(r"(\w+) (\w+(?:\s*,\s*\w+)*)(?:\[(\w+)\])?", decl)
            if not fm:
                fields.append((decl, "?", -1))
                continue
            for name in fm.group(2).split(","):
                fields.append((fm.group(1), name.strip(), int(fm.group(3)) if fm.group(3) and fm.group(3).isdigit() else 0))
        out[m.group(1)] = fields
    return out


def lint_source(source: str, name: str = "<source>") -> list[str]:
    """Problems found in an (inlined) MSL source; empty when it is inside the subset."""
    problems = []
    code = _strip_comments(source)
    lines = [ln.strip() for ln in code.splitlines() if ln.strip()]
    if not lines or lines[0] != "#include <metal_stdlib>" or "using namespace metal;" not in lines[:3]:
        problems.append(f"{name}: must start with `#include <metal_stdlib>` and `using namespace metal;`")
    for ln in lines:
        if ln.startswith("#include") and ln != "#include <metal_stdlib>" and '"' not in ln:
            problems.append(f"{name}: only <metal_stdlib> and quoted shared headers may be included: {ln}")
    for pat, what in FORBIDDEN.items():
        for m in re.finditer(pat, code):
            problems.append(f"{name}: {what} are outside the subset: {m.group(0)!r}")
    for m in _FLOAT_NO_F.finditer(code):
        end = m.end()
        if end < len(code) and code[end] in "fF":
            continue
        line = code[:m.start()].count("\n") + 1
        problems.append(f"{name}:{line}: float literal {m.group(0)!r} needs an `f` suffix (else it computes in double)")
    structs = struct_fields(code)
    eps = parse_entry_points(source)
    if not eps:
        problems.append(f"{name}: no `kernel void` entry point")
    buffer_structs = {p.element_type for ep in eps for p in ep.params if p.element_type in structs}
    checked: set[str] = set()
    while buffer_structs - checked:
        sname = sorted(buffer_structs - checked)[0]
        checked.add(sname)
        for typ, field, n in structs[sname]:
            if typ in structs:
                buffer_structs.add(typ)
            elif n < 0 or typ not in FOUR_BYTE:
                problems.append(f"{name}: struct {sname} (passed in a buffer) field {field!r} has type {typ!r}; "
                                f"use 4-byte uint/int/float so Metal, C++ and numpy agree on the layout")
    for ep in eps:
        where = f"{name}: kernel {ep.name}"
        params = ep.params
        if not params or params[-1].attribute != "thread_position_in_grid" or params[-1].decl_type != "uint":
            problems.append(f"{where}: last parameter must be `uint gid [[thread_position_in_grid]]`")
        bufs = [p for p in params if p.buffer_index is not None]
        if len(bufs) != len(params) - 1:
            problems.append(f"{where}: every other parameter must be a [[buffer(i)]]")
        for i, p in enumerate(bufs):
            if p.buffer_index != i:
                problems.append(f"{where}: parameter {p.name!r} has [[buffer({p.buffer_index})]] but position {i} (metalcompute binds by position)")
            if p.address_space not in ("device", "constant"):
                problems.append(f"{where}: parameter {p.name!r} needs the device or constant address space")
        if not bufs or not (bufs[0].address_space == "constant" and bufs[0].is_reference):
            problems.append(f"{where}: buffer 0 must be the `constant Params& p` struct")
        elif bufs[0].element_type not in structs:
            problems.append(f"{where}: params struct {bufs[0].element_type!r} is not defined in the source")
        else:
            if "n" not in [f for _, f, _ in structs[bufs[0].element_type]]:
                problems.append(f"{where}: params struct {bufs[0].element_type} needs a `uint n` (thread count)")
            pname, gid = bufs[0].name, params[-1].name if params else "gid"
            first = ep.body.strip().split(";")[0] + ";"
            if " ".join(first.split()) != f"if ({gid} >= {pname}.n) return;":
                problems.append(f"{where}: first statement must be `if ({gid} >= {pname}.n) return;` (threadgroup round-up), got {first!r}")
    return problems


STRICT_FLAGS = ("-std=c++17", "-fsyntax-only", "-DMP_STRICT_ADDRESS_SPACES", "-Wno-attributes", "-Wno-unknown-attributes",
                "-Wno-unknown-pragmas", "-ferror-limit=20")


@lru_cache(maxsize=None)
def find_clang() -> str | None:
    """clang++ (or the newest clang++-N): the address_space attribute is a clang extension."""
    from marketphys.kernels.msl_cpu import versioned_clang

    for name in ("clang++", *versioned_clang()):
        found = shutil.which(name)
        if found:
            return found
    return None


def address_space_problems(source: str, name: str = "<source>") -> list[str]:
    """Metal address-space violations in an (inlined) MSL source, found by clang; empty when none.

    A missing clang is itself a problem (scripts/ensure_test_tools.sh installs it), never a pass."""
    from marketphys.kernels.msl_cpu import SHIM_DIR

    clang = find_clang()
    if clang is None:
        return [f"{name}: address spaces not checked: clang++ not found (run scripts/ensure_test_tools.sh "
                f"or install clang)"]
    with tempfile.TemporaryDirectory() as tmp:
        cpp = Path(tmp) / "shader.cpp"
        cpp.write_text(source)
        try:
            res = subprocess.run([clang, *STRICT_FLAGS, "-I", str(SHIM_DIR), "-x", "c++", str(cpp)],
                                 capture_output=True, text=True, timeout=300)
        except (OSError, subprocess.TimeoutExpired) as err:
            return [f"{name}: address-space check could not run {clang}: {err}"]
    if res.returncode == 0:
        return []
    errors = [ln.replace(str(cpp), name) for ln in res.stderr.splitlines() if "error:" in ln]
    return [f"{name}: Metal address-space rule broken (strict clang build): {e}" for e in errors] or \
        [f"{name}: strict address-space build failed: {res.stderr.strip()[-1000:]}"]


def lint_file(path: str | Path, *, address_spaces: bool = True) -> list[str]:
    """The subset lint and (by default) the strict address-space build of one shader file."""
    source = inline_includes(path)
    problems = lint_source(source, Path(path).name)
    if address_spaces:
        problems += address_space_problems(source, Path(path).name)
    return problems
