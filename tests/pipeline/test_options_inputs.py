"""Real ES option definitions (conformance files) parse into strikes, expiries and rights."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from marketphys.pipeline.bronze import iter_mbo
from marketphys.pipeline.options_input import read_open_interest, read_option_definitions
from marketphys.pipeline.silver_options import OptionChain, OptionsInputError, spot_from_futures_mbo


def test_real_es_option_definitions(conformance_dir):
    d = read_option_definitions(conformance_dir / "glbx" / "options_definition.dbn.zst").set_index("raw_symbol")
    assert sorted(d.index) == ["ESM4 P5230", "ESM4 P5250"]
    assert d.loc["ESM4 P5250", "instrument_id"] == 4163986 and d.loc["ESM4 P5230", "instrument_id"] == 42449452
    assert d.loc["ESM4 P5250", "strike_price_int"] == 5250 * 10**9
    assert d.loc["ESM4 P5230", "strike_price_int"] == 5230 * 10**9
    assert not d["is_call"].any()                                         # both puts
    exp = dt.datetime.fromtimestamp(d.loc["ESM4 P5250", "expiration_ns"] / 1e9, tz=dt.timezone.utc)
    assert exp == dt.datetime(2024, 6, 21, 13, 30, tzinfo=dt.timezone.utc)   # June quarterly, 09:30 ET
    assert (d["underlying"] == "ESM4").all() and (d["asset"] == "ES").all() and (d["multiplier"] == 50).all()
    chain = OptionChain.from_definitions(d.reset_index())
    assert chain.strike_int.tolist() == [5230 * 10**9, 5250 * 10**9]     # sorted by strike


def test_futures_definitions_hold_no_options(conformance_dir):
    assert len(read_option_definitions(conformance_dir / "glbx" / "futures_definition.dbn.zst")) == 0
    with pytest.raises(OptionsInputError, match="no options"):
        OptionChain.from_definitions(read_option_definitions(conformance_dir / "glbx" / "futures_definition.dbn.zst"))


@pytest.mark.parametrize("v", [1, 2, 3])
def test_statistics_without_open_interest_read_empty(conformance_dir, v):
    oi = read_open_interest(conformance_dir / "dbn" / f"test_data.statistics.v{v}.dbn.zst")
    assert list(oi.columns) == ["ts_recv", "instrument_id", "open_interest"] and len(oi) == 0


def test_spot_from_real_es_mbo(conformance_dir):
    f = conformance_dir / "glbx" / "orderbooks_mbo_2024-05-08T00-00-00_2024-05-08T00-00-02.dbn.zst"
    spot = spot_from_futures_mbo(iter_mbo(f, chunk_records=4096))
    assert len(spot.ts_ns) >= 2 and spot.book_valid.all()
    assert ((spot.spot_ref_price_int % 250_000_000) == 0).all()
    assert np.all((spot.mid_price > 5000) & (spot.mid_price < 6000))      # ESM4 traded ~5200 on 2024-05-08


def test_bad_definitions_are_named():
    with pytest.raises(OptionsInputError, match="strike_price_int must be > 0.*instrument_id 9"):
        OptionChain.from_definitions(pd.DataFrame({"instrument_id": [9], "strike_price_int": [0], "is_call": [True],
                                                   "expiration_ns": [1]}))


def test_multiplier_comes_from_the_definition_or_the_flag():
    """No product's multiplier is assumed: a definition without one needs --multiplier, and never overrides one."""
    defs = pd.DataFrame({"instrument_id": [9, 10], "strike_price_int": [5_000 * 10**9, 5_005 * 10**9],
                         "is_call": [True, False], "expiration_ns": [1, 1], "multiplier": [np.nan, 20.0]})
    with pytest.raises(OptionsInputError, match="no multiplier.*instrument_id 9.*--multiplier"):
        OptionChain.from_definitions(defs)
    chain = OptionChain.from_definitions(defs, default_multiplier=50.0)
    assert dict(zip(chain.instrument_id.tolist(), chain.multiplier.tolist())) == {9: 50.0, 10: 20.0}
