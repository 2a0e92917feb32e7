"""θ and its bounds by hand: names, defaults, projection, round trips and the errors that name the field."""

from __future__ import annotations

import numpy as np
import pytest

from marketphys.core.theta import N_PARAMS, PARAM_NAMES, Theta, ThetaBounds


def test_names_defaults_and_views():
    assert PARAM_NAMES == ("wU", "wC", "wG", "wO", "b") and N_PARAMS == 5
    t = Theta()
    assert t.values.tolist() == [1.0, 1.0, 1.0, 1.0, 0.0] and t.values.dtype == np.float64
    assert t.to_dict() == {"wU": 1.0, "wC": 1.0, "wG": 1.0, "wO": 1.0, "b": 0.0}
    t = Theta([2, 0.5, 3, 4, -1])
    assert t["wC"] == 0.5 and t["b"] == -1.0 and isinstance(t["wU"], float)
    assert repr(t) == "Theta(wU=2, wC=0.5, wG=3, wO=4, b=-1)"
    assert Theta.from_dict(t.to_dict()).values.tolist() == [2.0, 0.5, 3.0, 4.0, -1.0]
    assert Theta([1, 2, 3, 4, 5]).values.dtype == np.float64      # integers become the float64 kernels read
    src = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    copy = Theta(src)
    src[0] = 99.0
    assert copy.values[0] == 1.0                      # θ owns its values
    Theta().values[0] = 7.0
    assert Theta().values[0] == 1.0                   # the default is not shared


@pytest.mark.parametrize("values,msg", [
    ([1.0, 2.0], r"Theta needs 5 values \(wU, wC, wG, wO, b\), got shape \(2,\)"),
    ([1.0, np.nan, 0.0, 0.0, 0.0], r"Theta values must be finite, got \[1.0, nan"),
    ([1.0, 1.0, np.inf, 0.0, 0.0], "Theta values must be finite"),
])
def test_bad_theta_is_named(values, msg):
    with pytest.raises(ValueError, match=msg):
        Theta(values)


def test_from_dict_names_missing_keys():
    with pytest.raises(ValueError, match=r"missing \['wG', 'b'\]; expected keys \['wU', 'wC', 'wG', 'wO', 'b'\]"):
        Theta.from_dict({"wU": 1, "wC": 1, "wO": 1})


def test_bounds_defaults_projection_and_dict():
    b = ThetaBounds()
    assert b.lo == (0.0, 0.0, 0.0, 0.0, -50.0) and b.hi == (50.0, 20.0, 20.0, 50.0, 50.0)
    assert b.lo_array.dtype == np.float64 and b.hi_array.tolist() == [50.0, 20.0, 20.0, 50.0, 50.0]
    assert b.project(np.array([-1.0, 25.0, 3.0, 60.0, -70.0])).tolist() == [0.0, 20.0, 3.0, 50.0, -50.0]
    assert b.to_dict() == {"wU": [0.0, 50.0], "wC": [0.0, 20.0], "wG": [0.0, 20.0], "wO": [0.0, 50.0], "b": [-50.0, 50.0]}
    tight = ThetaBounds(lo=(1.0, 1.0, 1.0, 1.0, 0.0), hi=(1.0, 1.0, 1.0, 1.0, 0.0))   # lo == hi is allowed
    assert tight.project(np.zeros(5)).tolist() == [1.0, 1.0, 1.0, 1.0, 0.0]


@pytest.mark.parametrize("kw,msg", [
    ({"lo": (0.0,) * 4}, r"ThetaBounds needs 5 values per side \(wU, wC, wG, wO, b\), got lo=\(0.0, 0.0, 0.0, 0.0\)"),
    ({"hi": (1.0,) * 6}, "ThetaBounds needs 5 values per side"),
    ({"lo": (0.0, 3.0, 0.0, 0.0, 0.0), "hi": (1.0, 2.0, 1.0, 1.0, 1.0)}, r"ThetaBounds: lo > hi for wC \(3.0 > 2.0\)"),
    ({"lo": (0.0, 0.0, 0.0, 0.0, np.nan)}, "lo > hi for b"),
    ({"lo": (0.0, 0.0, -0.1, 0.0, 0.0)}, r"wG lower bound -0.1 < 0 would allow negative viscosity"),
])
def test_bad_bounds_are_named(kw, msg):
    with pytest.raises(ValueError, match=msg):
        ThetaBounds(**kw)
