"""The Parquet lake: ``<lake>/<layer>/<product>/<dataset>/date=YYYY-MM-DD/part-NNNNN.parquet``.

Writes are atomic (temp file in the same directory, fsync, rename), so a crash never
leaves a half-written part where a reader can see it. Dataset names are the seed's
dotted names, e.g. ``silver.future_option_mbo.gex_surface_1s``; the first component
is the layer.

A build commits a whole day at once: its partitions land in versioned folders
(``date=YYYY-MM-DD/b-<build>/``) that no reader sees until ``<lake>/_manifest.json``,
replaced by one rename, points at them (``lake_commit.py``). ``partition_dir`` resolves
through the manifest, so every reader sees either the old day or the new one, whole,
and never a staging or half-swapped folder. Partitions no manifest names (lakes built
before it, parts written directly) are read where they lie.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
import threading
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from marketphys.atomic import atomic_output

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_NAME_RE = re.compile(r"^(bronze|silver|gold)\.[a-z0-9_]+(\.[a-z0-9_]+)*$")
_PRODUCT_RE = re.compile(r"^[A-Za-z0-9_]{1,16}$")


class LakeError(ValueError):
    """Bad dataset name, product, date or a missing partition; the message names it."""


def check_date(date: str | dt.date) -> str:
    s = date.isoformat() if isinstance(date, dt.date) else str(date)
    if not _DATE_RE.match(s):
        raise LakeError(f"date must be YYYY-MM-DD, got {date!r}")
    try:
        dt.date.fromisoformat(s)
    except ValueError:
        raise LakeError(f"date {s!r} is not a calendar date") from None
    return s


def split_name(dataset: str) -> tuple[str, str]:
    if not _NAME_RE.match(dataset):
        raise LakeError(f"dataset name must look like 'silver.future_mbo.snap', got {dataset!r}")
    layer, rest = dataset.split(".", 1)
    return layer, rest


MANIFEST = "_manifest.json"
MANIFEST_SCHEMA = "marketphys.lake.manifest/1"
_VERSION_RE = re.compile(r"^b-[0-9a-f]{6,32}$")
_manifest_cache: dict[str, tuple[tuple, dict]] = {}
_pinned = threading.local()


def read_manifest_document(lake) -> dict:
    """The whole manifest: ``partitions`` (committed) and ``retired`` (superseded, kept a grace period)."""
    path = Path(lake) / MANIFEST
    try:
        st = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return {"partitions": {}, "retired": {}}
    key = (st.st_ino, st.st_mtime_ns, st.st_size)
    hit = _manifest_cache.get(str(path))
    if hit and hit[0] == key:
        return hit[1]
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        parts = doc["partitions"]
        retired = doc.get("retired", {})
        if doc.get("schema") != MANIFEST_SCHEMA or not isinstance(parts, dict) or not isinstance(retired, dict):
            raise ValueError(f"schema {doc.get('schema')!r}")
    except (ValueError, KeyError, TypeError) as err:
        raise LakeError(f"lake manifest {str(path)!r} is unreadable ({err}); it is written by `marketphys build`: "
                        f"rebuild the lake or restore the file") from None
    out = {"partitions": {k: v for k, v in parts.items() if isinstance(v, str) and _VERSION_RE.match(v)},
           "retired": {k: float(v) for k, v in retired.items() if isinstance(v, (int, float))}}
    _manifest_cache[str(path)] = (key, out)
    return out


def read_manifest(lake) -> dict[str, str]:
    """Committed partitions: ``{'silver/ES/future_mbo/snap/date=D': 'b-<build>'}`` ({} when there is no manifest).

    Inside ``consistent_view(lake)`` this is the manifest as it was when the view opened."""
    views = getattr(_pinned, "views", None)
    if views:
        pinned = views.get(str(Path(lake).absolute()))
        if pinned is not None:
            return pinned
    return read_manifest_document(lake)["partitions"]


@contextlib.contextmanager
def consistent_view(lake):
    """Resolve every partition of ``lake`` through one manifest read while the block runs (this thread),
    so a reader of several datasets sees one build even if another commits meanwhile; superseded
    versions stay on disk a grace period (``lake_commit.RETIRE_GRACE_S``) for such readers."""
    views = _pinned.__dict__.setdefault("views", {})
    key = str(Path(lake).absolute())
    outer = views.get(key)
    views[key] = outer if outer is not None else read_manifest_document(lake)["partitions"]
    try:
        yield
    finally:
        if outer is None:
            del views[key]


def partition_key(dataset: str, product: str, date) -> str:
    """The manifest key of one partition: its plain path relative to the lake."""
    layer, rest = split_name(dataset)
    if not _PRODUCT_RE.match(product):
        raise LakeError(f"product must be letters/digits/_ (e.g. 'ES'), got {product!r}")
    return f"{layer}/{product}/{rest}/date={check_date(date)}"


def plain_partition_dir(lake, dataset: str, product: str, date) -> Path:
    """Where a day of a dataset lives before versioning (staging areas and unversioned lakes use it as is)."""
    layer, rest = split_name(dataset)
    if not _PRODUCT_RE.match(product):
        raise LakeError(f"product must be letters/digits/_ (e.g. 'ES'), got {product!r}")
    return Path(lake) / layer / product / rest / f"date={check_date(date)}"


def partition_dir(lake: str | Path, dataset: str, product: str, date: str | dt.date) -> Path:
    """The directory holding the committed day of one dataset (names validated: nothing from a user escapes the lake).

    Resolved through the lake manifest when it names this partition, else the plain folder.
    """
    plain = plain_partition_dir(lake, dataset, product, date)
    version = read_manifest(lake).get(partition_key(dataset, product, date))
    return plain / version if version else plain


def atomic_write_table(table: pa.Table, path: Path, **kwargs) -> Path:
    """Write ``table`` to ``path`` atomically (see marketphys.atomic)."""
    with atomic_output(path) as tmp:
        pq.write_table(table, tmp, **kwargs)
    return Path(path)


def write_partition(lake, dataset: str, product: str, date, table: pa.Table, part: int = 0) -> Path:
    """Write one part of one day; parts are numbered so a long day can stream out in pieces."""
    return atomic_write_table(table, partition_dir(lake, dataset, product, date) / f"part-{part:05d}.parquet")


def read_partition(lake, dataset: str, product: str, date, columns=None) -> pa.Table:
    d = partition_dir(lake, dataset, product, date)
    parts = sorted(d.glob("part-*.parquet"))
    if not parts:
        raise LakeError(f"no data for {dataset} product={product} date={check_date(date)} under {Path(lake)}")
    tables = [pq.read_table(p, columns=columns) for p in parts]
    return pa.concat_tables(tables) if len(tables) > 1 else tables[0]


def list_dates(lake, dataset: str, product: str) -> list[str]:
    """Dates with committed data: named by the manifest, or (unversioned) plain ``date=YYYY-MM-DD`` folders with parts.

    Anything else (a staging or half-swapped folder, ``date=…old-xxxx``) is not a date.
    """
    layer, rest = split_name(dataset)
    base = Path(lake) / layer / product / rest
    if not base.is_dir():
        return []
    manifest = read_manifest(lake)
    out = []
    for p in base.iterdir():
        d = p.name[5:]
        if not (p.name.startswith("date=") and _DATE_RE.match(d)):
            continue
        version = manifest.get(partition_key(dataset, product, d))
        if any((p / version if version else p).glob("part-*.parquet")):
            out.append(d)
    return sorted(out)


def list_products(lake) -> list[str]:
    base = Path(lake) / "silver"
    return sorted(p.name for p in base.iterdir() if p.is_dir()) if base.is_dir() else []


def products_with(lake, dataset: str) -> list[str]:
    """Products holding at least one day of ``dataset``."""
    layer, rest = split_name(dataset)
    base = Path(lake) / layer
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if p.is_dir() and list_dates(lake, dataset, p.name))


def resolve_product(lake, product: str | None, dataset: str = "silver.future_mbo.snap") -> str:
    """``product``, or the one product of the lake holding ``dataset`` when none is given; an error naming
    the products when there are several (or none)."""
    if product is not None:
        return product
    found = products_with(lake, dataset)
    if len(found) == 1:
        return found[0]
    if not found:
        raise LakeError(f"lake {str(lake)!r} holds no {dataset}; build it with `marketphys build` first")
    raise LakeError(f"lake {str(lake)!r} holds several products ({', '.join(found)}): pick one with --product")
