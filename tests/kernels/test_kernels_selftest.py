"""``marketphys backends --selftest``: every kernel on every usable shader backend vs NumPy, and the
same command a Mac user runs, here on msl-cpu and MetalBackend over the metalcompute stand-in."""

from __future__ import annotations

import numpy as np
import pytest

from fixtures_kernels import assert_standin_clean
from marketphys.cli import main
from marketphys.cli.backends import selftest_cases
from marketphys.kernels import selftest as st
from marketphys.kernels.msl_cpu import MslCpuBackend

KERNELS = ("compose_frames", "rollout_lanes", "medium_table", "philox_draws", "select_ranks", "replay_lanes+pair_rows",
           "render_prepass+pixels")


def test_every_entry_point_has_a_check():
    from marketphys.kernels.source import entry_points, shader_files

    covered = {part for k in KERNELS for part in k.replace("render_prepass+pixels", "render_prepass+render_pixels").split("+")}
    shipped = {name for path in shader_files() for name in entry_points(str(path))}
    assert shipped <= covered, f"entry points without a self-test check: {sorted(shipped - covered)}"
    assert [c[0] for c in selftest_cases()] == list(KERNELS)


def test_cli_selftest_passes_on_msl_cpu_and_the_standin(capsys):
    assert main(["backends", "--selftest", "--metalcompute", "metalcompute_standin"]) == 0
    out = capsys.readouterr().out
    for backend in ("msl-cpu", "metal[metalcompute_standin]"):
        for kernel in KERNELS:
            line = next((ln for ln in out.splitlines() if ln.startswith(backend + " ") and f" {kernel} " in ln), None)
            assert line is not None and " pass " in line and "max err" in line and line.endswith(" ms"), (backend, kernel, out)
    assert f"selftest: {2 * len(KERNELS)}/{2 * len(KERNELS)} passed" in out
    assert_standin_clean()


class OffByATick(MslCpuBackend):
    """A planted bug: every rollout lands 0.01 tick off."""

    def rollout(self, *a, **kw):
        res = super().rollout(*a, **kw)
        res.x[:] += 0.01
        return res


class Crashes(MslCpuBackend):
    def philox(self, *a, **kw):
        raise RuntimeError("device lost")


def test_a_wrong_kernel_fails_and_the_command_exits_non_zero(monkeypatch, capsys):
    bad = OffByATick()
    checks = {c.kernel: c for c in st.run_checks(bad, cases=selftest_cases())}
    assert not checks["rollout_lanes"].ok and not checks["medium_table"].ok
    assert checks["rollout_lanes"].max_err == pytest.approx(0.01, rel=1e-3)
    assert all(checks[k].ok for k in ("compose_frames", "philox_draws", "select_ranks", "render_prepass+pixels"))
    crash = {c.kernel: c for c in st.run_checks(Crashes())}["philox_draws"]
    assert not crash.ok and "device lost" in crash.error and np.isnan(crash.max_err)
    monkeypatch.setattr(st, "backends_to_test", lambda module=None: ([bad], []))
    assert main(["backends", "--selftest"]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "FAILED: msl-cpu/rollout_lanes" in out


def test_metalcompute_option_needs_selftest(capsys):
    assert main(["backends", "--metalcompute", "metalcompute_standin"]) == 2
