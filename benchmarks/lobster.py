"""A LOBSTER day: decode alone vs the whole build, same run.

Stages, each timed on its own (CPU seconds of this process, ``time.process_time``, and wall; the
machine is shared, so both are printed), best of ``--repeat`` runs:
- decode: the two CSVs out of the zip into arrays (``lobster.read_day``);
- convert: LOBSTER messages -> MBO records, with the top-N repair against every orderbook row;
- whole build: ``build`` into a fresh lake (decode + convert + bronze + the compiled book + the five
  silver surfaces, validated and written as Parquet), as ``marketphys build --input ZIP`` runs it.
Usage: python benchmarks/lobster.py [--zip PATH] [--repeat R] [--quick]
(--quick: one repeat, and a missing file is a skip, not an error: the file is not in the repository)
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's package, not an installed one

from marketphys.pipeline import lobster  # noqa: E402
from marketphys.pipeline.build import build  # noqa: E402

REALDATA = Path(os.environ.get("MARKETPHYS_REALDATA", Path(__file__).resolve().parents[2] / "shared" / "realdata"))


def timed(fn, repeat):
    best = None
    for _ in range(repeat):
        c0, w0 = time.process_time(), time.perf_counter()
        out = fn()
        c, w = time.process_time() - c0, time.perf_counter() - w0
        best = (c, w) if best is None or c < best[0] else best
    return out, best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--zip", default=str(REALDATA / "LOBSTER_SampleFile_AMZN_2012-06-21_5.zip"))
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--quick", action="store_true",
                    help="small sizes for `make bench`, same-run baselines kept (not for RESULTS.md)")
    args = ap.parse_args()
    if args.quick:
        args.repeat = 1
    path = Path(args.zip)
    if not path.is_file():
        print(f"{'skipped: ' if args.quick else ''}no LOBSTER file at {path}: pass --zip or set MARKETPHYS_REALDATA")
        return 0 if args.quick else 2
    (pair,), _ = lobster.split_inputs([path])
    day, (dc, dw) = timed(lambda: lobster.read_day(pair), args.repeat)
    conv, (cc, cw) = timed(lambda: lobster.convert(day), args.repeat)
    build(path, tempfile.mkdtemp(), progress=False)  # warm-up: numba's cache, imports

    def whole():
        with tempfile.TemporaryDirectory() as lake:
            return build(path, lake, progress=False)

    summary, (bc, bw) = timed(whole, args.repeat)
    n = len(day)
    print(f"{pair.ticker} {pair.date}: {n:,} messages, {len(conv.records):,} MBO records, "
          f"{summary.futures[0].windows:,} windows")
    print(f"{'stage':<12} {'cpu s':>7} {'wall s':>7} {'msg/s (cpu)':>12}")
    for name, c, w in (("decode", dc, dw), ("convert", cc, cw), ("whole build", bc, bw)):
        print(f"{name:<12} {c:7.2f} {w:7.2f} {n / c:12,.0f}")
    print(f"whole build / decode: {bc / dc:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
