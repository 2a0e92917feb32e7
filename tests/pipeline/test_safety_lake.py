"""An atomic, locked lake: a build killed (SIGKILL) at any step of the commit leaves readers the
old day or the new one, whole; a second writer of the same day fails naming the owner; a dead
owner's lock and a killed build's leftovers do not outlive the next build."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from marketphys.cli import main
from marketphys.pipeline import lake as lk
from marketphys.pipeline.build import build
from marketphys.pipeline.lake_commit import COMMIT_STEPS, FAULT_ENV, LakeLockedError, lake_lock

REPO = Path(__file__).resolve().parents[2]
MBO = "data/conformance/glbx/orderbooks_mbo_2024-05-08T00-00-00_2024-05-08T00-00-02.dbn.zst"
DATE = "2024-05-08"
SILVER = ["silver.future_mbo.snap", "silver.future_mbo.physics", "silver.future_mbo.wall",
          "silver.future_mbo.vacuum", "silver.future_mbo.bucket_radar"]
DATASETS = [*SILVER, "bronze.future_mbo.mbo", "silver.future_mbo.book_state"]
BUILD = ("import sys; from marketphys.pipeline.build import build; "
         "build([sys.argv[1]], sys.argv[2], window_ms=int(sys.argv[3]), progress=False, tick_size=0.25)")


def snapshot(lake) -> dict:
    """What a reader sees: every dataset's committed table for DATE (None when absent)."""
    return {ds: (lk.read_partition(lake, ds, "ES", DATE) if DATE in lk.list_dates(lake, ds, "ES") else None)
            for ds in DATASETS}


def same(a: dict, b: dict) -> bool:
    return all((a[k] is None and b[k] is None) or (a[k] is not None and b[k] is not None and a[k].equals(b[k]))
               for k in a)


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    """The old day (500 ms windows) and, in a separate lake, the new one (1000 ms windows)."""
    root = tmp_path_factory.mktemp("builds")
    build([REPO / MBO], root / "old", window_ms=500, progress=False, tick_size=0.25)
    build([REPO / MBO], root / "new", window_ms=1000, progress=False, tick_size=0.25)
    old, new = snapshot(root / "old"), snapshot(root / "new")
    assert all(old[ds] is not None for ds in DATASETS)
    assert all(not old[ds].equals(new[ds]) for ds in SILVER)          # every silver table tells the builds apart
    return root / "old", old, new


@pytest.mark.parametrize("step", COMMIT_STEPS)
def test_kill_at_every_commit_step_leaves_old_or_new_day_whole(builds, tmp_path, step):
    old_lake, old, new = builds
    lake = tmp_path / "lake"
    shutil.copytree(old_lake, lake)
    env = dict(os.environ, PYTHONPATH=str(REPO), **{FAULT_ENV: step})
    r = subprocess.run([sys.executable, "-c", BUILD, str(REPO / MBO), str(lake), "1000"], env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == -signal.SIGKILL, r.stderr[-2000:]
    seen = snapshot(lake)
    committed = COMMIT_STEPS.index(step) >= COMMIT_STEPS.index("committed")
    assert same(seen, new if committed else old), f"killed at {step}: readers see a mix or nothing"
    for ds in DATASETS:                                            # no temp or staging folder reads as a date
        assert lk.list_dates(lake, ds, "ES") == [DATE]
    # the next build cleans the killed one's staging and orphans, and commits whole
    s = build([REPO / MBO], lake, window_ms=1000, progress=False, tick_size=0.25)
    assert same(snapshot(lake), new)
    assert not list(lake.glob(".staging-*")) and not list(lake.glob(".tmp-*"))
    doc = lk.read_manifest_document(lake)
    on_disk = {p.relative_to(lake).as_posix() for p in lake.glob("*/*/*/date=*/b-*")}
    named = {f"{k}/{v}" for k, v in doc["partitions"].items()} | set(doc["retired"])
    assert on_disk <= named                                        # every version on disk is live or retired
    assert {f"{k}/{v}" for k, v in doc["partitions"].items()} <= on_disk
    if step in ("staging", "staged", "locked", "moved-one", "moved-all"):
        assert s.cleaned, "leftovers of the killed build were not reported"


def test_half_swapped_folders_are_not_dates(tmp_path):
    """A `date=…old-xxxx` folder (an older build killed mid-swap) or a staging copy is never listed as a date."""
    from fixtures_serving import build_fixture_lake
    info = build_fixture_lake(tmp_path / "lake", seconds=2, surfaces=["snap"])
    snap = lk.partition_dir(tmp_path / "lake", "silver.future_mbo.snap", "ES", info["date"])
    shutil.copytree(snap, snap.with_name(snap.name + ".old-e02433"))
    shutil.copytree(snap, snap.with_name("date=2024-03-16.tmp"))
    assert lk.list_dates(tmp_path / "lake", "silver.future_mbo.snap", "ES") == [info["date"]]
    from marketphys.serving.catalog import Catalog
    assert Catalog(tmp_path / "lake").all_dates() == [info["date"]]


def test_second_writer_of_a_day_fails_naming_the_owner_and_a_dead_owner_does_not_block(builds, tmp_path, capsys):
    old_lake, old, new = builds
    lake = tmp_path / "lake"
    shutil.copytree(old_lake, lake)
    hold = ("import sys, time; from marketphys.pipeline.lake_commit import lake_lock\n"
            "with lake_lock(sys.argv[1], 'date=" + DATE + "'):\n    print('held', flush=True); time.sleep(float(sys.argv[2]))")
    holder = subprocess.Popen([sys.executable, "-c", hold, str(lake), "60"], env=dict(os.environ, PYTHONPATH=str(REPO)),
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(LakeLockedError, match=f"pid {holder.pid} "):
            build([REPO / MBO], lake, window_ms=1000, progress=False, tick_size=0.25)
        rc = main(["build", "--input", str(REPO / MBO), "--lake", str(lake), "--window-ms", "1000", "--quiet", "--tick-size", "0.25"])
        err = capsys.readouterr().err
        assert rc == 2 and f"pid {holder.pid}" in err and err.count("\n") == 1
        assert same(snapshot(lake), old)                          # the refused build touched nothing
    finally:
        holder.send_signal(signal.SIGKILL)                        # dies holding it: the lock file names a dead pid
        holder.wait()
    assert f'"pid": {holder.pid}' in (lake / ".locks" / f"date={DATE}.lock").read_text()
    build([REPO / MBO], lake, window_ms=1000, progress=False, tick_size=0.25)
    assert same(snapshot(lake), new)


def test_a_waiting_writer_proceeds_when_the_owner_finishes(builds, tmp_path):
    old_lake, old, new = builds
    lake = tmp_path / "lake"
    shutil.copytree(old_lake, lake)
    with lake_lock(lake, f"date={DATE}"):
        with pytest.raises(LakeLockedError, match="waited 0.2 s"):
            with lake_lock(lake, f"date={DATE}", timeout=0.2):
                pass
    hold = ("import sys, time; from marketphys.pipeline.lake_commit import lake_lock\n"
            "with lake_lock(sys.argv[1], 'date=" + DATE + "'):\n    print('held', flush=True); time.sleep(1.0)")
    holder = subprocess.Popen([sys.executable, "-c", hold, str(lake)], env=dict(os.environ, PYTHONPATH=str(REPO)),
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    build([REPO / MBO], lake, window_ms=1000, progress=False, tick_size=0.25, lock_timeout_s=60)
    assert holder.wait() == 0
    assert same(snapshot(lake), new)


def test_consistent_view_reads_one_build_across_a_commit_and_retired_versions_expire(builds, tmp_path, monkeypatch):
    """A reader inside consistent_view keeps seeing the old day, whole, while a build commits a new one;
    the superseded versions stay for the grace period and go at a later commit after it."""
    from marketphys.pipeline import lake_commit
    old_lake, old, new = builds
    lake = tmp_path / "lake"
    shutil.copytree(old_lake, lake)
    with lk.consistent_view(lake):
        first = lk.read_partition(lake, SILVER[0], "ES", DATE)
        build([REPO / MBO], lake, window_ms=1000, progress=False, tick_size=0.25)       # commits mid-read
        assert first.equals(old[SILVER[0]]) and same(snapshot(lake), old)
    assert same(snapshot(lake), new)
    retired = lk.read_manifest_document(lake)["retired"]
    assert len(retired) == len(DATASETS) and all((lake / r).is_dir() for r in retired)
    monkeypatch.setattr(lake_commit, "RETIRE_GRACE_S", 0.0)
    build([REPO / MBO], lake, window_ms=500, progress=False, tick_size=0.25)
    assert same(snapshot(lake), old)
    assert not any((lake / r).exists() for r in retired)               # expired: removed at this commit
    versions = {(p.parent.relative_to(lake).as_posix(), p.name) for p in lake.glob("*/*/*/date=*/b-*")}
    doc = lk.read_manifest_document(lake)
    assert versions == set(doc["partitions"].items()) | {
        (r.rsplit("/", 1)[0], r.rsplit("/", 1)[1]) for r in doc["retired"]}


def test_unversioned_lake_still_reads_and_is_replaced_whole(tmp_path, monkeypatch):
    """A lake written before the manifest (parts directly under date=…) reads as before; a build replaces it."""
    lake = tmp_path / "lake"
    build([REPO / MBO], lake, window_ms=500, progress=False, tick_size=0.25)
    legacy = tmp_path / "legacy"
    for p in lake.glob("*/*/*/date=*/b-*/part-*.parquet"):         # flatten into the pre-manifest layout
        dst = legacy / p.parent.parent.relative_to(lake) / p.name
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(p, dst)
    before = snapshot(lake)
    assert same(snapshot(legacy), before)
    build([REPO / MBO], legacy, window_ms=1000, progress=False, tick_size=0.25)
    after = snapshot(legacy)
    assert after["silver.future_mbo.snap"].num_rows < before["silver.future_mbo.snap"].num_rows
    retired = lk.read_manifest_document(legacy)["retired"]               # the flat parts, kept a grace period
    assert sorted(retired) == sorted(p.relative_to(legacy).as_posix()
                                     for p in legacy.glob("*/*/*/date=*/part-*.parquet"))
    from marketphys.pipeline import lake_commit
    monkeypatch.setattr(lake_commit, "RETIRE_GRACE_S", 0.0)
    build([REPO / MBO], legacy, window_ms=1000, progress=False, tick_size=0.25)
    assert not list(legacy.glob("*/*/*/date=*/part-*.parquet"))
    assert pq.read_table(next(legacy.glob("silver/ES/future_mbo.snap/date=*/b-*/part-*.parquet"))).num_rows == \
        after["silver.future_mbo.snap"].num_rows
