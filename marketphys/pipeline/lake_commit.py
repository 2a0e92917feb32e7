"""Committing a built day into the lake: one atomic manifest swap, under locks, with crash clean-up.

A build stages its parts in ``<lake>/.staging-<pid>-<id>/``. ``commit_staged`` then, under
the lake's commit lock, moves each staged partition to a versioned folder
``date=D/b-<id>/`` (invisible: no manifest names it yet), replaces ``_manifest.json`` by one
rename (the commit point: readers switch from the old day to the new one, whole), and
retires what the new manifest no longer names: it stays on disk ``RETIRE_GRACE_S`` for readers
holding a ``lake.consistent_view`` of the old manifest, and a later commit removes it. A kill at any step leaves either the old
manifest (the new folders are orphans) or the new one (the old folders are garbage);
``clean_lake`` removes both kinds of leftover, and dead builds' staging, at the next build.

Locks are ``flock`` on files under ``<lake>/.locks/`` holding the owner's PID: the kernel
drops them when the owner dies (even by SIGKILL), so a stale lock file never blocks; a live
owner makes a second writer wait up to its timeout, then fail naming the owner. The owner
removes its lock file on release (a waiter then re-checks it locked the file still there).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import json
import os
import shutil
import signal
import socket
import time
import uuid
from pathlib import Path
from typing import Iterator

from marketphys.atomic import atomic_output

from . import lake as lk

RETIRE_GRACE_S = 600.0
"""Superseded versions stay on disk this long, for readers inside ``lake.consistent_view`` of the old manifest."""

FAULT_ENV = "MARKETPHYS_FAULT_STEP"
"""Fault injection for crash tests: the build SIGKILLs itself at the step this names."""

COMMIT_STEPS = ("staging", "staged", "locked", "moved-one", "moved-all", "manifest-temp", "committed")


class LakeLockedError(lk.LakeError):
    """Another live writer holds the lake (or the day); the message names it."""


def fault_point(step: str) -> None:
    """Die here, as ``kill -9`` would, when ``$MARKETPHYS_FAULT_STEP`` names this step (tests only)."""
    if os.environ.get(FAULT_ENV) == step:
        os.kill(os.getpid(), signal.SIGKILL)


def _owner(path: Path) -> str:
    try:
        d = json.loads(path.read_text())
        return f"pid {d['pid']} on {d['host']} since {d['since']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


@contextlib.contextmanager
def lake_lock(lake, name: str, timeout: float = 0.0, poll: float = 0.1) -> Iterator[Path]:
    """Hold ``<lake>/.locks/<name>.lock``; wait up to ``timeout`` seconds for a live owner, then LakeLockedError."""
    d = Path(lake) / ".locks"
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"{name}.lock"
    deadline = time.monotonic() + max(0.0, timeout)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            os.close(fd)
            if err.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            if time.monotonic() >= deadline:
                raise LakeLockedError(
                    f"lake {str(lake)!r} is being written ({name}) by {_owner(path)}; waited {timeout:g} s: "
                    f"let that build finish, or pass a longer lock timeout") from None
            time.sleep(poll)
            continue
        try:                                   # the owner before us may have removed the file: lock the live one
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        me = {"pid": os.getpid(), "host": socket.gethostname(),
              "since": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(me).encode(), 0)
        yield path
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)                    # while still held: nobody can be holding the file we remove
        os.close(fd)


def staging_dir(lake) -> Path:
    """A fresh staging folder name carrying the owner's PID (so clean-up knows when its owner is gone)."""
    return Path(lake) / f".staging-{os.getpid()}-{uuid.uuid4().hex[:12]}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _staging_owner_gone(p: Path) -> bool:
    parts = p.name.split("-")
    if len(parts) == 3 and parts[1].isdigit():
        return not _pid_alive(int(parts[1]))
    return True                                   # an unversioned name from an older build: no owner to wait for


def clean_lake(lake) -> list[str]:
    """Remove a killed build's leftovers: dead owners' staging, version folders no manifest names, temp manifests.

    Call under the commit lock (no commit is then half-way). Returns what was removed, relative to the lake.
    """
    lake = Path(lake)
    removed = []
    for p in lake.glob(".staging-*"):
        if p.is_dir() and _staging_owner_gone(p):
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p.name)
    for p in lake.glob(".tmp-*.json"):
        p.unlink(missing_ok=True)
        removed.append(p.name)
    doc = lk.read_manifest_document(lake)
    manifest, retired = doc["partitions"], doc["retired"]
    for layer in ("bronze", "silver", "gold"):
        for vdir in (lake / layer).glob("*/*/date=*/b-*"):
            key = vdir.parent.relative_to(lake).as_posix()
            rel = vdir.relative_to(lake).as_posix()
            if vdir.is_dir() and manifest.get(key) != vdir.name and rel not in retired:
                shutil.rmtree(vdir, ignore_errors=True)
                removed.append(rel)
    return removed


def _drop_expired(lake: Path, retired: dict[str, float], now: float) -> dict[str, float]:
    """Delete retired versions (folders, or parts of an unversioned partition) past their grace period."""
    keep = {}
    for rel, t in retired.items():
        if now - t < RETIRE_GRACE_S:
            keep[rel] = t
            continue
        p = lake / rel
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
    return keep


def write_manifest(lake, partitions: dict[str, str], retired: dict[str, float] | None = None) -> None:
    doc = {"schema": lk.MANIFEST_SCHEMA, "partitions": dict(sorted(partitions.items())),
           "retired": dict(sorted((retired or {}).items()))}
    with atomic_output(Path(lake) / lk.MANIFEST) as tmp:
        tmp.write_text(json.dumps(doc, indent=1) + "\n")
        fault_point("manifest-temp")


def commit_staged(lake, staging: Path, partitions, build_id: str, lock_timeout: float = 600.0) -> list[Path]:
    """Make the staged ``partitions`` (``(dataset, product, date)``) visible in one manifest swap."""
    lake = Path(lake)
    fault_point("staged")
    with lake_lock(lake, "commit", timeout=lock_timeout):
        fault_point("locked")
        doc = lk.read_manifest_document(lake)
        manifest, now = dict(doc["partitions"]), time.time()
        retired = _drop_expired(lake, doc["retired"], now)
        done = []
        for dataset, product, date in sorted(partitions):
            src = lk.plain_partition_dir(staging, dataset, product, date)
            plain = lk.plain_partition_dir(lake, dataset, product, date)
            key = lk.partition_key(dataset, product, date)
            dst = plain / f"b-{build_id}"
            plain.mkdir(parents=True, exist_ok=True)
            os.replace(src, dst)
            fault_point("moved-one")
            old = manifest.get(key)
            for g in ([plain / old] if old else sorted(plain.glob("part-*.parquet"))):
                retired[g.relative_to(lake).as_posix()] = now    # kept a grace period for open views
            manifest[key] = dst.name
            done.append(dst)
        fault_point("moved-all")
        write_manifest(lake, manifest, retired)
        fault_point("committed")
    return done
