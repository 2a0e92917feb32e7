"""The Parquet lake: ``<lake>/<layer>/<product>/<dataset>/date=YYYY-MM-DD/part-NNNNN.parquet``.

Writes are atomic (temp file in the same directory, fsync, rename), so a crash never
leaves a half-written part where a reader can see it. Dataset names are the seed's
dotted names, e.g. ``silver.future_option_mbo.gex_surface_1s``; the first component
is the layer.
"""

from __future__ import annotations

import datetime as dt
import re
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


def partition_dir(lake: str | Path, dataset: str, product: str, date: str | dt.date) -> Path:
    """The directory holding one day of one dataset (names validated: nothing from a user escapes the lake)."""
    layer, rest = split_name(dataset)
    if not _PRODUCT_RE.match(product):
        raise LakeError(f"product must be letters/digits/_ (e.g. 'ES'), got {product!r}")
    return Path(lake) / layer / product / rest / f"date={check_date(date)}"


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
    layer, rest = split_name(dataset)
    base = Path(lake) / layer / product / rest
    if not base.is_dir():
        return []
    return sorted(p.name[5:] for p in base.iterdir() if p.name.startswith("date=") and any(p.glob("part-*.parquet")))


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
