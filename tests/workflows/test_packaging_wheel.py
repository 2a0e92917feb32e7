"""The wheel carries the shaders as package data, and an ordinary (non-editable) install into a
fresh virtual environment finds them through importlib.resources and passes the kernel self-test.

Offline: the wheel is built without build isolation (setuptools and wheel from this
environment), installed with ``--no-deps --no-index``, and the fresh environment reaches this
one's third-party packages through a .pth line, never this checkout (no PYTHONPATH, cwd elsewhere).
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from marketphys.kernels.source import SHADER_DIR


def _run(cmd, **kw) -> subprocess.CompletedProcess:
    res = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=900, **kw)
    assert res.returncode == 0, f"{' '.join(map(str, cmd))} failed ({res.returncode}):\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    return res


@pytest.mark.slow
def test_wheel_ships_the_shaders_and_the_installed_selftest_passes(tmp_path, repo_root):
    src = tmp_path / "src"  # a copy, so the build leaves nothing in the checkout (the shaders link is followed)
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(repo_root / name, src / name)
    shutil.copytree(repo_root / "marketphys", src / "marketphys", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    wheels = tmp_path / "wheels"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q", src, "-w", wheels])
    (wheel,) = wheels.glob("marketphys-*.whl")

    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {f"marketphys/shaders/{p.relative_to(SHADER_DIR).as_posix()}" for p in SHADER_DIR.rglob("*")
               if p.is_file() and p.suffix in (".metal", ".h")}
    assert len(shipped) > 10 and shipped <= names, sorted(shipped - names)
    assert "marketphys/kernels/shim/metal_stdlib" in names
    assert "marketphys/py.typed" in names                  # PEP 561: type checkers read the installed package
    assert "marketphys/cli/__main__.py" in names           # `python -m marketphys.cli` below

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv])
    py = venv / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", py, "install", "--no-deps", "--no-index", "-q", wheel])
    purelib = Path(_run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    deps = [p for p in (*site.getsitepackages(), sysconfig.get_paths()["purelib"]) if Path(p).is_dir()]
    (purelib / "_marketphys_test_deps.pth").write_text("\n".join(dict.fromkeys(deps)) + "\n")

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    where = _run([py, "-c", "import marketphys.kernels.source as s; print(s.SHADER_DIR); print(len(s.shader_files()))"],
                 cwd=tmp_path, env=env).stdout.split()
    assert Path(where[0]).is_relative_to(purelib / "marketphys"), where  # the installed copy, not this checkout
    assert int(where[1]) == len(list(SHADER_DIR.glob("*.metal")))

    res = _run([py, "-m", "marketphys.cli", "backends", "--selftest"], cwd=tmp_path, env=env)
    assert "msl-cpu" in res.stdout and " FAIL " not in res.stdout
    n = len([ln for ln in res.stdout.splitlines() if " pass " in ln])
    assert n >= 7 and f"selftest: {n}/{n} passed" in res.stdout, res.stdout
