"""Serving benchmark: windows/s to one client, emit->decode latency with 1/10/100 clients, memory with a stalled client.

Run from the repo root: ``python benchmarks/serving.py [--seconds 60]``. Uses a generated
lake with real-size surfaces (±400-tick wall/vacuum, 401 radar buckets, 25 strikes).
Baseline measured in the same run: reading + Arrow-IPC-encoding the same windows in
process with no network (the ceiling the server can reach).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import socket
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fixtures_serving import build_fixture_lake  # noqa: E402
from marketphys.serving import protocol as P  # noqa: E402
from marketphys.serving.catalog import Catalog  # noqa: E402
from marketphys.serving.server import ServeConfig, ServerThread  # noqa: E402
from marketphys.serving.session import prepare  # noqa: E402
from marketphys.serving.source import SurfaceCursor, WindowMerger  # noqa: E402

DATE = "2024-03-15"


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def baseline(lake) -> tuple[int, float]:
    cat = Catalog(lake)
    cs = cat.contracts()
    m = WindowMerger([SurfaceCursor(lake, cs[s], "ES", DATE) for s in P.DEFAULT_SURFACES])
    versions = {s: "1" for s in P.DEFAULT_SURFACES}
    n, t0 = 0, time.perf_counter()
    while True:
        w = m.next_ready()
        if w is None:
            if m.done:
                break
            m.fill(64)
            continue
        prepare(w, list(P.DEFAULT_SURFACES), versions)
        n += 1
    return n, time.perf_counter() - t0


async def one_client(url, latencies: list | None, limit=None) -> int:
    import websockets

    n = 0
    async with websockets.connect(url, max_size=None) as ws:
        async for m in ws:
            if isinstance(m, bytes):
                P.decode_ipc(m)
                continue
            msg = json.loads(m)
            if msg["type"] == "batch_end":  # every payload of the window decoded
                n += 1
                if latencies is not None:
                    latencies.append((time.time_ns() - emit_times[msg["window_end_ts_ns"]]) / 1e6)
                if limit and n >= limit:
                    break
            elif msg["type"] == "stream_end":
                break
    return n


emit_times: dict[int, int] = {}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60.0, help="length of the generated session")
    ap.add_argument("--latency-speed", default="20", help="replay pace for the latency runs")
    args = ap.parse_args()
    lake = Path(tempfile.mkdtemp())
    build_fixture_lake(lake, DATE, seconds=args.seconds, level_ticks=400)
    n_windows = int(args.seconds * 2)

    n, dt = baseline(lake)
    print(f"baseline (read + encode in process, no network): {n / dt:,.0f} windows/s")

    # instrument emission times: wrap the session's prepare to record when each window was queued
    import marketphys.serving.session as S

    real_prepare = S.prepare

    def timed_prepare(w, surfaces, versions):
        b = real_prepare(w, surfaces, versions)
        emit_times[w.ts] = time.time_ns()
        return b

    S.prepare = timed_prepare
    with ServerThread(ServeConfig(lake, port=0, speed=None)) as s:
        t0 = time.perf_counter()
        got = asyncio.run(one_client(s.url + "?speed=max", None))
        dt = time.perf_counter() - t0
        print(f"one client, speed=max, default surfaces: {got / dt:,.0f} windows/s ({got} windows)")

        for k in (1, 10, 100):
            emit_times.clear()
            lat: list[float] = []

            async def many():
                return await asyncio.gather(*[one_client(f"{s.url}?speed={args.latency_speed}", lat) for _ in range(k)])

            t0 = time.perf_counter()
            counts = asyncio.run(many())
            wall = time.perf_counter() - t0
            a = np.array(lat)
            print(f"{k:>3} clients at {args.latency_speed}x: latency emitted->decoded p50 {np.percentile(a, 50):7.2f} ms, "
                  f"p99 {np.percentile(a, 99):7.2f} ms; {sum(counts)} batches in {wall:.1f}s, "
                  f"drops {s.stats.batches_dropped}")

    S.prepare = real_prepare
    # stalled client: connects, never reads; server RSS should plateau (bounded queue + socket buffers)
    with ServerThread(ServeConfig(lake, port=0, speed=None, queue_batches=32, send_timeout_s=30)) as s:
        import gc

        gc.collect()
        time.sleep(0.5)
        base = rss_mb()
        sock = socket.create_connection(("127.0.0.1", s.port))
        sock.sendall((f"GET {P.PATH}?speed=max HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        samples = []
        for _ in range(6):
            time.sleep(0.5)
            samples.append(rss_mb() - base)
        sock.close()
        print(f"stalled client (never reads, {n_windows} windows available): RSS {base:.0f} MB before, growth "
              f"every 0.5 s: {', '.join(f'{x:+.1f}' for x in samples)} MB; windows sent before the stall "
              f"{s.stats.windows_sent}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
