"""Gold normalisation: ranges, sign, monotonicity, no NaN; calibration versions round-trip."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from marketphys.pipeline import gold

vals = arrays(np.float64, st.integers(1, 50), elements=st.floats(-1e9, 1e9) | st.just(np.nan) | st.just(np.inf))


@settings(max_examples=150, deadline=None)
@given(vals, st.floats(-1e6, 1e6), st.floats(0, 1e6), st.booleans())
def test_normalise_is_finite_in_range_and_monotone(v, q05, width, signed):
    band = gold.Band(q05, q05 + width, signed, 10)
    out = gold.normalise(v, band)
    assert np.isfinite(out).all()
    lo = -1.0 if signed else 0.0
    assert (out >= lo).all() and (out <= 1.0).all()
    fin = np.isfinite(v)
    order = np.argsort(v[fin], kind="stable")
    assert (np.diff(out[fin][order]) >= -1e-12).all()                  # monotone in the value
    if signed:
        assert (np.sign(out[fin]) * np.sign(v[fin]) >= 0).all()         # thickening stays +, erosion -


def test_normalise_formula_and_degenerate_bands():
    b = gold.Band(10.0, 20.0, False, 5)
    assert gold.normalise([5, 10, 15, 20, 30], b).tolist() == [0, 0, 0.5, 1, 1]
    s = gold.Band(-4.0, 8.0, True, 5)
    assert gold.normalise([-16, -4, 0, 4, 8, 20], s).tolist() == [-1, -0.5, 0, 0.5, 1, 1]
    assert gold.normalise([1, 2], None).tolist() == [0, 0]
    assert gold.normalise([0, 3], gold.Band(0, 0, True, 0)).tolist() == [0, 0]


def test_quantile_band_nonzero_only_and_log1p():
    m = gold.Metric("x", "silver.a.b", "x", nonzero_only=True, transform="log1p")
    v = np.r_[np.zeros(1000), np.arange(1, 101)]
    b = gold.quantile_band(v, m)
    q = np.quantile(np.log1p(np.arange(1, 101)), [0.05, 0.95])
    assert (b.q05, b.q95, b.n) == (q[0], q[1], 100)


def test_calibration_versions_roundtrip(tmp_path):
    c = gold.NormCalibration(0, "2024-05-09", "2024-05-10", {"flow_abs": gold.Band(1.0, 9.0, False, 7)})
    v1 = gold.write_calibration(tmp_path, "ES", c)
    v2 = gold.write_calibration(tmp_path, "ES", c)
    assert (v1.version, v2.version) == (1, 2)
    assert gold.load_calibration(tmp_path, "ES").version == 2
    assert gold.load_calibration(tmp_path, "ES", version=1).bands == c.bands
    t = pa.table({"flow_abs": [0.0, 5.0, 20.0]})
    assert gold.apply_norms(t, v1).column("flow_abs_norm").to_pylist() == [0.0, 0.5, 1.0]
