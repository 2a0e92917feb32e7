"""``make demo`` / ``marketphys demo --out DIR``: the whole toolkit end to end on a synthetic session.

Generates a synthetic ES RTH session as DBN (``marketphys.synth``), builds the lake,
replays it through the engine with learning next to the baselines, prints the
scorecard, exports θ, writes the replay log, three-band PNGs of a few moments and the
charts as HTML, and prints where everything is.

The NumPy reference engine steps ~100 frames/s here, so by default the demo replays the
first ``--replay-minutes`` (30) of the full 390-minute session it generates and builds;
``--replay-minutes 0`` replays all of it (several minutes longer).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="out/demo", help="output folder (default out/demo)")
    parser.add_argument("--minutes", type=float, default=390.0, help="synthetic session length (default 390 = RTH)")
    parser.add_argument("--replay-minutes", type=float, default=30.0,
                        help="minutes replayed through the engine (0 = all; default 30)")
    parser.add_argument("--seed", type=int, default=1, help="random seed")
    parser.add_argument("--backend", default="auto", choices=("numpy", "msl-cpu", "metal", "auto"),
                        help="kernel backend of the engine's rollout (default auto: the fastest that works here)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    from marketphys.cli import CliError

    if args.minutes <= 0 or args.replay_minutes < 0:
        raise CliError(f"--minutes must be > 0 and --replay-minutes >= 0, got {args.minutes}, {args.replay_minutes}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t_all = time.perf_counter()
    progress = not args.quiet
    times = {}

    def step(name):
        print(f"== {name}", flush=True)
        times[name] = time.perf_counter()

    step("synthetic session")
    from marketphys.synth import SynthConfig, generate_session
    res = generate_session(SynthConfig(minutes=args.minutes, seed=args.seed), out / "dbn", progress=progress)
    print(res.summary())

    step("build lake")
    from marketphys.pipeline.build import build
    summary = build([out / "dbn"], out / "lake", progress=progress)
    for line in summary.lines():
        print("  " + line)

    step("replay with learning")
    from marketphys.core.engine import EngineConfig
    from marketphys.replay.session import Session
    s = Session.from_lake(out / "lake", log=out / "replay.arrow", config=EngineConfig(backend=args.backend))
    n = None if args.replay_minutes == 0 else int(args.replay_minutes * 120)
    pngs = []
    with s:
        marks = [] if n is None else [n // 4, n // 2, n - 5]
        done = 0
        for m in marks:
            s.run(n=m - done, progress=progress)
            done = m
            p = out / f"three_band_{len(pngs) + 1}.png"
            from marketphys.replay.figures import three_band_png
            pngs.append(three_band_png(s, p, title=f"three bands at {s.frame.ts_ns} (frame {s.n_steps})"))
        s.run(n=None if n is None else n - done, progress=progress)
        if n is None:
            from marketphys.replay.figures import three_band_png
            pngs.append(three_band_png(s, out / "three_band_1.png"))
    print(s.summary())

    step("scorecard")
    card = s.scorecard()
    print(card)
    card.to_json(out / "scorecard.json")
    (out / "charts").mkdir(exist_ok=True)
    card.charts().save(str(out / "charts" / "scorecard.html"))
    from marketphys.baselines.charts import theta_chart
    theta_chart(s.theta_history().iloc[::10]).save(str(out / "charts" / "theta.html"))

    step("export θ")
    from marketphys.replay.export import export_theta
    export_theta(out / "theta.json", s, scorecard=card)
    truth = getattr(res, "truth", None)
    if truth is not None and hasattr(truth, "theta"):
        print(f"  learned {s.theta!r}\n  generator θ {truth.theta}")
    else:
        print(f"  learned {s.theta!r}")

    print(f"\ndone in {time.perf_counter() - t_all:.0f} s. Outputs under {out}/:")
    for p in ("dbn/", "lake/", "replay.arrow", "scorecard.json", "theta.json", "charts/scorecard.html",
              "charts/theta.html", *[Path(p).name for p in pngs]):
        print(f"  {out / p}")
    return 0
