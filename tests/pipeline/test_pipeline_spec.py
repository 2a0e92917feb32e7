"""ProductSpec: what the input may not say (tick size, multiplier), given once on the build; definitions win."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from marketphys.pipeline.silver_futures import tick_int_for
from marketphys.pipeline.silver_options import OptionChain, OptionsInputError
from marketphys.pipeline.spec import ProductSpec


def _defs(mult):
    return pd.DataFrame({"instrument_id": [1, 2], "strike_price_int": [5_000 * 10**9, 5_005 * 10**9],
                         "is_call": [True, False], "expiration_ns": [0, 0], "multiplier": mult})


def test_tick_order_is_definition_then_flag_never_a_table():
    defs = {7: 250_000_000}
    assert tick_int_for("NQ", defs, 7, tick_size=0.01) == 250_000_000        # the definition says so
    assert tick_int_for("NQ", {}, 7, tick_size=0.01) == 10_000_000           # none: the flag
    with pytest.raises(ValueError, match="no tick size for product 'NQ'.*--tick-size"):
        tick_int_for("NQ", {}, 7)                                            # none: never guessed


def test_multiplier_order_is_definition_then_flag_never_a_table():
    both = OptionChain.from_definitions(_defs([50.0, np.nan]), default_multiplier=ProductSpec(multiplier=7).multiplier)
    assert both.multiplier.tolist() == [50.0, 7.0]                           # a definition's own value is kept
    with pytest.raises(OptionsInputError, match="no multiplier .* instrument_id 2.*--multiplier"):
        OptionChain.from_definitions(_defs([50.0, np.nan]), default_multiplier=ProductSpec().multiplier)


@pytest.mark.parametrize("kw", [{"tick_size": 0}, {"tick_size": -0.25}, {"multiplier": float("nan")},
                                {"tick_size": 1e-12}])
def test_bad_spec_names_the_field(kw):
    with pytest.raises(ValueError, match=next(iter(kw))):
        ProductSpec(**kw)


def test_spec_tick_in_price_units():
    assert ProductSpec(tick_size=0.01).tick_int() == 10_000_000
    assert ProductSpec().tick_int(123) == 123
