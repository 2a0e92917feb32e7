"""``make demo`` / ``marketphys demo --out DIR``: the whole toolkit end to end on a synthetic session.

Generates a synthetic ES RTH session as DBN (``marketphys.synth``), builds the lake,
replays all of it through the engine with learning next to the baselines, prints the
scorecard, exports θ, writes three-band PNGs of a few moments and the charts as HTML,
and prints where everything is, with the wall and CPU time of each stage.

The default ``--engine kernel`` assembles the day's frames at once
(``LakeSource.day_frames``) and runs the engine's online loop over all of them in the
replay kernel (``replay.batch.replay_day``, baselines over whole-day arrays): a full
46,800-frame day in well under a minute. ``--engine session`` steps the reference
NumPy ``Session`` frame by frame instead (and writes the replay log); use
``--replay-minutes`` to keep that short.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="out/demo", help="output folder (default out/demo)")
    parser.add_argument("--minutes", type=float, default=390.0, help="synthetic session length (default 390 = RTH)")
    parser.add_argument("--replay-minutes", type=float, default=0.0,
                        help="minutes replayed through the engine (default 0 = the whole session)")
    parser.add_argument("--seed", type=int, default=1, help="random seed")
    parser.add_argument("--engine", default="kernel", choices=("kernel", "session"),
                        help="kernel: whole day through the replay kernel (fast, default); session: the reference "
                             "NumPy Session frame by frame, with a replay log")
    parser.add_argument("--backend", default="auto", choices=("numpy", "msl-cpu", "metal", "auto"),
                        help="kernel backend (default auto: the fastest that works here)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


class _Clock:
    """Wall and CPU seconds per demo stage, printed as a table at the end."""

    def __init__(self):
        self.rows: list[tuple[str, float, float]] = []
        self._name = None

    def start(self, name: str) -> None:
        self.stop()
        print(f"== {name}", flush=True)
        self._name, self._w, self._c = name, time.perf_counter(), time.process_time()

    def stop(self) -> None:
        if self._name is not None:
            self.rows.append((self._name, time.perf_counter() - self._w, time.process_time() - self._c))
            self._name = None

    def table(self) -> str:
        lines = [f"  {'stage':<24}{'wall s':>9}{'cpu s':>9}"]
        lines += [f"  {n:<24}{w:>9.1f}{c:>9.1f}" for n, w, c in self.rows]
        lines.append(f"  {'total':<24}{sum(r[1] for r in self.rows):>9.1f}{sum(r[2] for r in self.rows):>9.1f}")
        return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    if args.minutes <= 0 or args.replay_minutes < 0:
        raise ValueError(f"--minutes must be > 0 and --replay-minutes >= 0, got {args.minutes}, {args.replay_minutes}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t_all = time.perf_counter()
    progress = not args.quiet
    clock = _Clock()

    clock.start("synthetic session")
    from marketphys.synth import SynthConfig, generate_session
    res = generate_session(SynthConfig(minutes=args.minutes, seed=args.seed), out / "dbn", progress=progress)
    print(res.summary())

    clock.start("build lake")
    from marketphys.pipeline.build import build
    summary = build([out / "dbn"], out / "lake", progress=progress)
    for line in summary.lines():
        print("  " + line)

    n = None if args.replay_minutes == 0 else int(args.replay_minutes * 120)
    if args.engine == "kernel":
        run_, pngs = _replay_kernel(args, out, n, progress, clock)
    else:
        run_, pngs = _replay_session(args, out, n, progress, clock)
    print(run_.summary())

    clock.start("scorecard")
    card = run_.scorecard()
    print(card)
    card.to_json(out / "scorecard.json")
    (out / "charts").mkdir(exist_ok=True)
    from marketphys.widgets.scorecard_charts import scorecard_charts, theta_chart
    scorecard_charts(card).save(str(out / "charts" / "scorecard.html"), inline=True)   # Vega inlined: opens offline
    th = run_.theta_history()
    theta_chart(th.iloc[::max(1, len(th) // 2000)]).save(str(out / "charts" / "theta.html"), inline=True)

    clock.start("export θ")
    from marketphys.replay.export import export_theta
    export_theta(out / "theta.json", run_, scorecard=card)
    truth = getattr(res, "truth", None)
    if truth is not None and hasattr(truth, "theta"):
        print(f"  learned {run_.theta!r}\n  generator θ {truth.theta}")
    else:
        print(f"  learned {run_.theta!r}")
    clock.stop()

    print(f"\ntime per stage:\n{clock.table()}")
    print(f"\ndone in {time.perf_counter() - t_all:.0f} s. Outputs under {out}/:")
    outs = ["dbn/", "lake/", *(["replay.arrow"] if args.engine == "session" else []), "scorecard.json", "theta.json",
            "charts/scorecard.html", "charts/theta.html", *[Path(p).name for p in pngs]]
    for p in outs:
        print(f"  {out / p}")
    return 0


def _replay_kernel(args, out: Path, n: int | None, progress: bool, clock: _Clock):
    from marketphys.core.engine import EngineConfig
    from marketphys.replay.batch import replay_day
    from marketphys.widgets.figures import three_band_png
    from marketphys.frames.sources import LakeSource

    clock.start("lake -> frames")
    src = LakeSource(out / "lake")
    frames = src.day_frames()
    if n is not None:
        frames = frames[:n]
    print(f"  {len(frames)} frames from {src.date}")
    clock.start("replay with learning")
    day = replay_day(frames, config=EngineConfig(), backend=args.backend, progress=progress,
                     meta={"lake": str(out / "lake"), "date": src.date, "product": "ES"})
    print("  " + ", ".join(f"{k} {v:.1f}" for k, v in day.timings.items()))
    clock.start("three-band PNGs")
    F = day.n_steps
    pngs = []
    for k, i in enumerate(sorted({F // 4, F // 2, F - 5 if F > 5 else F - 1})):
        s = day.session_at(i, warmup=min(240, i))
        pngs.append(three_band_png(s, out / f"three_band_{k + 1}.png", title=f"frame {i}"))
    return day, pngs


def _replay_session(args, out: Path, n: int | None, progress: bool, clock: _Clock):
    from marketphys.core.engine import EngineConfig
    from marketphys.widgets.figures import three_band_png
    from marketphys.replay.session import Session

    clock.start("replay with learning")
    s = Session.from_lake(out / "lake", log=out / "replay.arrow", config=EngineConfig(backend=args.backend))
    pngs = []
    with s:
        total = n if n is not None else len(s.source)
        done = 0
        for m in [total // 4, total // 2, total - 5]:
            s.run(n=m - done, progress=progress)
            done = m
            pngs.append(three_band_png(s, out / f"three_band_{len(pngs) + 1}.png", title=f"frame {s.n_steps}"))
        s.run(n=None if n is None else n - done, progress=progress)
    return s, pngs
