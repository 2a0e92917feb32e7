"""Stream verification (docs/architecture.md#data-pipeline, invariants): connect, read batches, list every contract violation.

Checked per connection: framing order (batch_start, header + binary per listed
surface in order, batch_end), strictly increasing window_end_ts_ns, headers match
payloads (rows, every row's window_end_ts_ns, columns and schema_version as
/v1/meta publishes them), 25 rows with rel_ticks % 20 == 0 on strike surfaces,
spot_ref_price_int > 0 when book_valid, and the surface set: the default
connection carries only the default six (never gex_flow); a gated connection
carries only what it asked for, and every requested surface shows up.
"""

from __future__ import annotations

import asyncio
from contextlib import aclosing
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import numpy as np

from marketphys.serving import protocol as P
from marketphys.serving.client import Reassembler, StreamError, raw_messages


@dataclass
class Report:
    requested: list[str] | None
    batches: int = 0
    surfaces_seen: set[str] = field(default_factory=set)
    violations: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations


def http_base(ws_url: str) -> str:
    p = urlsplit(ws_url)
    if p.scheme not in ("ws", "wss"):
        raise ValueError(f"--url must be ws://HOST:PORT{P.PATH}, got {ws_url!r}")
    return urlunsplit(("http" if p.scheme == "ws" else "https", p.netloc, "", "", ""))


def fetch_meta(ws_url: str, token: str | None = None) -> dict:
    import httpx

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        r = httpx.get(http_base(ws_url) + "/v1/meta", headers=headers, timeout=10)
    except httpx.HTTPError as err:
        raise StreamError(f"cannot reach {http_base(ws_url)}/v1/meta: {err}") from None
    if r.status_code != 200:
        raise StreamError(f"GET /v1/meta -> HTTP {r.status_code}: {r.text[:200]}")
    return r.json()


def check_batch(b, meta: dict, expected: set[str], default: bool) -> list[str]:
    bad = []
    extra = set(b.surfaces) - expected
    if extra:
        bad.append(f"batch {b.ts}: carries {sorted(extra)} not requested ({'default set' if default else 'gated set'})")
    if b.surfaces != P.canonical_order(b.surfaces):
        bad.append(f"batch {b.ts}: surfaces not in canonical order: {b.surfaces}")
    for s in b.surfaces:
        t, h = b.tables[s], b.headers[s]
        info = meta["surfaces"].get(s)
        if info is None:
            bad.append(f"batch {b.ts}: surface {s!r} is not in /v1/meta")
            continue
        if h.get("schema_version") != info["schema_version"]:
            bad.append(f"{s} at {b.ts}: schema_version {h.get('schema_version')!r} != meta {info['schema_version']!r}")
        cols = [c["name"] for c in info["columns"]]
        if t.column_names != cols:
            bad.append(f"{s} at {b.ts}: columns {t.column_names} != contract {cols}")
        types = [c["type"] for c in info["columns"]]
        if [str(f.type) for f in t.schema] != types and t.column_names == cols:
            bad.append(f"{s} at {b.ts}: column types {[str(f.type) for f in t.schema]} != contract {types}")
        if t.num_rows and "window_end_ts_ns" in t.column_names:
            ts = t.column("window_end_ts_ns").to_numpy()
            if np.any(ts != b.ts):
                bad.append(f"{s} at {b.ts}: payload rows carry window_end_ts_ns {sorted(set(ts.tolist()) - {b.ts})[:3]}")
        rows = info.get("rows_per_window")
        if s in P.STRIKE_SURFACES:
            rows = rows or P.STRIKE_ROWS
            if t.num_rows != P.STRIKE_ROWS:
                bad.append(f"{s} at {b.ts}: {t.num_rows} rows, strike surfaces have {P.STRIKE_ROWS}")
            if "rel_ticks" in t.column_names:
                rel = t.column("rel_ticks").to_numpy()
                if np.any(rel % P.STRIKE_STEP_TICKS != 0):
                    bad.append(f"{s} at {b.ts}: rel_ticks not multiples of {P.STRIKE_STEP_TICKS}: {rel[rel % 20 != 0][:3]}")
        elif rows and t.num_rows not in (0, rows):
            bad.append(f"{s} at {b.ts}: {t.num_rows} rows, contract says {rows} per window")
        if s == "snap" and {"book_valid", "spot_ref_price_int"} <= set(t.column_names):
            v = t.column("book_valid").to_numpy(zero_copy_only=False)
            ref = t.column("spot_ref_price_int").to_numpy()
            if np.any(v & (ref <= 0)):
                bad.append(f"snap at {b.ts}: spot_ref_price_int <= 0 while book_valid")
    return bad


async def verify_connection(url: str, *, surfaces: list[str] | None, max_batches: int, meta: dict,
                            token=None, date=None, speed="max") -> Report:
    default = surfaces is None
    expected = set(P.DEFAULT_SURFACES) if default else set(surfaces)
    rep = Report(requested=None if default else sorted(expected))
    r = Reassembler()
    last_ts = None
    try:
        msgs = raw_messages(url, surfaces=None if default else ",".join(surfaces), token=token, date=date, speed=speed)
        async with aclosing(msgs) as ms:
            async for m in ms:
                b = r.feed(m)
                if r.ended is not None or b is None:
                    if r.ended is not None:
                        break
                    continue
                if last_ts is not None and b.ts <= last_ts:
                    rep.violations.append(f"window_end_ts_ns not increasing: {b.ts} after {last_ts}")
                last_ts = b.ts
                rep.batches += 1
                rep.surfaces_seen.update(b.surfaces)
                rep.violations += check_batch(b, meta, expected, default)
                if rep.batches >= max_batches:
                    break
    except StreamError as err:
        rep.violations.append(f"stream: {err}")
    if rep.batches == 0 and not rep.violations:
        rep.violations.append("no batches received")
    if default and "gex_flow" in rep.surfaces_seen:
        rep.violations.append("default stream carries gex_flow")
    if rep.batches >= 2:
        missing = expected - rep.surfaces_seen
        if missing:
            rep.violations.append(f"requested surfaces never arrived in {rep.batches} batches: {sorted(missing)}")
    return rep


def verify(url: str, surfaces: list[str] | None = None, max_batches: int = 40, token=None, date=None,
           speed="max") -> list[Report]:
    """The default connection always; the gated one too when ``surfaces`` is given."""
    meta = fetch_meta(url, token)
    runs = [None] + ([surfaces] if surfaces is not None else [])
    return [asyncio.run(verify_connection(url, surfaces=s, max_batches=max_batches, meta=meta, token=token, date=date,
                                          speed=speed)) for s in runs]
