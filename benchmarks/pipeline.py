"""MBO messages/s: decode alone vs decode + book + surfaces, same run, one core.

Inputs (each measured on its own):
- ``--session``: the synthetic RTH session from ``marketphys.synth`` (6.5 h, ES futures MBO
  as zstd DBN v3; generated once into ``--cache``, default data/cache/bench-session).
- ``--messages N``: a generated ES-like stream (random-walk mid, adds/cancels/modifies/
  fills/trades) written as zstd DBN v1. Its book is crossed most of the time (book_valid
  false, few level rows), so it mostly measures decode + the message loop.

Figures are CPU seconds of this process (``time.process_time``: the machine is shared, so
wall time depends on other load; both are printed), best of ``--repeat`` runs. "decode"
is zstd + DBN -> structured arrays as the futures path decodes (``futures_chunks``: small
chunks into one reused buffer), next to a baseline of fresh 1 Mi-record chunks; "whole
path" adds the compiled book, the five surface tables and their contract validation, as
``build`` runs them (streamed batches).
Usage: python benchmarks/pipeline.py [--session] [--messages N] [--repeat R] [--quick]
(--quick: a generated stream of 200,000 messages, one repeat, instead of the 390-minute session)
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import zstandard

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's package, not an installed one

from marketphys.pipeline import bronze  # noqa: E402
from marketphys.pipeline.book import FuturesBook  # noqa: E402
from marketphys.pipeline.prefetch import prefetch  # noqa: E402
from marketphys.pipeline.silver_futures import futures_chunks, pick_instrument, surfaces_from_batch  # noqa: E402

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


def session_file(cache: Path) -> Path:
    """The full RTH synthetic session's futures MBO file (generated once, reused)."""
    from marketphys.synth import SynthConfig, generate_session
    from marketphys.synth.session import file_names

    cfg = SynthConfig(minutes=390, seed=1)
    path = cache / file_names(cfg.date_compact)["futures_mbo"]
    if not path.is_file():
        print(f"generating the 390-minute synthetic session into {cache} ...", flush=True)
        generate_session(cfg, cache, progress=True)
    return path


def run_decode(path: Path, fresh: bool = False) -> int:
    """Decode as the whole path does (small chunks into one reused buffer), or (``fresh``) into fresh
    1 Mi-record chunks as before the third pass."""
    chunks = bronze.iter_mbo(path) if fresh else futures_chunks([bronze.read_info(path)])
    return sum(len(c) for c in chunks)


def run_whole(path: Path, stages: dict, ahead: bool = False) -> tuple[int, int, int]:
    """decode -> book -> tables (+ contracts), streamed like ``build``; CPU seconds per stage into ``stages``.

    ``ahead``: decode in a background thread one chunk ahead (fresh 1 Mi-record chunks: a reused
    buffer cannot be decoded into while the book reads it); the stage figures then mean little
    (the decode thread's CPU time is counted wherever it falls).
    """
    info = bronze.read_info(path)
    book = None
    m = windows = rows = 0
    clock = time.process_time
    chunks = prefetch(bronze.iter_mbo(info)) if ahead else futures_chunks([info])  # as build_futures_day
    while True:
        t0 = clock()
        chunk = next(chunks, None)
        stages["decode"] += clock() - t0
        if chunk is None:
            break
        if book is None:
            iid = pick_instrument(chunk, info.mappings)
            # the generated stream has no snapshot: its book counts as known, so it does the work it always did
            book = FuturesBook(iid, TICK, allow_partial=True)
        m += len(chunk)
        batches = book.iter_feed(chunk, flush=ahead)
        while True:
            t0 = clock()
            b = next(batches, None)
            stages["book"] += clock() - t0
            if b is None:
                break
            t0 = clock()
            s = surfaces_from_batch(b, book.instrument_id, TICK)
            stages["tables + contracts"] += clock() - t0
            windows += b.n_windows
            rows += s.wall.num_rows + s.vacuum.num_rows + s.bucket_radar.num_rows
            del b, s
    for b in book.iter_finish():
        s = surfaces_from_batch(b, book.instrument_id, TICK)
        windows += b.n_windows
        rows += s.wall.num_rows + s.vacuum.num_rows + s.bucket_radar.num_rows
    return m, windows, rows


def measure(label: str, path: Path, repeat: int) -> None:
    warm = FuturesBook(5602, TICK)
    for b in warm.feed(generate(20_000)) + warm.finish():
        surfaces_from_batch(b, 5602, TICK)  # compile (or load the cache) + warm imports
    best_dec = best_all = best_ahead = best_fresh = None
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        m = run_decode(path)
        dec = (time.process_time() - c0, time.perf_counter() - w0)
        c0 = time.process_time()
        assert run_decode(path, fresh=True) == m
        fresh = time.process_time() - c0
        best_fresh = fresh if best_fresh is None or fresh < best_fresh else best_fresh
        stages = {"decode": 0.0, "book": 0.0, "tables + contracts": 0.0}
        w0, c0 = time.perf_counter(), time.process_time()
        m2, windows, rows = run_whole(path, stages)
        whole = (time.process_time() - c0, time.perf_counter() - w0, stages)
        assert m2 == m
        w0, c0 = time.perf_counter(), time.process_time()
        run_whole(path, {"decode": 0.0, "book": 0.0, "tables + contracts": 0.0}, ahead=True)
        ahead = (time.process_time() - c0, time.perf_counter() - w0)
        best_dec = dec if best_dec is None or dec[0] < best_dec[0] else best_dec
        best_all = whole if best_all is None or whole[0] < best_all[0] else best_all
        best_ahead = ahead if best_ahead is None or ahead[1] < best_ahead[1] else best_ahead
    print(f"== {label}: {m:,} messages, {windows:,} windows, {rows:,} level rows (wall + vacuum + bucket_radar)")
    print(f"decode alone (zstd + DBN -> structured array): {m / best_dec[0] / 1e6:6.2f} M msg/s  "
          f"(cpu {best_dec[0]:.2f} s, wall {best_dec[1]:.2f} s)")
    print(f"  baseline: decode into fresh 1 Mi-record chunks: {m / best_fresh / 1e6:6.2f} M msg/s  "
          f"(cpu {best_fresh:.2f} s)")
    print(f"decode + book + surfaces (tables validated):   {m / best_all[0] / 1e6:6.2f} M msg/s  "
          f"(cpu {best_all[0]:.2f} s, wall {best_all[1]:.2f} s)")
    print("  stages (cpu s): " + ", ".join(f"{k} {v:.2f}" for k, v in best_all[2].items()))
    print(f"same, decode one chunk ahead in a thread (2 cores, best wall): {m / best_ahead[1] / 1e6:6.2f} M msg/s  "
          f"(wall {best_ahead[1]:.2f} s, cpu {best_ahead[0]:.2f} s)")
    print(f"ratio whole path / decode ceiling: {best_dec[0] / best_all[0]:.2f}  (target: whole path >= 3 M msg/s)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=0, help="generated stream of N messages (0: skip)")
    ap.add_argument("--session", action="store_true", help="the 390-minute synthetic session")
    ap.add_argument("--cache", type=Path, default=Path("data/cache/bench-session"))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--quick", action="store_true",
                    help="small sizes for `make bench`, same-run baselines kept (not for RESULTS.md)")
    args = ap.parse_args()
    if args.quick:
        args.messages, args.session, args.repeat = args.messages or 200_000, False, 1
    if not args.messages and not args.session:
        args.session = True
    print(f"load average at start: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    if args.session:
        measure("synthetic RTH session (390 min)", session_file(args.cache), args.repeat)
    if args.messages:
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / "bench.mbo.dbn.zst"
            write_dbn(generate(args.messages), path)
            measure(f"generated stream ({args.messages:,} messages)", path, args.repeat)
    print(f"load average at end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
