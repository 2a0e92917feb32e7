"""Options pipeline speed: messages/s through SilverComputeGexSurface1s and greeks/s.

Baselines measured in the same run:
- decode only (bronze.iter_mbo over the same DBN file, as the stage reads it) next to decode +
  stage, and databento_dbn's own decoder on the same file (zstd + ``DBNDecoder.decode``);
- vollib's per-option Black-76 implied vol and gamma next to the vectorised black76.

Stage figures are CPU seconds of this process (``time.process_time``; the machine is shared,
wall seconds are printed too), best of 3. ``--profile`` adds where the stage's time goes (cProfile,
grouped by phase). ``--quick``: a 5-minute session, 100,000 options for the greeks.

Usage: python benchmarks/options.py [--quick] [--minutes 15] [--greeks 1000000] [--band 12 all] [--profile]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))   # benchmarks/decode.py

from marketphys.pipeline import black76  # noqa: E402
from marketphys.pipeline.bronze import iter_mbo  # noqa: E402
from marketphys.pipeline.options_input import read_open_interest, read_option_definitions  # noqa: E402
from marketphys.pipeline.silver_options import (OpenInterest, OptionChain, SilverComputeGexSurface1s,  # noqa: E402
                                                spot_from_futures_mbo)


def _best(fn, repeat=3):
    """Best CPU seconds of ``repeat`` runs (and the best wall seconds, for honesty)."""
    best = wall = float("inf")
    out = None
    for _ in range(repeat):
        c, t = time.process_time(), time.perf_counter()
        out = fn()
        best, wall = min(best, time.process_time() - c), min(wall, time.perf_counter() - t)
    _best.wall = wall
    return best, out


PHASES = (   # cProfile function (file:function substring) -> phase of the stage
    ("options_book.py", "book: per-order message loop, flushes, top of book"),
    ("bronze.py", "decode (zstd + DBN)"), ("zstandard", "decode (zstd + DBN)"),
    ("black76.py", "Black-76: implied vol + gamma"),
    ("chain/profile.py", "zero-gamma profile + root"),
    ("contracts", "contract checks"),
    ("gex.py", "strike grid, aggregation, derivatives"),
    ("pandas", "IV fallbacks, joins (pandas)"),
)


def profile_stage(run) -> list[tuple[str, float]]:
    """Seconds of own time per phase (cProfile tottime, grouped by file), largest first."""
    import cProfile
    import pstats

    pr = cProfile.Profile()
    pr.runcall(run)
    st = pstats.Stats(pr)
    acc: dict[str, float] = {}
    for (file, _line, _fn), (_cc, _nc, tt, _ct, _callers) in st.stats.items():
        phase = next((p for key, p in PHASES if key in file), "rest: per-window Python, tables, Arrow")
        acc[phase] = acc.get(phase, 0.0) + tt
    return sorted(acc.items(), key=lambda kv: -kv[1])


def bench_stage(minutes: float, bands=(12,), profile: bool = False) -> dict:
    from marketphys.synth.config import SynthConfig
    from marketphys.synth.session import file_names, generate_session

    tmp = Path(tempfile.mkdtemp(prefix="bench-options-"))
    cfg = SynthConfig(minutes=minutes, seed=7)
    generate_session(cfg, tmp, progress=False)
    names = {k: tmp / v for k, v in file_names(cfg.date_compact).items()}
    chain = OptionChain.from_definitions(read_option_definitions(names["definition"]))
    stats = read_open_interest(names["statistics"])
    spot = spot_from_futures_mbo(iter_mbo(names["futures_mbo"]))

    def chunks():
        try:       # as build_options_day reads (older checkouts: fresh chunks)
            return iter_mbo(names["options_mbo"], chunk_records=1 << 16, reuse=True)
        except TypeError:
            return iter_mbo(names["options_mbo"], chunk_records=1 << 18)

    def decode():
        return sum(len(c) for c in chunks())

    def stage(band=12):
        kw = {} if band == 12 else {"band_half_rows": band}     # the default runs on code without the setting
        st = SilverComputeGexSurface1s(chain, OpenInterest(chain, stats), spot, rate=cfg.rate, **kw)
        rows = 0
        for batch in st.run(chunks()):
            rows += sum(t.num_rows for t in batch.values())
        return st.messages, st.windows, rows

    stage()                                   # compile / warm caches
    t_dec, n = _best(decode)
    out = {"messages": n, "decode_s": t_dec, "decode_msg_s": n / t_dec, "decode_wall_s": _best.wall, "bands": {}}
    try:
        from decode import dbn_decoder        # benchmarks/decode.py: databento_dbn's decoder, zstd included
        t_dbn, n_dbn = _best(lambda: dbn_decoder(names["options_mbo"]))
        out["dbn_msg_s"] = n_dbn / t_dbn
    except ImportError:
        out["dbn_msg_s"] = float("nan")
    for band in bands:
        t_stage, (msgs, windows, rows) = _best(lambda: stage(band))
        out["bands"][band] = {"windows": windows, "rows": rows, "stage_s": t_stage, "stage_msg_s": msgs / t_stage,
                              "windows_s": windows / t_stage, "wall_s": _best.wall}
    out.update(out["bands"][bands[0]])
    if profile:
        out["profile"] = profile_stage(lambda: stage(bands[0]))
    return out


def bench_greeks(n: int) -> dict:
    from vollib.black.greeks.analytical import gamma as vb_gamma
    from vollib.black.implied_volatility import implied_volatility as vb_iv

    rng = np.random.default_rng(0)
    F = 5200 + rng.normal(0, 20, n)
    K = np.round(F / 5) * 5 + rng.integers(-12, 13, n) * 5.0
    T = rng.uniform(1 / 365 / 24, 0.25, n)
    sig = rng.uniform(0.08, 0.4, n)
    call = rng.random(n) < 0.5
    px = black76.price(F, K, T, sig, call)
    black76.implied_vol(px[:10], F[:10], K[:10], T[:10], call[:10])

    def ours():
        iv, _ = black76.implied_vol(px, F, K, T, call)
        return black76.gamma(F, K, T, iv)

    t_ours, _ = _best(ours)
    m = 2000
    t0 = time.perf_counter()
    for i in range(m):
        f = "c" if call[i] else "p"
        try:
            s = vb_iv(px[i], F[i], K[i], 0.0, T[i], f)
            vb_gamma(f, F[i], K[i], T[i], 0.0, s)
        except Exception:
            pass
    t_ref = (time.perf_counter() - t0) / m * n
    return {"n": n, "ours_s": t_ours, "ours_per_s": n / t_ours, "vollib_per_s": n / t_ref}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=15.0, help="synthetic session length for the stage")
    ap.add_argument("--greeks", type=int, default=1_000_000, help="options per greeks batch")
    ap.add_argument("--band", nargs="+", default=["12"], metavar="ROWS|all",
                    help="options strike bands to time the stage with (default 12: the 25 surface rows)")
    ap.add_argument("--profile", action="store_true", help="also print the stage's time per phase (cProfile)")
    ap.add_argument("--quick", action="store_true", help="5-minute session, 100,000 options for the greeks")
    a = ap.parse_args(argv)
    if a.quick:
        a.minutes, a.greeks = 5.0, 100_000
    bands = tuple(None if b == "all" else int(b) for b in a.band)
    g = bench_greeks(a.greeks)
    print(f"greeks (IV inversion + gamma), {g['n']:,} options:")
    print(f"  black76 (numba, vectorised)   {g['ours_per_s']:>14,.0f} options/s   ({g['ours_s']:.3f} s)")
    print(f"  baseline vollib per option    {g['vollib_per_s']:>14,.0f} options/s")
    s = bench_stage(a.minutes, bands, a.profile)
    print(f"stage, synthetic {a.minutes:g} min: {s['messages']:,} options MBO messages, {s['windows']:,} windows, "
          f"{s['rows']:,} rows out (CPU seconds, best of 3)")
    print(f"  baseline databento_dbn decoder {s['dbn_msg_s']:>13,.0f} msg/s   (zstd + DBNDecoder.decode, same file)")
    print(f"  baseline decode only          {s['decode_msg_s']:>14,.0f} msg/s   ({s['decode_s']:.3f} s CPU, "
          f"{s['decode_wall_s']:.3f} s wall)")
    for band, b in s["bands"].items():
        print(f"  decode + SilverComputeGexSurface1s (band {band if band is not None else 'all'}) "
              f"{b['stage_msg_s']:>9,.0f} msg/s   ({b['stage_s']:.3f} s CPU, {b['wall_s']:.3f} s wall, "
              f"{b['windows_s']:,.0f} windows/s, x{s['decode_msg_s'] / b['stage_msg_s']:.1f} the decode's time)")
    if "profile" in s:
        tot = sum(v for _, v in s["profile"])
        print(f"  where the stage's time goes (band {bands[0]}, cProfile own time, {tot:.3f} s with the profiler):")
        for phase, v in s["profile"]:
            print(f"    {phase:<52} {v:7.3f} s  {100 * v / tot:5.1f} %")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
