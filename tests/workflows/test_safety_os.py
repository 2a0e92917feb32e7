"""OS failures are one line and exit 2 in every command; long replays checkpoint scorecard and θ;
files honour the umask; Ctrl-C while importing prints no traceback; a replay log that cannot
be finished does not stay under its final name."""

from __future__ import annotations

import errno
import json
import os
import stat

import pytest

from fixtures_serving import build_fixture_lake
from marketphys.cli import main

ES_FILE = "glbx/orderbooks_mbo_2024-05-08T00-00-00_2024-05-08T00-00-02.dbn.zst"


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    root = tmp_path_factory.mktemp("oslake")
    info = build_fixture_lake(root / "lake", seconds=30)
    return root / "lake", info


def one_line_error(capsys, *needles) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err, err
    for n in needles:
        assert n in err, err
    return err


def test_lake_that_is_a_file(conformance_dir, tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    assert main(["build", "--input", str(conformance_dir / ES_FILE), "--lake", str(tmp_path / "afile"), "--quiet", "--tick-size", "0.25"]) == 2
    one_line_error(capsys, "afile: exists and is not a directory")
    assert main(["build", "--input", str(conformance_dir / ES_FILE), "--lake", str(tmp_path / "afile" / "sub"),
                 "--quiet", "--tick-size", "0.25"]) == 2
    one_line_error(capsys, "not a directory")


def test_outputs_that_are_directories_or_under_files(lake, tmp_path, capsys):
    path, info = lake
    (tmp_path / "adir").mkdir()
    (tmp_path / "afile").write_text("x")
    base = ["replay", "--lake", str(path), "--quiet", "--max-frames", "12"]
    assert main(base + ["--scorecard", str(tmp_path / "adir")]) == 2
    one_line_error(capsys, f"{tmp_path / 'adir'}: it is a directory")
    assert main(base + ["--export-theta", str(tmp_path / "afile" / "th.json")]) == 2
    one_line_error(capsys, "afile: exists and is not a directory")
    assert main(base + ["--log", str(tmp_path / "adir")]) == 2
    one_line_error(capsys, "adir: it is a directory")


def test_disk_full_and_permission_denied_are_one_line(conformance_dir, lake, tmp_path, capsys, monkeypatch):
    import marketphys.atomic as atomic
    from marketphys.pipeline import lake as lk

    def full(table, where, **kw):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(where))

    monkeypatch.setattr(lk.pq, "write_table", full)
    assert main(["build", "--input", str(conformance_dir / ES_FILE), "--lake", str(tmp_path / "l"), "--quiet", "--tick-size", "0.25"]) == 2
    one_line_error(capsys, "the disk is full")
    assert not any(p.is_file() for p in (tmp_path / "l").rglob("*"))   # the failed build left nothing
    monkeypatch.undo()

    real = atomic.tempfile.mkstemp

    def denied(*a, dir=None, **kw):
        if str(dir).endswith("ro"):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(dir))
        return real(*a, dir=dir, **kw)

    monkeypatch.setattr(atomic.tempfile, "mkstemp", denied)
    path, _ = lake
    assert main(["replay", "--lake", str(path), "--quiet", "--max-frames", "12",
                 "--scorecard", str(tmp_path / "ro" / "sc.json")]) == 2
    one_line_error(capsys, "ro: permission denied")


def test_long_replay_checkpoints_scorecard_and_theta(lake, tmp_path, capsys, monkeypatch):
    """A failure at frame 35 keeps the scorecard and θ of the last checkpoint (frame 30)."""
    from marketphys.replay.export import load_theta
    from marketphys.replay.session import Session

    path, _ = lake
    step = Session.step

    def failing_step(self, *a, **kw):
        if self.n_steps == 35:
            raise OSError(errno.EIO, os.strerror(errno.EIO), "lake part")
        return step(self, *a, **kw)

    monkeypatch.setattr(Session, "step", failing_step)
    sc, th = tmp_path / "sc.json", tmp_path / "th.json"
    assert main(["replay", "--lake", str(path), "--quiet", "--checkpoint-every", "10",
                 "--scorecard", str(sc), "--export-theta", str(th)]) == 2
    one_line_error(capsys, "lake part")
    assert json.loads(sc.read_text())["horizons"]["1"]["engine"]["n"] > 0
    assert load_theta(th).training_window["n_frames"] == 30


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_files_honour_the_umask(tmp_path, mask, mode):
    from marketphys.atomic import atomic_write_text
    from marketphys.pipeline.build import build
    old = os.umask(mask)
    try:
        atomic_write_text(tmp_path / "f.json", "{}")
        build([os.path.join(os.path.dirname(__file__), "..", "..", "data", "conformance", ES_FILE)], tmp_path / "lake",
              progress=False, tick_size=0.25)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "f.json").stat().st_mode) == mode
    parts = list((tmp_path / "lake").rglob("part-*.parquet")) + [tmp_path / "lake" / "_manifest.json"]
    assert parts and {stat.S_IMODE(p.stat().st_mode) for p in parts} == {mode}


def test_ctrl_c_while_importing_commands_prints_no_traceback(capsys, monkeypatch):
    import marketphys.cli as cli

    def interrupted(name, *a):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli.importlib, "import_module", interrupted)
    assert cli.main(["replay", "--lake", "x"]) == 130
    err = capsys.readouterr().err
    assert err == "interrupted\n"


def test_replay_log_on_a_full_disk_is_not_left_under_its_final_name(tmp_path, monkeypatch):
    """The file system fills after a few frames: the log is moved aside, its complete frames readable."""
    import builtins

    from marketphys.replay import log as logmod
    from marketphys.replay.log import read_log
    from marketphys.replay.session import Session
    from marketphys.synth.engine_world import WorldConfig, make_world

    class FillingFile:
        def __init__(self, fh, room):
            self.fh, self.room = fh, room

        def write(self, b):
            if self.room < len(b):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            self.room -= len(b)
            return self.fh.write(b)

        def __getattr__(self, name):
            return getattr(self.fh, name)

    real_open = builtins.open
    monkeypatch.setattr(logmod, "open", lambda p, m="r", *a, **k: FillingFile(real_open(p, m, *a, **k), 60_000),
                        raising=False)
    world = make_world(WorldConfig(n_frames=40, seed=3))
    final = tmp_path / "run.arrow"
    s = Session.from_frames(world.frames, producers=world.producers, log=final, baselines=[])
    with pytest.raises(OSError, match="replay log not written .*frames written are in .*run.arrow.incomplete"):
        s.run(progress=False)
    s.close()
    assert not final.exists()
    log = read_log(tmp_path / "run.arrow.incomplete")
    assert 0 < len(log.frames) < 40 and not log.complete


def test_the_command_line_module_imports_nothing_heavy_before_main():
    """So a Ctrl-C during the slow imports lands inside main's handling (numpy, pyarrow load there)."""
    import subprocess
    import sys
    code = "import sys, marketphys.cli; print(sorted(m for m in ('numpy', 'pyarrow', 'pandas') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env=dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
    assert out.stdout.strip() == "[]"
