"""Scorecards of a whole lake date (engine head, raw physics, every baseline) with coverage and verdict lines.

    python benchmarks/scorecards.py --lake out/lake --date 2024-05-09 [--product ES] [--start mid|latent]
                                    [--frames-cache out/frames.pkl] [--json out/card.json] [--quick]

The day is replayed with the whole-day kernel loop (``replay_day``, msl-cpu when it works here), the
same online rules as a ``Session``. The random walk is the baseline every verdict is relative to.
"""

from __future__ import annotations

import argparse
import dataclasses
import pickle
import time
from pathlib import Path


def load_frames(lake: str, date: str | None, product: str, cache: str | None):
    if cache and Path(cache).exists():
        with open(cache, "rb") as f:
            return pickle.load(f)
    from marketphys.frames.sources import LakeSource

    frames = LakeSource(lake, date=date, product=product).day_frames()
    if cache:
        with open(cache, "wb") as f:
            pickle.dump(frames, f, protocol=pickle.HIGHEST_PROTOCOL)
    return frames


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lake", required=True)
    ap.add_argument("--date", default=None)
    ap.add_argument("--product", default="ES")
    ap.add_argument("--start", default="mid", choices=("mid", "latent"))
    ap.add_argument("--frames-cache", default=None)
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--json", default=None)
    ap.add_argument("--no-head", action="store_true", help="score the raw rollout only (gates and blend off)")
    ap.add_argument("--quick", action="store_true",
                    help="the first 2,000 frames of the day only, for `make bench` (not for RESULTS.md)")
    args = ap.parse_args(argv)

    from marketphys.core.engine import EngineConfig
    from marketphys.replay.batch import replay_day

    t0 = time.perf_counter()
    frames = load_frames(args.lake, args.date, args.product, args.frames_cache)
    if args.quick:
        frames = frames[:2_000]
    t_frames = time.perf_counter() - t0
    cfg = EngineConfig(start=args.start)
    if args.no_head:
        cfg = dataclasses.replace(cfg, head=dataclasses.replace(cfg.head, shrink=False, gate=False))
    t0 = time.perf_counter()
    run = replay_day(frames, config=cfg, backend=args.backend, progress=False,
                     meta={"lake": args.lake, "date": args.date, "product": args.product})
    t_run = time.perf_counter() - t0
    t0 = time.perf_counter()
    card = run.scorecard()
    t_card = time.perf_counter() - t0
    print(f"{len(frames)} frames ({t_frames:.1f} s to load), replay {t_run:.1f} s on {run.backend}, "
          f"scorecard {t_card:.1f} s; start={args.start}; final θ {run.theta!r}")
    h = run.head
    print("head: β", h.beta.round(3).tolist(), "gate mean", h.gate_mean.tolist(), "gate median",
          h.gate_median.tolist(), "D", h.D.round(3).tolist(), "k", h.k.round(3).tolist())
    print(card)
    if args.json:
        card.to_json(args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
