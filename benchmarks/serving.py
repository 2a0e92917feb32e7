"""Serving benchmark: clients in their own processes against a server in its own process, loopback only.

Run from the repo root: ``python benchmarks/serving.py [--seconds 60] [--quick]``. Uses a generated lake with
real-size surfaces (±400-tick wall/vacuum, 401 radar buckets, 25 strikes; ~250 KB a window, default six).
``--quick`` (``make bench``): a 10 s session, 3 s real-time phases, a tenth of the clients, best of 1; the
targets below are for the full run.

Same-run baseline: reading + Arrow-IPC-encoding every window in this process, no network (the
ceiling one stream can reach). Then, each figure against its target (issue 19):

* one client at ``speed=max``: windows/s, >= 80 % of the baseline;
* 100 clients at 1x real time: p99 window latency (producer emitted -> every payload decoded by the
  client) <= 50 ms, no drops;
* 10 clients at 20x: p99 <= 100 ms, no drops;
* 100 clients at 1x of which 10 never read: server RSS sampled every second, flat.

Latency uses one clock (``time.time_ns`` on one machine): the server process records when its
producer handed each window to the client queues; each client records when it finished decoding
it. Clients connect at one agreed instant so that all of a phase share one producer.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

DATE = "2024-03-15"
STALL_QUERY = "speed=1"


# ----------------------------------------------------------------------------- the server process

def run_server(lake: str, join_s: float) -> int:
    from marketphys.serving import producer as prod
    from marketphys.serving.server import ServeConfig, ServerThread

    emits: dict[int, int] = {}
    real = prod.Producer._deliver

    async def timed(self, b):  # first hand-off of each window to any client queue
        await real(self, b)
        emits.setdefault(b.ts, b.emitted_ns)

    prod.Producer._deliver = timed
    cfg = ServeConfig(Path(lake), port=0, speed=None, share_join_s=join_s, max_clients=512)
    with ServerThread(cfg) as s:
        print(f"PORT {s.port}", flush=True)
        for line in sys.stdin:
            cmd = line.strip()
            if cmd == "emits":
                print(json.dumps({str(k): v for k, v in emits.items()}), flush=True)
                emits.clear()
            elif cmd == "stats":
                print(json.dumps(s.stats.to_dict()), flush=True)
            elif cmd == "quit":
                break
    return 0


# ----------------------------------------------------------------------------- a client process

async def _client(url: str, limit: int | None, decode: bool = True) -> dict:
    import websockets

    from marketphys.serving import protocol as P

    done, drops, n = [], 0, 0
    t0 = time.perf_counter()
    async with websockets.connect(url, max_size=None) as ws:
        async for m in ws:
            if isinstance(m, bytes):
                if decode:
                    P.decode_ipc(m)
                continue
            msg = json.loads(m)
            kind = msg["type"]
            if kind == "batch_start":
                drops += msg.get("dropped", 0)
            elif kind == "batch_end":  # every payload of the window decoded
                done.append((msg["window_end_ts_ns"], time.time_ns()))
                n += 1
                if limit and n >= limit:
                    break
            elif kind == "stream_end":
                break
    return {"done": done, "drops": drops, "wall_s": time.perf_counter() - t0}


async def _stalled(port: int, hold_s: float) -> None:
    """Connects, asks for a stream, never reads a byte."""
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write((f"GET /v1/hud/stream?{STALL_QUERY} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    await asyncio.sleep(hold_s)
    w.close()


def run_clients(url: str, n: int, limit: int | None, start_at: float, stalled: int, port: int, hold_s: float,
                decode: bool) -> int:
    import pyarrow  # noqa: F401  (import before the start instant, not after)
    import websockets  # noqa: F401

    c0 = [0.0]

    async def main():
        await asyncio.sleep(max(0.0, start_at - time.time()))
        c0[0] = time.process_time()  # from the start instant: imports and start-up not counted
        jobs = [_client(url, limit, decode) for _ in range(n)] + [_stalled(port, hold_s) for _ in range(stalled)]
        return await asyncio.gather(*jobs)

    out = [r for r in asyncio.run(main()) if r is not None]
    print(json.dumps({"clients": out, "cpu_s": time.process_time() - c0[0]}))
    return 0


# ----------------------------------------------------------------------------- the conductor

def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (load-independent, unlike wall time)."""
    with open(f"/proc/{pid}/stat") as fh:
        f = fh.read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def baseline(lake: Path) -> tuple[int, float, float]:
    from marketphys.serving import protocol as P
    from marketphys.serving.catalog import Catalog
    from marketphys.serving.producer import encode_window
    from marketphys.frames.cursors import SurfaceCursor, WindowMerger

    cs = Catalog(lake).contracts()
    m = WindowMerger([SurfaceCursor(lake, cs[s], "ES", DATE) for s in P.DEFAULT_SURFACES])
    versions = {s: "1" for s in P.DEFAULT_SURFACES}
    n, t0, c0 = 0, time.perf_counter(), time.process_time()
    while True:
        w = m.next_ready()
        if w is None:
            if m.done:
                break
            m.fill(16)
            continue
        encode_window(w, list(P.DEFAULT_SURFACES), versions)
        n += 1
    return n, time.perf_counter() - t0, time.process_time() - c0


class Server:
    def __init__(self, lake: Path, join_s: float):
        self.p = subprocess.Popen([sys.executable, __file__, "--role", "server", "--lake", str(lake), "--join-s",
                                   str(join_s)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                  env={**os.environ, "PYTHONPATH": str(ROOT)})
        line = self.p.stdout.readline()
        if not line.startswith("PORT "):
            raise RuntimeError(f"server did not start: {line!r}")
        self.port = int(line.split()[1])
        self.url = f"ws://127.0.0.1:{self.port}/v1/hud/stream"

    def ask(self, cmd: str):
        self.p.stdin.write(cmd + "\n")
        self.p.stdin.flush()
        return json.loads(self.p.stdout.readline())

    def close(self) -> None:
        try:
            self.p.stdin.write("quit\n")
            self.p.stdin.flush()
            self.p.wait(10)
        except Exception:
            self.p.kill()


def phase(server: Server, query: str, clients: int, procs: int, limit: int | None, stalled: int = 0,
          hold_s: float = 0.0, lead_s: float = 4.0, sample=None,
          decode: bool = True) -> tuple[list[dict], float, float]:
    """Run ``clients`` readers (+ ``stalled``) spread over ``procs`` processes; all connect at one instant."""
    start_at = time.time() + lead_s
    per = np.array_split(np.arange(clients), procs)
    st = np.array_split(np.arange(stalled), procs)
    ps = [subprocess.Popen([sys.executable, __file__, "--role", "clients", "--url", f"{server.url}?{query}",
                            "--n", str(len(a)), "--limit", str(limit or 0), "--start-at", repr(start_at),
                            "--stalled", str(len(b)), "--port", str(server.port), "--hold-s", str(hold_s),
                            "--decode", str(int(decode))],
                           stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
          for a, b in zip(per, st)]
    if sample is not None:
        while any(p.poll() is None for p in ps):
            sample()
            time.sleep(1.0)
    results, cpu = [], 0.0
    for p in ps:
        out, _ = p.communicate(timeout=600)
        got = json.loads(out)
        results.extend(got["clients"])
        cpu += got["cpu_s"]
    return results, start_at, cpu


def latency_report(server: Server, results: list[dict]) -> tuple[np.ndarray, int, int]:
    emits = {int(k): v for k, v in server.ask("emits").items()}
    lat = [(t - emits[ts]) / 1e6 for r in results for ts, t in r["done"] if ts in emits]
    return np.array(lat), sum(r["drops"] for r in results), sum(len(r["done"]) for r in results)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--role", default="main", choices=["main", "server", "clients"])
    ap.add_argument("--lake")
    ap.add_argument("--join-s", type=float, default=2.0, help="server share_join_s (clients connect at one instant)")
    ap.add_argument("--url")
    ap.add_argument("--n", type=int, default=1)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--start-at", type=float, default=0.0)
    ap.add_argument("--stalled", type=int, default=0)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--hold-s", type=float, default=0.0)
    ap.add_argument("--decode", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=60.0, help="length of the generated session")
    ap.add_argument("--realtime-s", type=float, default=20.0, help="how long the 1x phases run")
    ap.add_argument("--procs", type=int, default=4, help="client processes the clients are spread over")
    ap.add_argument("--quick", action="store_true", help="small sizes for `make bench` (not for RESULTS.md)")
    args = ap.parse_args()
    if args.quick:
        args.seconds, args.realtime_s = min(args.seconds, 10.0), min(args.realtime_s, 3.0)
    scale, tries = (10, 1) if args.quick else (1, 3)  # the quick run divides every client count by `scale`
    if args.role == "server":
        return run_server(args.lake, args.join_s)
    if args.role == "clients":
        return run_clients(args.url, args.n, args.limit or None, args.start_at, args.stalled, args.port, args.hold_s,
                           bool(args.decode))

    from fixtures_serving import build_fixture_lake

    lake = Path(tempfile.mkdtemp())
    build_fixture_lake(lake, DATE, seconds=args.seconds, level_ticks=400)
    print(f"load average at start: {os.getloadavg()[0]:.2f} (2 shared cores)")
    server = Server(lake, args.join_s)
    try:
        for decode in (True, False):  # best of 3, each next to a baseline run, to see through the load
            best, best_base, srv_cpu, base_cpu = 0.0, 0.0, [], []
            for _ in range(tries):
                n, dt, c = baseline(lake)
                best_base = max(best_base, n / dt)
                base_cpu.append(c / n)
                c0 = cpu_s(server.p.pid)
                res, _, _ = phase(server, "speed=max", 1, 1, None, lead_s=1.5, decode=decode)
                r = res[0]
                srv_cpu.append((cpu_s(server.p.pid) - c0) / len(r["done"]))
                best = max(best, len(r["done"]) / r["wall_s"])
                server.ask("emits")
            print(f"one client, speed=max, client in another process{'' if decode else ' (not decoding)'}: best "
                  f"{best:,.0f} windows/s vs best baseline (read + encode in process, no network) {best_base:,.0f} "
                  f"windows/s = {best / best_base:.0%} (target >= 80%); CPU per window: server "
                  f"{1e3 * min(srv_cpu):.2f} ms vs baseline {1e3 * min(base_cpu):.2f} ms; "
                  f"load {os.getloadavg()[0]:.2f}")

        k_rt = int(args.realtime_s * 2)
        for clients, speed, limit, target, decode in ((100 // scale, "1", k_rt, 50, True),
                                                      (100 // scale, "1", k_rt, 50, False),
                                                      (max(10 // scale, 1), "20", None, 100, True)):
            before = server.ask("stats")
            c0 = cpu_s(server.p.pid)
            res, t_start, ccpu = phase(server, f"speed={speed}", clients, min(args.procs, clients), limit,
                                       decode=decode)
            wall = time.time() - t_start
            scpu = cpu_s(server.p.pid) - c0
            lat, drops, got = latency_report(server, res)
            after = server.ask("stats")
            enc = after["windows_encoded"] - before["windows_encoded"]
            print(f"{clients:>3} clients at {speed}x{'' if decode else ' (not decoding)'}: window latency p50 "
                  f"{np.percentile(lat, 50):6.1f} ms, p99 {np.percentile(lat, 99):6.1f} ms, max {lat.max():6.1f} ms "
                  f"(target p99 <= {target}); {got} windows delivered, {drops} dropped; windows encoded {enc} "
                  f"(one producer: {got // clients}); CPU over {wall:.0f} s: server {scpu:.1f} s, "
                  f"clients {ccpu:.1f} s; "
                  f"load {os.getloadavg()[0]:.2f}")

        base_rss = rss_mb(server.p.pid)
        samples: list[float] = []
        res, _, _ = phase(server, "speed=1", 90 // scale, args.procs, k_rt, stalled=10 // scale,
                          hold_s=args.realtime_s + 4,
                       sample=lambda: samples.append(rss_mb(server.p.pid)))
        lat, drops, got = latency_report(server, res)
        st = server.ask("stats")
        time.sleep(2.0)
        end_rss = rss_mb(server.p.pid)
        s = np.array(samples)
        half = len(s) // 2
        print(f"{90 // scale} readers + {10 // scale} stalled at 1x: server RSS {base_rss:.0f} MB before, "
              f"{s.min():.0f}-{s.max():.0f} MB "
              f"during (first half mean {s[:half].mean():.0f}, second half {s[half:].mean():.0f}), {end_rss:.0f} MB "
              f"2 s after; readers p99 {np.percentile(lat, 99):.1f} ms, {drops} dropped; slow disconnects "
              f"{st['slow_disconnects']}; load {os.getloadavg()[0]:.2f}")
        print("RSS every second:", " ".join(f"{x:.0f}" for x in s))
    finally:
        server.close()
        shutil.rmtree(lake, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
