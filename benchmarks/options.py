"""Options pipeline speed: messages/s through SilverComputeGexSurface1s and greeks/s.

Baselines measured in the same run:
- decode only (bronze.iter_mbo over the same DBN file) next to decode + stage;
- vollib's per-option Black-76 implied vol and gamma next to the vectorised black76.

Usage: python benchmarks/options.py [--minutes 15] [--greeks 1000000] [--band 12 all] [--quick]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from marketphys.pipeline import black76  # noqa: E402
from marketphys.pipeline.bronze import iter_mbo  # noqa: E402
from marketphys.pipeline.options_input import read_open_interest, read_option_definitions  # noqa: E402
from marketphys.pipeline.silver_options import (OpenInterest, OptionChain, SilverComputeGexSurface1s,  # noqa: E402
                                                spot_from_futures_mbo)


def _best(fn, repeat=3):
    best = float("inf")
    out = None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def bench_stage(minutes: float, bands=(12,)) -> dict:
    from marketphys.synth.config import SynthConfig
    from marketphys.synth.session import file_names, generate_session

    tmp = Path(tempfile.mkdtemp(prefix="bench-options-"))
    cfg = SynthConfig(minutes=minutes, seed=7)
    generate_session(cfg, tmp, progress=False)
    names = {k: tmp / v for k, v in file_names(cfg.date_compact).items()}
    chain = OptionChain.from_definitions(read_option_definitions(names["definition"]))
    stats = read_open_interest(names["statistics"])
    spot = spot_from_futures_mbo(iter_mbo(names["futures_mbo"]))

    def decode():
        return sum(len(c) for c in iter_mbo(names["options_mbo"], chunk_records=1 << 18))

    def stage(band=12):
        kw = {} if band == 12 else {"band_half_rows": band}     # the default runs on code without the setting
        st = SilverComputeGexSurface1s(chain, OpenInterest(chain, stats), spot, rate=cfg.rate, **kw)
        rows = 0
        for batch in st.run(iter_mbo(names["options_mbo"], chunk_records=1 << 18)):
            rows += sum(t.num_rows for t in batch.values())
        return st.messages, st.windows, rows

    stage()                                   # compile / warm caches
    t_dec, n = _best(decode)
    out = {"messages": n, "decode_s": t_dec, "decode_msg_s": n / t_dec, "bands": {}}
    for band in bands:
        t_stage, (msgs, windows, rows) = _best(lambda: stage(band))
        out["bands"][band] = {"windows": windows, "rows": rows, "stage_s": t_stage, "stage_msg_s": msgs / t_stage,
                              "windows_s": windows / t_stage}
    out.update(out["bands"][bands[0]])
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
    ap.add_argument("--quick", action="store_true",
                    help="small sizes for `make bench`, same-run baselines kept (not for RESULTS.md)")
    a = ap.parse_args(argv)
    if a.quick:
        a.minutes, a.greeks = min(a.minutes, 2.0), min(a.greeks, 100_000)
    bands = tuple(None if b == "all" else int(b) for b in a.band)
    g = bench_greeks(a.greeks)
    print(f"greeks (IV inversion + gamma), {g['n']:,} options:")
    print(f"  black76 (numba, vectorised)   {g['ours_per_s']:>14,.0f} options/s   ({g['ours_s']:.3f} s)")
    print(f"  baseline vollib per option    {g['vollib_per_s']:>14,.0f} options/s")
    s = bench_stage(a.minutes, bands)
    print(f"stage, synthetic {a.minutes:g} min: {s['messages']:,} options MBO messages, {s['windows']:,} windows, "
          f"{s['rows']:,} rows out")
    print(f"  baseline decode only          {s['decode_msg_s']:>14,.0f} msg/s   ({s['decode_s']:.3f} s)")
    for band, b in s["bands"].items():
        print(f"  decode + SilverComputeGexSurface1s (band {band if band is not None else 'all'}) "
              f"{b['stage_msg_s']:>9,.0f} msg/s   ({b['stage_s']:.3f} s, {b['windows_s']:,.0f} windows/s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
