"""The render goldens' update switch: it says what changed, and it refuses in CI."""

from __future__ import annotations

import numpy as np
import pytest

import tests.fixtures_render as fx


@pytest.fixture
def golden_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(fx, "GOLDEN", tmp_path)
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("MARKETPHYS_UPDATE_GOLDEN", "1")
    return tmp_path


def _img(h=6, w=8):
    img = np.zeros((h, w, 4), np.uint8)
    img[..., 3] = 255
    return img


@pytest.mark.parametrize("ci", ["true", "1", "TRUE"])
def test_update_refuses_in_ci_and_writes_nothing(golden_dir, monkeypatch, ci):
    monkeypatch.setenv("CI", ci)
    with pytest.raises(AssertionError, match="refusing to update golden 'g' in CI"):
        fx.assert_matches_golden("g", _img())
    assert list(golden_dir.iterdir()) == []


def test_update_prints_what_changed(golden_dir, capsys):
    with pytest.warns(UserWarning, match="golden g: new golden 8x6"):
        fx.assert_matches_golden("g", _img())
    assert "golden g: new golden 8x6" in capsys.readouterr().out
    with pytest.warns(UserWarning, match="golden g: unchanged"):
        fx.assert_matches_golden("g", _img())
    new = _img()
    new[2, 5, 0] = 200       # one pixel, far beyond tolerance
    new[4, 1, 1] = 2         # one pixel within tolerance
    with pytest.warns(UserWarning) as rec:
        fx.assert_matches_golden("g", new)
    msg = str(rec[0].message)
    assert msg == ("golden g: 2 pixels changed (4.1667%; 1 by > 3), max channel difference 200, "
                   "in x 1..5, y 2..4")
    assert np.array_equal(fx.read_png(golden_dir / "g.png"), new)
    with pytest.warns(UserWarning, match=r"shape \(6, 8, 4\) -> \(7, 8, 4\)"):
        fx.assert_matches_golden("g", _img(h=7))


def test_without_the_switch_a_missing_golden_fails_and_a_change_is_reported(golden_dir, monkeypatch):
    monkeypatch.delenv("MARKETPHYS_UPDATE_GOLDEN")
    with pytest.raises(AssertionError, match="missing; run with MARKETPHYS_UPDATE_GOLDEN=1"):
        fx.assert_matches_golden("g", _img())
    fx.write_png(golden_dir / "g.png", _img())
    fx.assert_matches_golden("g", _img())          # equal: passes silently
