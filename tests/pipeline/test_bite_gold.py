"""Gold normalisation with hand-computed bands, signed bands with |q05| > |q95| above all.

A signed metric (flow_reinforce: an eroding wall is negative) is scaled by max(|q05|, |q95|) so the
sign survives and both tails share one scale. When the negative tail is the wider one, a scale of
|q95| alone would saturate half the values at −1; the band here has q05 = −8, q95 = 2.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from marketphys.pipeline import gold
from marketphys.pipeline.gold import Band, Metric, NormCalibration, apply_norms, normalise, quantile_band

SKEWED = Band(q05=-8.0, q95=2.0, signed=True, n=100)


def test_signed_band_with_the_wider_negative_tail():
    v = np.array([-8.0, -4.0, -1.0, 0.0, 1.0, 2.0, 6.0, 20.0, -20.0, np.nan, np.inf])
    # scale 8: −8 → −1, −4 → −0.5, −1 → −0.125, 1 → 0.125, 2 → 0.25, 6 → 0.75; ±20 clip; NaN/inf → 0
    want = [-1.0, -0.5, -0.125, 0.0, 0.125, 0.25, 0.75, 1.0, -1.0, 0.0, 0.0]
    assert normalise(v, SKEWED).tolist() == want


def test_signed_band_with_the_wider_positive_tail():
    band = Band(q05=-1.0, q95=4.0, signed=True, n=10)
    assert normalise(np.array([-4.0, -1.0, 2.0, 4.0, 8.0]), band).tolist() == [-1.0, -0.25, 0.5, 1.0, 1.0]


def test_unsigned_band_by_hand():
    band = Band(q05=2.0, q95=12.0, signed=False, n=10)
    assert normalise(np.array([0.0, 2.0, 4.5, 7.0, 12.0, 30.0, np.nan]), band).tolist() == \
        [0.0, 0.0, 0.25, 0.5, 1.0, 1.0, 0.0]
    flat = Band(q05=3.0, q95=3.0, signed=False, n=10)  # a degenerate band: above it is 1, at or below 0
    assert normalise(np.array([2.0, 3.0, 3.5]), flat).tolist() == [0.0, 0.0, 1.0]
    assert normalise(np.array([5.0, -5.0]), Band(0.0, 0.0, True, 0)).tolist() == [0.0, 0.0]
    assert normalise(np.array([5.0]), None).tolist() == [0.0]


def test_quantile_band_of_a_skewed_signed_sample_by_hand():
    """101 values −100..0 then 0..20 step 1 (nonzero only): q05/q95 by linear interpolation, computed here."""
    v = np.concatenate([np.arange(-100.0, 1.0), np.arange(0.0, 21.0), [np.nan]])
    band = quantile_band(v, Metric("x", "d", "c", signed=True, nonzero_only=True))
    kept = sorted(x for x in v if np.isfinite(x) and x != 0)      # 100 negatives, 20 positives
    n = len(kept)
    assert n == 120 and band.n == 120

    def q(p):  # numpy's default ("linear") rule: position p·(n−1)
        pos = p * (n - 1)
        lo = int(pos)
        return kept[lo] + (pos - lo) * (kept[lo + 1] - kept[lo])

    assert band.q05 == pytest.approx(q(0.05)) and band.q95 == pytest.approx(q(0.95))
    assert band.q05 == pytest.approx(-94.05) and band.q95 == pytest.approx(14.05)
    assert abs(band.q05) > abs(band.q95) and band.signed
    assert normalise(np.array([-94.05, -47.025, 14.05]), band).tolist() == pytest.approx([-1.0, -0.5, 14.05 / 94.05])


def test_quantile_band_log1p_and_empty():
    m = Metric("w", "d", "c", nonzero_only=True, transform="log1p")
    v = np.expm1(np.arange(0.0, 21.0))       # log1p brings back 0..20; the 0 is dropped as zero
    band = quantile_band(v, m)
    assert band.n == 20 and band.q05 == pytest.approx(1 + 0.05 * 19) and band.q95 == pytest.approx(1 + 0.95 * 19)
    assert quantile_band(np.zeros(5), m) == Band(0.0, 0.0, False, 0)


def test_apply_norms_writes_the_signed_column_with_the_skewed_band():
    calib = NormCalibration(1, "2024-01-01", "2024-01-02", {"flow_reinforce": SKEWED,
                                                            "flow_abs": Band(0.0, 10.0, False, 5)})
    t = pa.table({"flow_reinforce": [-4.0, 1.0, -16.0], "flow_abs": [5.0, 0.0, 20.0], "other": [1, 2, 3]})
    out = apply_norms(t, calib)
    assert out.column("flow_reinforce_norm").to_pylist() == [-0.5, 0.125, -1.0]
    assert out.column("flow_abs_norm").to_pylist() == [0.5, 0.0, 1.0]
    assert "pull_rest_intensity_norm" not in out.column_names   # its column is absent: nothing written
    again = apply_norms(out, None)   # an existing norm column is overwritten in place (zeros without a band)
    assert again.column_names == out.column_names and again.column("flow_reinforce_norm").to_pylist() == [0.0] * 3


def test_calibration_table_roundtrip_keeps_the_sign_flag():
    calib = NormCalibration(3, "2024-01-01", "2024-01-05", {"flow_reinforce": SKEWED})
    back = NormCalibration.from_table(calib.to_table())
    assert back.bands == {"flow_reinforce": SKEWED} and back.version == 3
    assert (back.period_start, back.period_end) == ("2024-01-01", "2024-01-05")
    assert gold.METRICS["flow_reinforce"].signed and not gold.METRICS["flow_abs"].signed


def test_infinities_and_small_bands():
    import warnings

    v = np.array([-np.inf, np.inf, np.nan, 0.25])
    assert normalise(v, Band(-0.5, 0.25, True, 3)).tolist() == [0.0, 0.0, 0.0, 0.5]        # scale 0.5 < 1
    assert normalise(v, Band(0.0, 0.5, False, 3)).tolist() == [0.0, 0.0, 0.0, 0.5]         # width 0.5 < 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # a huge value over a tiny band saturates, silently
        assert normalise(np.array([1e308, -1e308]), Band(-1e-10, 1e-10, True, 2)).tolist() == [1.0, -1.0]
        assert normalise(np.array([1e308]), Band(0.0, 1e-10, False, 2)).tolist() == [1.0]


def test_apply_norms_log1p_metric(monkeypatch):
    m = Metric("depth_log_test", "d", "depth", transform="log1p", norm_column="depth_norm")
    monkeypatch.setitem(gold.METRICS, m.name, m)
    calib = NormCalibration(1, "2024-01-01", "2024-01-01", {m.name: Band(0.0, float(np.log1p(99.0)), False, 9)})
    out = apply_norms(pa.table({"depth": [-5.0, 0.0, 99.0, 9999.0]}), calib)
    assert out.column("depth_norm").to_pylist() == pytest.approx([0.0, 0.0, 1.0, 1.0])
    mid = apply_norms(pa.table({"depth": [float(np.expm1(np.log1p(99.0) / 2))]}), calib)
    assert mid.column("depth_norm").to_pylist() == pytest.approx([0.5])


def test_calibration_table_matches_its_contract_and_round_trips(tmp_path):
    from marketphys.pipeline.contracts import load_all

    calib = NormCalibration(0, "2024-03-01", "2024-03-05", {"flow_reinforce": SKEWED, "flow_abs": Band(1.0, 9.0, False, 7)})
    t = calib.to_table()
    load_all()["gold.hud.physics_norm_calibration"].validate(t)
    assert t.column("metric").to_pylist() == ["flow_abs", "flow_reinforce"]     # sorted
    back = NormCalibration.from_table(t)
    assert back.source == "gold" and back.bands == calib.bands
    # the table carries its source: it wins over the caller's fallback, which only a table without it takes
    rolled = NormCalibration(2, "2024-03-01", "2024-03-05", calib.bands, "rolling:5d").to_table()
    load_all()["gold.hud.physics_norm_calibration"].validate(rolled)
    assert rolled.column("source").to_pylist() == ["rolling:5d"] * 2
    assert NormCalibration.from_table(rolled, source="self:x").source == "rolling:5d"
    assert NormCalibration.from_table(rolled.drop(["source"]), source="self:x").source == "self:x"
    stored = gold.write_calibration(tmp_path, "ES", NormCalibration(0, "2024-03-01", "2024-03-05", calib.bands, "self:x"))
    assert (stored.version, stored.period_start, stored.period_end, stored.source) == (1, "2024-03-01", "2024-03-05", "gold")
    loaded = gold.load_calibration(tmp_path, "ES")
    assert (loaded.version, loaded.period_start, loaded.period_end, loaded.source) == (1, "2024-03-01", "2024-03-05", "gold")
    assert loaded.bands == calib.bands
    assert gold.load_calibration(tmp_path, "NQ") is None
    with pytest.raises(gold.lk.LakeError, match="no calibration version 7 for ES under"):
        gold.load_calibration(tmp_path, "ES", version=7)


def _flow_lake(tmp_path):
    from marketphys.pipeline import lake as lk

    ds = gold.GEX_FLOW
    days = {"2024-03-04": [[0.0, 1.0, 2.0, 3.0], [4.0, 0.0]], "2024-03-05": [[5.0, 6.0, 7.0, 8.0, 9.0, 10.0]]}
    for date, parts in days.items():
        for p, v in enumerate(parts):
            v = np.array(v)
            lk.write_partition(tmp_path, ds, "ES", date, pa.table({
                "flow_abs": v, "flow_reinforce": -v, "pull_rest_intensity": np.zeros_like(v),
                "flow_abs_norm": np.zeros_like(v)}), part=p)
    return days


def test_compute_calibration_over_a_tiny_lake_by_hand(tmp_path):
    _flow_lake(tmp_path)
    c = gold.compute_calibration(tmp_path, "ES", ["2024-03-05", "2024-03-04", "2024-03-06"], version=4, source="s")
    assert (c.version, c.period_start, c.period_end, c.source) == (4, "2024-03-04", "2024-03-06", "s")
    # flow_abs nonzero: 1..10 -> q05 = 1 + 0.05·9 = 1.45, q95 = 1 + 0.95·9 = 9.55
    assert c.bands["flow_abs"] == Band(pytest.approx(1.45), pytest.approx(9.55), False, 10)
    assert c.bands["flow_reinforce"] == Band(pytest.approx(-9.55), pytest.approx(-1.45), True, 10)
    assert c.bands["pull_rest_intensity"] == Band(0.0, 0.0, False, 0)     # all zero: nothing to calibrate on
    assert set(c.bands) == {"flow_abs", "flow_reinforce", "pull_rest_intensity"}   # no other dataset has data
    gap = gold.compute_calibration(tmp_path, "ES", ["2024-03-01", "2024-03-05"])   # a date without data is skipped
    assert gap.bands["flow_abs"].n == 6 and gap.period_start == "2024-03-01"
    one = gold.compute_calibration(tmp_path, "ES", ["2024-03-04"])
    assert one.bands["flow_abs"].n == 4 and (one.version, one.source) == (0, "gold")
    with pytest.raises(gold.lk.LakeError, match="no dates to calibrate over for product 'ES'"):
        gold.compute_calibration(tmp_path, "ES", [])
    with pytest.raises(gold.lk.LakeError, match="no calibrated metric has data for ES on 2024-04-01..2024-04-01"):
        gold.compute_calibration(tmp_path, "ES", ["2024-04-01"])


def test_compute_calibration_strides_each_part(tmp_path, monkeypatch):
    _flow_lake(tmp_path)
    monkeypatch.setattr(gold, "MAX_VALUES_PER_PART", 2)
    c = gold.compute_calibration(tmp_path, "ES", ["2024-03-04", "2024-03-05"],
                                 metrics={"flow_abs": gold.METRICS["flow_abs"]})
    # parts' nonzero values [1,2,3] -> step 2 -> [1,3]; [4] -> [4]; [5..10] -> step 3 -> [5,8]
    assert c.bands["flow_abs"].n == 5 and set(c.bands) == {"flow_abs"}
    assert c.bands["flow_abs"].q05 == pytest.approx(1 + 0.05 * 4 * 2)       # sorted 1,3,4,5,8: position 0.2


def _default_bands():
    """The bundled first-day bands, read straight from the file (not through gold)."""
    import json
    from pathlib import Path

    doc = json.loads((Path(__file__).resolve().parents[2] / "data" / "norms" / "default_calibration.json").read_text())
    return {k: Band(float(b["q05"]), float(b["q95"]), bool(b["signed"]), int(b["n"])) for k, b in doc["bands"].items()}


def _norms(lake, date):
    from marketphys.pipeline import lake as lk

    return lk.read_partition(lake, gold.GEX_FLOW, "ES", date).to_pandas()


def test_calibrate_is_causal_and_never_rewrites_a_served_day(tmp_path):
    """A day is normalised with bands from the days before it only (a first day: the bundled default);
    a day that has a calibration keeps it and its values unless a new version is asked for."""
    _flow_lake(tmp_path)
    gold.register_metric(gold.METRICS["flow_abs"])            # re-registering the same metric is harmless
    days, n = gold.calibrate(tmp_path, "ES", start="2024-03-05", end="2024-03-05")
    assert n == 1 and [(d.date, d.action) for d in days] == [("2024-03-05", "written")]
    cal = days[0].calibration
    assert (cal.version, cal.period_start, cal.period_end, cal.source) == (0, "2024-03-04", "2024-03-04", "rolling:1d")
    # 2024-03-05 sees 2024-03-04 only: flow_abs nonzero 1, 2, 3, 4 -> q05 = 1 + 0.05·3, q95 = 1 + 0.95·3
    b = cal.bands["flow_abs"]
    assert (b.q05, b.q95, b.n) == (pytest.approx(1.15), pytest.approx(3.85), 4)
    rb = cal.bands["flow_reinforce"]          # −1..−4: both tails negative, scale max(|q05|, |q95|) = 3.85
    assert (rb.q05, rb.q95, rb.signed) == (pytest.approx(-3.85), pytest.approx(-1.15), True)
    assert cal.bands["gex_abs"] == _default_bands()["gex_abs"]     # no earlier data of it: the default band
    t = _norms(tmp_path, "2024-03-05")
    v = np.arange(5.0, 11.0)
    np.testing.assert_allclose(t["flow_abs_norm"], np.clip((v - 1.15) / 2.7, 0, 1))    # 5..10 above q95: all 1
    np.testing.assert_allclose(t["flow_reinforce_norm"], np.clip(-v / 3.85, -1, 1))
    assert _norms(tmp_path, "2024-03-04")["flow_abs_norm"].tolist() == [0.0] * 6         # outside the range: untouched
    stored = gold.day_calibration(tmp_path, "ES", "2024-03-05")
    assert stored.version == 0 and stored.bands == cal.bands and stored.source == "rolling:1d"

    # the whole lake: the first day gets the bundled default, the served day is kept as it is
    before = _norms(tmp_path, "2024-03-05")
    days, n = gold.calibrate(tmp_path, "ES")
    assert n == 2 and [(d.date, d.action) for d in days] == [("2024-03-04", "written"), ("2024-03-05", "kept")]
    first = days[0].calibration
    assert first.source == "default" and first.bands["flow_abs"] == _default_bands()["flow_abs"]
    d = _default_bands()
    t4 = _norms(tmp_path, "2024-03-04")
    fa, fr = d["flow_abs"], d["flow_reinforce"]
    np.testing.assert_allclose(t4["flow_abs_norm"], np.clip((t4["flow_abs"] - fa.q05) / (fa.q95 - fa.q05), 0, 1))
    assert abs(fr.q05) < abs(fr.q95)      # the bundled signed band: scale is its wider tail
    np.testing.assert_allclose(t4["flow_reinforce_norm"], np.clip(t4["flow_reinforce"] / max(abs(fr.q05), abs(fr.q95)), -1, 1))
    assert _norms(tmp_path, "2024-03-05").equals(before)

    # a later day changes nothing about an earlier one (causality by truncation)
    from marketphys.pipeline import lake as lk

    big = np.array([100.0, 200.0, 300.0])
    lk.write_partition(tmp_path, gold.GEX_FLOW, "ES", "2024-03-06", pa.table({
        "flow_abs": big, "flow_reinforce": -big, "pull_rest_intensity": np.zeros(3), "flow_abs_norm": np.zeros(3)}))
    days, n = gold.calibrate(tmp_path, "ES", new_version=True, apply=False)
    assert n == 0 and [(x.date, x.action, x.calibration.version) for x in days] == \
        [("2024-03-04", "new version", 1), ("2024-03-05", "new version", 1), ("2024-03-06", "written", 0)]
    assert days[1].calibration.bands == cal.bands              # 2024-03-06 does not leak into 2024-03-05
    assert days[2].calibration.source == "rolling:2d"
    assert gold.day_calibration(tmp_path, "ES", "2024-03-05").version == 0     # apply=False wrote nothing
    assert gold.day_calibration(tmp_path, "ES", "2024-03-06") is None
    days, n = gold.calibrate(tmp_path, "ES", start="2024-03-05", end="2024-03-05", new_version=True)
    assert n == 1 and gold.day_calibration(tmp_path, "ES", "2024-03-05").version == 1
    assert _norms(tmp_path, "2024-03-05").equals(before)        # same earlier days, same bands, same values


def test_a_metric_without_values_on_the_earlier_days_keeps_its_default_band(monkeypatch, tmp_path):
    """Earlier days where a nonzero-only metric was always zero give it no values (n = 0): it must keep
    the bundled default band, not an empty (0, 0) band that sends every later value to 1.0."""
    from marketphys.pipeline import gold

    default = gold.default_calibration()
    metric = next(k for k in default.bands if k in gold.day_metrics())
    empty = gold.NormCalibration(0, "2024-03-04", "2024-03-04", {metric: gold.Band(0.0, 0.0, False, 0)}, "rolling:1d")
    monkeypatch.setattr(gold, "metric_dates", lambda lake, product, metrics: ["2024-03-04"])
    monkeypatch.setattr(gold, "compute_calibration", lambda *a, **k: empty)
    cal = gold.causal_calibration(tmp_path, "ES", "2024-03-05")
    assert cal.bands[metric] == default.bands[metric]
