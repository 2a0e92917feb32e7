"""Shader sources: the include inliner and the entry-point parser every backend shares.

metalcompute compiles MSL from a string, so quoted ``#include "..."`` lines must be
inlined before compiling (docs/architecture.md#kernels-and-backends). Angle-bracket includes
(``<metal_stdlib>``) stay: Metal provides it, and msl-cpu puts its shim on the path.
The parser reads each ``kernel void`` signature so the msl-cpu backend can generate
its C entry points and the lint test can check the subset.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from functools import cached_property, lru_cache
from pathlib import Path

def _shader_dir() -> Path:
    """The shaders as package data: ``marketphys/shaders`` in an installed wheel; in a checkout,
    the same name is a link to the repository's top-level shaders/ folder."""
    d = resources.files("marketphys") / "shaders"
    if not isinstance(d, Path):  # e.g. a zip import: the compilers need real files
        raise ShaderSourceError(f"marketphys is installed where its shaders are not files ({d!r}); install it unzipped")
    return d.resolve()


class ShaderSourceError(ValueError):
    """A shader could not be read, inlined or parsed; names the file."""


SHADER_DIR = _shader_dir()
"""The .metal kernels and include/ headers (package data ``marketphys/shaders``)."""

_INCLUDE = re.compile(r'^[ \t]*#[ \t]*include[ \t]*"([^"]+)"[ \t]*$', re.M)


def shader_path(name: str | Path) -> Path:
    """Resolve ``"rollout"`` / ``"rollout.metal"`` / a path to an existing .metal file."""
    if isinstance(name, str) and name in _BUILTIN:
        return _BUILTIN[name]
    p = Path(name)
    if not p.suffix:
        p = p.with_suffix(".metal")
    if not p.is_absolute():
        p = SHADER_DIR / p
    if not p.is_file():
        raise ShaderSourceError(f"shader {name!r} not found (looked for {p}); shaders live in {SHADER_DIR}")
    if isinstance(name, str) and not Path(name).is_absolute() and p.parent == SHADER_DIR:
        _BUILTIN[name] = p
    return p


_BUILTIN: dict[str, Path] = {}


def inline_includes(path: str | Path) -> str:
    """Source of ``path`` with every quoted include inlined once (in first-use order)."""
    path = shader_path(path)
    seen: set[Path] = set()

    def expand(p: Path, stack: tuple[Path, ...]) -> str:
        if p in stack:
            raise ShaderSourceError(f"include cycle: {' -> '.join(str(s.name) for s in (*stack, p))}")
        if p in seen:
            return f"// (already included: {p.name})\n"
        seen.add(p)
        try:
            text = p.read_text()
        except OSError as err:
            raise ShaderSourceError(f"cannot read shader source {p}: {err}") from err

        def sub(m: re.Match) -> str:
            inc = (p.parent / m.group(1)).resolve()
            if not inc.is_file():
                raise ShaderSourceError(f"{p.name}: #include \"{m.group(1)}\" not found (looked for {inc})")
            return f"// begin {m.group(1)}\n{expand(inc, (*stack, p))}// end {m.group(1)}"

        return _INCLUDE.sub(sub, text)

    return expand(path.resolve(), ())


@dataclass(frozen=True)
class KernelParam:
    """One entry-point parameter: its declared type, name and attribute."""

    decl_type: str     # e.g. "device const float*", "constant RolloutParams&", "uint"
    name: str
    attribute: str     # e.g. "buffer(3)", "thread_position_in_grid"

    @cached_property
    def address_space(self) -> str | None:
        for word in ("device", "constant", "threadgroup", "thread"):
            if re.search(rf"\b{word}\b", self.decl_type):
                return word
        return None

    @cached_property
    def is_reference(self) -> bool:
        return self.decl_type.rstrip().endswith("&")

    @cached_property
    def writable(self) -> bool:
        """Outputs: device pointers that are not const."""
        return self.address_space == "device" and not re.search(r"\bconst\b", self.decl_type)

    @cached_property
    def element_type(self) -> str:
        """The pointee type without qualifiers: "float", "RolloutParams", ..."""
        words = [w for w in re.split(r"[\s*&]+", self.decl_type) if w and w not in ("device", "constant", "const", "thread")]
        return " ".join(words)

    @cached_property
    def buffer_index(self) -> int | None:
        m = re.fullmatch(r"buffer\((\d+)\)", self.attribute.replace(" ", ""))
        return int(m.group(1)) if m else None


@dataclass(frozen=True)
class EntryPoint:
    name: str
    params: tuple[KernelParam, ...]
    body: str

    @cached_property
    def buffers(self) -> tuple[KernelParam, ...]:
        return tuple(p for p in self.params if p.buffer_index is not None)


_KERNEL = re.compile(r"\bkernel\s+void\s+(\w+)\s*\((.*?)\)\s*\{", re.S)
_PARAM = re.compile(r"^(?P<type>.*?[\s*&])(?P<name>\w+)\s*\[\[\s*(?P<attr>[^\]]+?)\s*\]\]$", re.S)


def _strip_comments(src: str) -> str:
    src = re.sub(r"/\*.*?\*/", "", src, flags=re.S)
    return re.sub(r"//[^\n]*", "", src)


def parse_entry_points(source: str) -> list[EntryPoint]:
    """Every ``kernel void name(...)`` in ``source`` with its parameters and body."""
    src = _strip_comments(source)
    out = []
    for m in _KERNEL.finditer(src):
        params = []
        for raw in m.group(2).split(","):
            raw = " ".join(raw.split())
            pm = _PARAM.match(raw)
            if not pm:
                raise ShaderSourceError(f"kernel {m.group(1)}: cannot parse parameter {raw!r}; every parameter needs an [[attribute]]")
            params.append(KernelParam(" ".join(pm.group("type").split()), pm.group("name"), pm.group("attr").strip()))
        depth, i = 1, m.end()
        while depth and i < len(src):
            depth += {"{": 1, "}": -1}.get(src[i], 0)
            i += 1
        out.append(EntryPoint(m.group(1), tuple(params), src[m.end():i - 1]))
    return out


def entry_points(path: str) -> dict[str, EntryPoint]:
    """Entry points of a shader file, by name (cached per path and modification time)."""
    return _entry_points(str(path), Path(path).stat().st_mtime_ns)


@lru_cache(maxsize=64)
def _entry_points(path: str, mtime_ns: int) -> dict[str, EntryPoint]:
    return {e.name: e for e in parse_entry_points(inline_includes(path))}


def shader_files() -> list[Path]:
    return sorted(SHADER_DIR.glob("*.metal"))
