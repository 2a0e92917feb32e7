"""`marketphys demo` end to end on a short synthetic session (the full RTH run is `make demo`)."""

from __future__ import annotations

import json

from marketphys.cli import main
from marketphys.replay.export import load_theta
from marketphys.replay.log import read_log


import pytest


@pytest.mark.parametrize("engine", ["kernel", "session"])
def test_demo_writes_everything_it_promises(tmp_path, capsys, engine):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--minutes", "1", "--replay-minutes", "0.5", "--quiet",
                 "--engine", engine]) == 0
    printed = capsys.readouterr().out
    assert "time per stage" in printed and "replay with learning" in printed
    names = ("scorecard.json", "theta.json", "charts/scorecard.html", "charts/theta.html", "three_band_1.png",
             "three_band_3.png") + (("replay.arrow",) if engine == "session" else ())
    for name in names:
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
        assert str(out / name) in printed
    doc = json.loads((out / "scorecard.json").read_text())
    assert set(doc["horizons"]) == {"1", "2", "3", "4"} and doc["horizons"]["1"]["engine"]["n"] > 0
    assert load_theta(out / "theta.json").training_window["n_frames"] == 60
    if engine == "session":
        assert len(read_log(out / "replay.arrow").frames) == 60
    assert (out / "three_band_1.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for name in ("charts/scorecard.html", "charts/theta.html"):     # Vega inlined: the pages open offline
        assert "cdn.jsdelivr" not in (out / name).read_text(), name
