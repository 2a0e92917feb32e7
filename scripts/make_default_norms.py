"""Make data/norms/default_calibration.json: the gold bands a lake's first day is normalised with.

A first day has no earlier day to calibrate on, so it uses these bands: q05/q95 of every gold metric
over one synthetic session (``marketphys.synth``, the seed and length below), built into a scratch
lake. Re-run after a change to the metrics or the generator; the file records how it was made.
Usage: python scripts/make_default_norms.py [--minutes 5] [--seed 1] [--out data/norms/default_calibration.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from marketphys.pipeline import gold  # noqa: E402
from marketphys.pipeline.build import build  # noqa: E402
from marketphys.synth.config import SynthConfig  # noqa: E402
from marketphys.synth.session import generate_session  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default=None, help="default: data/norms/default_calibration.json")
    args = ap.parse_args()
    cfg = SynthConfig(minutes=args.minutes, seed=args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        # the scratch build normalises its one day with empty bands: only the raw values are used here
        (Path(tmp) / "empty.json").write_text('{"bands": {}}')
        out_path, gold.DEFAULT_CALIBRATION_PATH = gold.DEFAULT_CALIBRATION_PATH, Path(tmp) / "empty.json"
        generate_session(cfg, Path(tmp) / "raw", progress=False)
        build(Path(tmp) / "raw", Path(tmp) / "lake", progress=False)
        calib = gold.compute_calibration(Path(tmp) / "lake", "ES", [cfg.date])
    doc = {"made_by": "scripts/make_default_norms.py", "generator": {"minutes": args.minutes, "seed": args.seed,
                                                                       "date": cfg.date, "product": "ES"},
           "quantiles": [gold.Q_LO, gold.Q_HI],
           "bands": {k: {"q05": b.q05, "q95": b.q95, "signed": b.signed, "n": b.n} for k, b in sorted(calib.bands.items())}}
    out = Path(args.out or out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"{out}: {len(doc['bands'])} metrics from a {args.minutes}-minute synthetic session (seed {args.seed})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
