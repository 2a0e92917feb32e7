"""Synthetic market speed: seconds for a 10-minute sample and a full RTH session, records/s.

Baseline (same run): encoding MBO records one by one through databento_dbn's Python
record objects (``bytes(MBOMsg(...))``), which is what a naive writer would do; our
writer lays out the same bytes with NumPy. Run: ``python benchmarks/synth.py [--minutes M] [--quick]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np


def baseline_encode(n: int) -> float:
    """Records/s of per-record encoding through databento_dbn objects."""
    import databento_dbn as dbn

    t = time.perf_counter()
    out = bytearray()
    for i in range(n):
        out += bytes(dbn.MBOMsg(publisher_id=1, instrument_id=5602, ts_event=i, order_id=i, price=5_212_250_000_000,
                                size=3, action=dbn.Action.ADD, side=dbn.Side.BID, ts_recv=i, flags=128, sequence=i))
    return n / (time.perf_counter() - t)


def ours_encode(n: int, packer: str = "numpy") -> float:
    from marketphys.synth.dbn import pack_mbo, to_mbo_records

    ev = np.zeros((9, n), np.int64)
    ev[0] = ev[1] = ev[3] = np.arange(n)
    ev[2], ev[4], ev[5], ev[6], ev[7], ev[8] = 5602, 5_212_250_000_000, 3, 128, 65, 66
    fn = to_mbo_records if packer == "numpy" else pack_mbo
    fn(ev[:, :10])  # compile / load outside the timing
    t = time.perf_counter()
    fn(ev).tobytes()
    return n / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, nargs="*", default=[10, 390])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--quick", action="store_true",
                    help="small sizes for `make bench`, same-run baselines kept (not for RESULTS.md)")
    args = ap.parse_args()
    if args.quick:
        args.minutes = [2.0]
    from marketphys.synth import SynthConfig, generate_session

    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        generate_session(SynthConfig(minutes=0.2, seed=args.seed), d, progress=False)
        print(f"warm-up (numba compile or cache load): {time.perf_counter() - t:.1f} s")
        for m in args.minutes:
            res = generate_session(SynthConfig(minutes=m, seed=args.seed), d, progress=False)
            n = res.records["futures_mbo"] + res.records["options_mbo"]
            stages = ", ".join(f"{k} {v:.2f}s" for k, v in res.timings.items())
            print(f"{m:6.1f} min: {res.seconds:6.2f} s  futures {res.records['futures_mbo']:>10,}  "
                  f"options {res.records['options_mbo']:>10,}  -> {n / res.seconds / 1e6:.2f} M records/s")
            print(f"           stages: {stages}")
    n, m = (20_000, 200_000) if args.quick else (200_000, 2_000_000)
    b, o, c = baseline_encode(n), ours_encode(m), ours_encode(m, "compiled")
    print(f"MBO encoding: databento_dbn objects {b / 1e6:.2f} M rec/s (baseline) vs NumPy layout {o / 1e6:.1f} M rec/s "
          f"({o / b:.0f}x) vs compiled packer {c / 1e6:.1f} M rec/s ({c / b:.0f}x)")


if __name__ == "__main__":
    main()
