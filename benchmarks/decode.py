"""DBN MBO decode: the bronze decoder (``bronze.iter_mbo``) next to databento_dbn's own decoder,
on the same files, in the same run, zstd included on both sides.

Both decoders get the same input: the file's bytes through the same ``zstandard`` stream reader
(databento_dbn's Python ``DBNDecoder`` takes bytes, it does not decompress), so zstd costs
the same on both sides; the "no zstd" lines decode bytes already decompressed in memory.
- databento_dbn: ``DBNDecoder.write`` + ``decode`` per 16 MiB of DBN bytes (one Python record
  object per message: what its Python API gives).
- bronze, fresh chunks: ``iter_mbo(chunk_records=1 Mi)``, a new array per chunk (the options
  stage's and bronze's reads before this change).
- bronze, reused buffer: ``iter_mbo(chunk_records=64 Ki, reuse=True)``: what the futures path
  and (now) the options stage read.
Figures are CPU seconds of this process, best of ``--repeat`` (the machine is shared; wall
seconds are printed too). ``--quick``: the 10-minute synthetic session, 2 repeats.
Usage: python benchmarks/decode.py [--quick] [--minutes 60] [--repeat 3] [FILE.dbn.zst ...]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import zstandard

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's package, not an installed one

from marketphys.pipeline import bronze  # noqa: E402

BLOCK = 1 << 24


def _stream(path: Path):
    fh = open(path, "rb")
    if fh.read(4) == bronze.ZSTD_MAGIC:
        fh.seek(0)
        return zstandard.ZstdDecompressor().stream_reader(fh, read_across_frames=True, closefd=True)
    fh.seek(0)
    return fh


def dbn_decoder(path: Path, data: bytes | None = None) -> int:
    """databento_dbn's decoder over the file (or over ``data``, its decompressed bytes)."""
    import databento_dbn as dbn

    dec = dbn.DBNDecoder()
    n = -1                                       # the first object is the Metadata
    if data is not None:
        for i in range(0, len(data), BLOCK):
            dec.write(data[i: i + BLOCK])
            n += len(dec.decode())
        return n
    with _stream(path) as s:
        while True:
            buf = s.read(BLOCK)
            if not buf:
                break
            dec.write(buf)
            n += len(dec.decode())
    return n


def bronze_fresh(path: Path) -> int:
    return sum(len(c) for c in bronze.iter_mbo(path, chunk_records=1 << 20))


def bronze_reused(path: Path) -> int:
    return sum(len(c) for c in bronze.iter_mbo(path, chunk_records=bronze.DECODE_RECORDS, reuse=True))


def bronze_bytes(data: bytes) -> int:
    """bronze's record split + checks over decompressed bytes in memory (the no-zstd line)."""
    import numpy as np

    buf = np.frombuffer(data, np.uint8)
    info_len = 8 + int.from_bytes(data[4:8], "little")
    n = 0
    step = bronze.DECODE_RECORDS * 56
    for i in range(info_len, len(buf), step):
        recs, _ = bronze._split_records(buf[i: i + step], 56, bronze.RTYPE_MBO, Path("mem"), i)
        n += len(recs) // 56
    return n


def _best(fn, repeat):
    best_cpu = best_wall = float("inf")
    out = None
    for _ in range(repeat):
        c, w = time.process_time(), time.perf_counter()
        out = fn()
        best_cpu, best_wall = min(best_cpu, time.process_time() - c), min(best_wall, time.perf_counter() - w)
    return best_cpu, best_wall, out


def measure(path: Path, repeat: int) -> None:
    with _stream(path) as s:
        data = s.read()
    rows = [("databento_dbn DBNDecoder (zstd + decode)", lambda: dbn_decoder(path)),
            ("bronze.iter_mbo, fresh 1 Mi chunks", lambda: bronze_fresh(path)),
            ("bronze.iter_mbo, reused 64 Ki buffer", lambda: bronze_reused(path)),
            ("databento_dbn DBNDecoder, no zstd", lambda: dbn_decoder(path, data)),
            ("bronze record split + checks, no zstd", lambda: bronze_bytes(data))]
    print(f"{path.name}: {path.stat().st_size / 1e6:.1f} MB on disk, {len(data) / 1e6:.1f} MB DBN")
    base = None
    for label, fn in rows:
        cpu, wall, n = _best(fn, repeat)
        rate = n / cpu / 1e6
        base = base or rate
        print(f"  {label:<42} {n:>11,} rec  {rate:6.2f} M rec/s CPU  ({cpu:.3f} s CPU, {wall:.3f} s wall)"
              f"  x{rate / base:.2f} vs databento_dbn")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="*", type=Path, help="MBO DBN files (default: a synthetic session's)")
    ap.add_argument("--minutes", type=float, default=60.0, help="synthetic session length when no file is given")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="10-minute session, 2 repeats")
    a = ap.parse_args()
    if a.quick:
        a.minutes, a.repeat = 10.0, 2
    files = list(a.files)
    if not files:
        from marketphys.synth.config import SynthConfig
        from marketphys.synth.session import file_names, generate_session

        tmp = Path(tempfile.mkdtemp(prefix="bench-decode-"))
        cfg = SynthConfig(minutes=a.minutes, seed=7)
        generate_session(cfg, tmp, progress=False)
        names = file_names(cfg.date_compact)
        files = [tmp / names["options_mbo"], tmp / names["futures_mbo"]]
    for f in files:
        measure(f, a.repeat)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
