"""Whole-day vectorised assembly gives exactly the frames of the per-window path."""

from __future__ import annotations

import numpy as np
import pytest

from fixtures_serving import build_fixture_lake
from marketphys.frames.interp import interp_segments
from marketphys.frames.sources import LakeSource

FUTURES = ["snap", "wall", "vacuum", "physics", "bucket_radar"]


def assert_same_frames(a, b):
    assert len(a) == len(b)
    for fa, fb in zip(a, b):
        assert fa.ts_ns == fb.ts_ns and fa.spot == fb.spot and fa.tick_size == fb.tick_size
        assert fa.scalars.keys() == fb.scalars.keys(), fa.ts_ns
        for k in fa.scalars:
            assert fa.scalars[k] == fb.scalars[k], (fa.ts_ns, k)
        assert fa.profiles.keys() == fb.profiles.keys(), fa.ts_ns
        for k in fa.profiles:
            np.testing.assert_array_equal(fa.profiles[k], fb.profiles[k], err_msg=f"{fa.ts_ns} {k}")
        assert (fa.strike_rel_ticks is None) == (fb.strike_rel_ticks is None)
        if fa.strike_rel_ticks is not None:
            np.testing.assert_array_equal(fa.strike_rel_ticks, fb.strike_rel_ticks)
        assert fa.strikes.keys() == fb.strikes.keys()
        for k in fa.strikes:
            np.testing.assert_array_equal(fa.strikes[k], fb.strikes[k], err_msg=k)


@pytest.mark.parametrize("surfaces", [None, FUTURES], ids=["with-options", "futures-only"])
def test_day_frames_equal_window_by_window(tmp_path, surfaces):
    info = build_fixture_lake(tmp_path, seconds=12, surfaces=surfaces, parts=2, level_ticks=30)
    src = LakeSource(tmp_path, date=info["date"])
    slow = list(src)
    fast = src.day_frames()
    assert len(slow) > 10
    assert_same_frames(fast, slow)


def test_interp_segments_is_numpy_interp():
    rng = np.random.default_rng(0)
    x = np.arange(-20, 21) * 1.5
    rels, vals, start, end = [], [], [], []
    n = 0
    for k in range(60):
        m = int(rng.integers(0, 12))
        r = np.sort(rng.choice(np.arange(-25, 26), m, replace=False)).astype(float)
        rels.append(r)
        vals.append(rng.normal(size=m))
        start.append(n)
        n += m
        end.append(n)
    rel, val = np.concatenate(rels), np.concatenate(vals)
    got = interp_segments(rel, val, np.array(start), np.array(end), x, chunk=7)
    for k in range(60):
        want = np.interp(x, rels[k], vals[k], left=0.0, right=0.0) if rels[k].size else np.zeros_like(x)
        np.testing.assert_array_equal(got[k], want)
