"""The offline chain and the lake agree: a lake date's DBN files -> chain_from_dbn -> chain_gex give the
numbers the options stage wrote (gex_surface_1s per strike, gex_chain_1s totals and zero gamma)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from marketphys.chain.dbn import chain_from_dbn, futures_mid, pipeline_chain_gex
from marketphys.pipeline.build import Settings, build_day
from marketphys.pipeline.contracts import REGISTRY
from marketphys.pipeline.fanout import plan_days
from marketphys.pipeline.lake import read_partition
from marketphys.pipeline.silver_options import CHAIN_DATASET, GEX_DATASET, OptionsInputError, SilverComputeGexSurface1s
from marketphys.synth.config import SynthConfig
from marketphys.synth.session import file_names, generate_session

CFG = SynthConfig(minutes=1, seed=5, date="2024-05-13")


@pytest.fixture(scope="module")
def day(tmp_path_factory):
    root = tmp_path_factory.mktemp("chain_dbn")
    generate_session(CFG, root / "raw", progress=False)
    days, _ = plan_days([root / "raw"])
    lakes = {}
    for band in (12, None):
        lakes[band] = root / f"lake_{band}"
        build_day(days[0], lakes[band], Settings(progress=False, option_rate=CFG.rate, option_band_rows=band))
    names = file_names(CFG.date_compact)
    files = (root / "raw" / names["options_mbo"], root / "raw" / names["definition"], root / "raw" / names["statistics"])
    return lakes, files, root / "raw"


def _read(lake, ds):
    return read_partition(lake, ds, "ES", CFG.date).to_pandas()


@pytest.mark.parametrize("w", [0, 30])
def test_offline_chain_equals_the_lake_window(day, w):
    lakes, files, _ = day
    lake = lakes[None]                                   # the whole chain priced every window
    chain = _read(lake, CHAIN_DATASET)
    end = int(chain["window_end_ts_ns"][w])
    c = chain_from_dbn(*files, end)
    res = pipeline_chain_gex(c, futures_mid(lake, "ES", CFG.date, end), CFG.rate, iv_fallback="median")
    row = chain.iloc[w]
    assert res.counts["priced"] == row["options_priced"] == len(c)
    assert res.counts["iv"]["fallback"] > 0              # the fallback path is exercised, not only inversion
    assert res.total == pytest.approx(row["gex_total"], rel=1e-9, abs=1e-6 * row["gex_abs_total"])
    assert res.total_abs == pytest.approx(row["gex_abs_total"], rel=1e-12)
    assert row["zero_gamma_found"] and res.zero_gamma == pytest.approx(row["zero_gamma_points"], rel=1e-12)
    g = _read(lake, GEX_DATASET)
    g = g[g["window_end_ts_ns"] == end].set_index("strike_points")
    ps = res.per_strike.set_index("strike").reindex(g.index).fillna(0.0)
    scale = g["gex_abs"].abs().max()
    np.testing.assert_allclose(ps["net_gex"], g["gex"], rtol=0, atol=1e-12 * scale)
    np.testing.assert_allclose(ps["call_gex"], g["gex_call_abs"], rtol=0, atol=1e-12 * scale)
    np.testing.assert_allclose(-ps["put_gex"], g["gex_put_abs"], rtol=0, atol=1e-12 * scale)


def test_default_band_total_is_the_sum_of_the_25_rows_and_wider_band_keeps_25_rows(day):
    lakes, _, _ = day
    narrow, wide = _read(lakes[12], CHAIN_DATASET), _read(lakes[None], CHAIN_DATASET)
    g = _read(lakes[12], GEX_DATASET)
    per = g.groupby("window_end_ts_ns")[["gex", "gex_abs"]].sum()
    np.testing.assert_allclose(narrow.set_index("window_end_ts_ns")["gex_total"], per["gex"], rtol=1e-9,
                               atol=1e-9 * per["gex_abs"].max())
    assert (narrow["band_half_width_points"] == 60.0).all() and (wide["band_half_width_points"] == 0.0).all()
    assert (wide["options_priced"] > narrow["options_priced"]).all()
    assert (wide["gex_abs_total"] > narrow["gex_abs_total"]).all()
    gw = _read(lakes[None], GEX_DATASET)
    assert (gw.groupby("window_end_ts_ns").size() == 25).all()
    for lake in lakes.values():
        REGISTRY[CHAIN_DATASET].validate(read_partition(lake, CHAIN_DATASET, "ES", CFG.date))


def test_chain_contract_rejects_inconsistent_rows(day):
    from marketphys.pipeline.contracts import ContractError

    lakes, _, _ = day
    t = read_partition(lakes[12], CHAIN_DATASET, "ES", CFG.date)
    import pyarrow as pa

    flipped = pa.array(~t.column("zero_gamma_found").to_numpy(zero_copy_only=False))
    bad = t.set_column(t.schema.get_field_index("zero_gamma_found"), "zero_gamma_found", flipped)
    with pytest.raises(ContractError, match="zero_gamma_found"):
        REGISTRY[CHAIN_DATASET].validate(bad)
    df = t.to_pandas()
    df.loc[0, "gex_abs_total"] *= 2
    with pytest.raises(ContractError, match="gex_abs_total == call \\+ put"):
        REGISTRY[CHAIN_DATASET].validate(pa.Table.from_pandas(df, schema=t.schema, preserve_index=False))


def test_band_narrower_than_the_surface_is_refused():
    with pytest.raises(OptionsInputError, match="band_half_rows must be >= 12"):
        SilverComputeGexSurface1s(None, None, None, band_half_rows=5)


def test_cli_dbn_day_at_an_instant_prints_the_lake_number(day, tmp_path, capsys):
    import json

    from marketphys.cli import main as cli_main

    lakes, _, raw = day
    row = _read(lakes[None], CHAIN_DATASET).iloc[0]
    at = str(pd.Timestamp(int(row["window_end_ts_ns"]), tz="UTC"))
    assert cli_main(["gex", "--dbn", str(raw), "--at", at, "--lake", str(lakes[None]), "--rate", str(CFG.rate),
                     "--json", str(tmp_path / "s.json"), "--out", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    assert "multiplier from the definitions" in out and "ES options at" in out
    doc = json.loads((tmp_path / "s.json").read_text())
    assert doc["total"] == pytest.approx(row["gex_total"], rel=1e-9)
    assert doc["zero_gamma"] == pytest.approx(row["zero_gamma_points"], rel=1e-12)
    # without a lake the futures mid comes from the day's futures MBO: it runs, and is near
    assert cli_main(["gex", "--dbn", str(raw), "--at", at, "--out", str(tmp_path / "o2")]) == 0
    assert "zero gamma" in capsys.readouterr().out
    assert cli_main(["gex", "--dbn", str(raw), "--at", "2020-01-02 15:00", "--out", str(tmp_path / "o3")]) == 2
    assert "no DBN files for 2020-01-02" in capsys.readouterr().err
    assert cli_main(["gex", "--dbn", str(raw), "--out", str(tmp_path / "o3")]) == 2
    assert "--at: required with --dbn" in capsys.readouterr().err
