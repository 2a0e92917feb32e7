"""``marketphys replay`` from the command line, and the real conformance ES MBO through the whole path."""

from __future__ import annotations

import json

import pytest

from fixtures_serving import build_fixture_lake
from marketphys.cli import main
from marketphys.replay.export import load_theta
from marketphys.replay.log import replay_log

FORECASTERS = {"engine", "random_walk", "constant_velocity", "ar", "ofi", "microprice", "queue_imbalance", "physics_linear",
               "physics"}


def check_scorecard_shape(doc: dict) -> None:
    assert doc["schema"] == "marketphys.scorecard/1"
    assert set(doc["horizons"]) == {"1", "2", "3", "4"}
    for h, per in doc["horizons"].items():
        assert FORECASTERS <= set(per)
        for f in FORECASTERS:
            assert {"n", "mae", "rmse", "hit_rate"} <= set(per[f])
        assert set(per["engine"]["dm"]) == FORECASTERS - {"engine"}
        for b in per["engine"]["dm"].values():
            assert set(b) == {"stat", "p_value", "stat_abs", "p_value_abs"}
        for f in FORECASTERS - {"physics"}:      # every forecaster but the raw rollout has bands
            assert {"cover50", "cover90", "pinball"} <= set(per[f])
    assert [v["horizon"] for v in doc["verdicts"]] == [1, 2, 3, 4]
    assert {v["verdict"] for v in doc["verdicts"]} <= {"better", "no different", "worse"}


def test_cli_replay_writes_scorecard_theta_and_log(tmp_path, capsys):
    info = build_fixture_lake(tmp_path / "lake", seconds=15)
    rc = main(["replay", "--lake", str(tmp_path / "lake"), "--date", info["date"], "--quiet",
               "--scorecard", str(tmp_path / "sc.json"), "--export-theta", str(tmp_path / "th.json"),
               "--log", str(tmp_path / "run.arrow")])
    assert rc == 0
    out = capsys.readouterr().out
    assert "replay ES" in out and "Diebold-Mariano" in out
    doc = json.loads((tmp_path / "sc.json").read_text())
    check_scorecard_shape(doc)
    assert doc["horizons"]["1"]["engine"]["n"] > 0
    tf = load_theta(tmp_path / "th.json")
    r = replay_log(tmp_path / "run.arrow")
    assert r.identical and r.log.complete
    assert (r.thetas[-1] == tf.theta.values).all()
    # start from the exported θ, frozen
    rc = main(["replay", "--lake", str(tmp_path / "lake"), "--theta", str(tmp_path / "th.json"), "--no-learn",
               "--quiet", "--max-frames", "5"])
    assert rc == 0


@pytest.mark.parametrize("argv, msg", [
    (["--lake", "/nonexistent/lake"], "does not exist"),
    (["--lake", "LAKE", "--date", "2031-01-01"], "no ES data for date 2031-01-01"),
    (["--lake", "LAKE", "--date", "2024-13-01"], "not a calendar date"),
    (["--lake", "LAKE", "--backend", "cuda"], "--backend 'cuda'"),
    (["--lake", "LAKE", "--theta", "/nonexistent/theta.json"], "--theta"),
])
def test_cli_replay_bad_input_is_one_line(tmp_path, capsys, argv, msg):
    build_fixture_lake(tmp_path / "lake", seconds=2, surfaces=["snap", "physics"])
    argv = [a.replace("LAKE", str(tmp_path / "lake")) for a in argv]
    assert main(["replay", *argv, "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and msg in err and "\n" not in err


def test_real_conformance_es_mbo_runs_the_whole_path(conformance_dir, tmp_path, capsys):
    """Real ES MBO: ingest, book, surfaces, frames, engine, scorecard — no error, no options needed."""
    lake = tmp_path / "lake"
    assert main(["build", "--input", str(conformance_dir / "glbx"), "--lake", str(lake), "--quiet"]) == 0
    assert main(["replay", "--lake", str(lake), "--quiet", "--scorecard", str(tmp_path / "sc.json")]) == 0
    doc = json.loads((tmp_path / "sc.json").read_text())
    check_scorecard_shape(doc)
    assert doc["source"]["date"] == "2024-05-08"
    assert doc["horizons"]["1"]["engine"]["n"] >= 1
