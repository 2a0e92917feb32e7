"""MBO messages/s: decode alone vs decode + book + surfaces, same run, one core.

Until the synthetic session generator lands, the input is a generated ES-like
stream (random walk mid, adds/cancels/modifies/fills/trades) written as a DBN v1
file with zstd, so decode includes decompression like real files.
Usage: python benchmarks/pipeline.py [--messages N]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import zstandard

from marketphys.pipeline import bronze
from marketphys.pipeline.book import FuturesBook
from marketphys.pipeline.silver_futures import surfaces_from_batch

TICK = 250_000_000


def generate(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    a = np.zeros(n, bronze.MBO_DTYPE)
    a["length"], a["rtype"], a["instrument_id"], a["flags"] = 14, 0xA0, 5602, 0x80
    a["ts_recv"] = 1_715_160_000_000_000_000 + np.cumsum(rng.integers(0, 2_000_000, n))  # ~1000 msg/s
    mid = 20_000 + np.cumsum(rng.choice([-1, 0, 0, 0, 1], n)) // 50
    side = rng.integers(0, 2, n)
    dist = 1 + rng.geometric(0.15, n)
    tick = np.where(side == 0, mid - dist, mid + dist)
    act = rng.choice(np.frombuffer(b"AAAACCCMFT", np.uint8), n)
    oid = np.arange(1, n + 1, dtype=np.uint64)
    back = np.maximum(1, np.arange(n) - rng.integers(1, 400, n)).astype(np.uint64)
    oid = np.where(act == ord("A"), oid, back)  # non-adds refer to an earlier message's order
    a["action"], a["side"] = act, np.where(side == 0, ord("B"), ord("A"))
    a["price"], a["size"], a["order_id"] = tick * TICK, rng.integers(1, 20, n), oid
    return a


def write_dbn(recs: np.ndarray, path: Path) -> None:
    # Databento's own Metadata writes the header; records are appended byte-exact.
    import databento_dbn as dbn
    md = dbn.Metadata(dataset="GLBX.MDP3", schema=dbn.Schema.MBO, start=int(recs["ts_recv"][0]),
                      stype_in=dbn.SType.RAW_SYMBOL, stype_out=dbn.SType.INSTRUMENT_ID, symbols=["ESM4"],
                      partial=[], not_found=[], mappings=[], version=1)
    with open(path, "wb") as fh:
        with zstandard.ZstdCompressor(level=3).stream_writer(fh) as z:
            z.write(bytes(md))
            z.write(recs.tobytes())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=5_000_000)
    n = ap.parse_args().messages
    recs = generate(n)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "bench.mbo.dbn.zst"
        write_dbn(recs, path)
        warm = FuturesBook(5602, TICK)
        for b in warm.feed(recs[:20_000]) + warm.finish():
            surfaces_from_batch(b, 5602, TICK)  # compile + warm caches
        t0 = time.perf_counter()
        m = sum(len(c) for c in bronze.iter_mbo(path))
        t_dec = time.perf_counter() - t0
        t0 = time.perf_counter()
        book = FuturesBook(5602, TICK)
        windows = rows = 0
        for c in bronze.iter_mbo(path):
            for b in book.feed(c):
                s = surfaces_from_batch(b, 5602, TICK)
                windows += b.n_windows
                rows += s.wall.num_rows + s.vacuum.num_rows + s.bucket_radar.num_rows
        for b in book.finish():
            surfaces_from_batch(b, 5602, TICK)
            windows += b.n_windows
        t_all = time.perf_counter() - t0
    print(f"messages: {m:,}  windows: {windows:,}  level rows: {rows:,}")
    print(f"decode alone (zstd + DBN -> structured array): {m / t_dec / 1e6:6.2f} M msg/s  ({t_dec:.2f} s)")
    print(f"decode + book + surfaces (tables validated):   {m / t_all / 1e6:6.2f} M msg/s  ({t_all:.2f} s)")
    print(f"ratio whole path / decode ceiling: {t_dec / t_all:.2f}  (target: whole path >= 3 M msg/s)")


if __name__ == "__main__":
    main()
