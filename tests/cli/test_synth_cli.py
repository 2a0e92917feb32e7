"""`marketphys synth` writes the files and says so; bad settings get one clear line."""

from __future__ import annotations

import pytest

from marketphys.cli import main
from marketphys.synth import SynthConfig, SynthError, file_names
from marketphys.synth.dbn import read_dbn


def test_cli_writes_a_session_and_prints_counts(tmp_path, capsys):
    rc = main(["synth", "--minutes", "0.5", "--seed", "4", "--out", str(tmp_path), "--quiet"])
    assert rc == 0
    out = capsys.readouterr().out
    names = file_names("20240509")
    for name in names.values():
        assert (tmp_path / name).is_file()
        assert name in out
    assert "records" in out and "60 windows" in out
    n_fut = len(read_dbn(tmp_path / names["futures_mbo"])) - 1
    assert f"{n_fut:,} records" in out


@pytest.mark.parametrize("argv, needle", [
    (["--minutes", "0"], "minutes"),
    (["--minutes", "1", "--date", "2024-02-30"], "date"),
    (["--minutes", "1", "--open-price", "5212.1"], "open_price"),
    (["--minutes", "1", "--seed", "-3"], "seed"),
])
def test_cli_rejects_bad_settings_with_one_line(tmp_path, capsys, argv, needle):
    rc = main(["synth", "--out", str(tmp_path / "o"), "--quiet", *argv])
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and needle in err and "\n" not in err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("kwargs, field", [
    ({"diffusion": float("nan")}, "diffusion"),
    ({"theta": (1.0, 1.0, -1.0, 1.0, 0.0)}, "theta"),
    ({"n_strikes_each_side": 10}, "n_strikes_each_side"),
    ({"book_levels": 0}, "book_levels"),
    ({"minutes": 0.01}, "minutes"),
])
def test_config_errors_name_the_field_and_value(kwargs, field):
    with pytest.raises(SynthError, match=rf"SynthConfig\.{field} .*got {field}="):
        SynthConfig(**kwargs)


def test_cli_refuses_an_output_path_that_is_a_file(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    assert main(["synth", "--minutes", "0.5", "--out", str(f), "--quiet"]) == 2
    assert "not a directory" in capsys.readouterr().err
