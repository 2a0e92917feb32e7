"""Any product: a lake of one non-ES future replays with no --product and on its own tick (from its
definition file, as Databento sends it); a lake of several asks which, naming them; a future whose
tick nothing gives (no definition, no product table guesses it) needs --tick-size, and gets it."""

from __future__ import annotations

import re

import numpy as np
import pytest

from marketphys.cli import main
from marketphys.pipeline import contracts_futures as cf
from marketphys.pipeline.bronze import iter_mbo, read_info
from marketphys.pipeline.lake import read_partition
from marketphys.frames.assemble import AssembleConfig, FrameAssembler
from marketphys.frames.sources import LakeSource, SourceError
from marketphys.synth.config import SynthConfig
from marketphys.synth.dbn import metadata_bytes, write_dbn_zst, write_records
from marketphys.synth.session import file_names, generate_session

DATE = "2024-05-09"


@pytest.fixture(scope="module")
def es_mbo(tmp_path_factory):
    raw = tmp_path_factory.mktemp("raw")
    generate_session(SynthConfig(minutes=1, seed=7, date=DATE), raw, progress=False)
    return raw / file_names(DATE.replace("-", ""))["futures_mbo"]


def relabel(src, dst, symbol: str):
    """The same MBO records under another raw symbol (the file a different product would be)."""
    info = read_info(src)
    recs = np.concatenate([c.copy() for c in iter_mbo(info)])
    ids, n = np.unique(recs["instrument_id"], return_counts=True)
    header = metadata_bytes("mbo", info.start_ns, info.end_ns, {symbol: int(ids[np.argmax(n)])}, DATE)
    write_dbn_zst(dst, header, [recs.tobytes()])
    return dst


def definition_file(mbo, dst, symbol: str, product: str, tick: float):
    """The future's InstrumentDefMsg (min_price_increment = its tick), written by the synthetic writer."""
    import databento_dbn as dbn

    info = read_info(mbo)
    (iid,) = [i for i, s in info.mappings.items() if s == symbol]     # the id relabel mapped the symbol to
    ts = info.start_ns - 3600 * 10**9
    rec = dbn.InstrumentDefMsg(publisher_id=1, instrument_id=iid, ts_event=ts, ts_recv=ts, raw_symbol=symbol,
                               asset=product, group=product, min_price_increment=round(tick * 1e9),
                               display_factor=1_000_000_000, security_type="FUT", cfi="FFIXSX",
                               instrument_class=dbn.InstrumentClass.FUTURE, exchange="XCME", currency="USD",
                               security_update_action=dbn.SecurityUpdateAction.ADD, raw_instrument_id=iid,
                               channel_id=0, expiration=info.end_ns + 86_400 * 10**9 * 40)
    write_records(dst, "definition", [rec], {symbol: iid}, ts, info.end_ns, DATE)
    return dst


@pytest.mark.parametrize("symbol, product, tick", [("NQM4", "NQ", 0.25), ("CLN4", "CL", 0.01)])
def test_one_product_lake_replays_without_flags(es_mbo, tmp_path, capsys, symbol, product, tick):
    f = relabel(es_mbo, tmp_path / f"{product}.mbo.dbn.zst", symbol)
    lake = tmp_path / "lake"
    assert main(["build", "--input", str(f), "--lake", str(tmp_path / "nolake"), "--quiet"]) == 2   # nothing gives the tick
    assert f"no tick size for product '{product}'" in capsys.readouterr().err
    d = definition_file(f, tmp_path / f"{product}.definition.dbn.zst", symbol, product, tick)
    assert main(["build", "--input", str(f), str(d), "--lake", str(lake), "--quiet"]) == 0
    snap = read_partition(lake, cf.SNAP.name, product, DATE)
    assert set(snap.column("tick_int").to_pylist()) == {round(tick * 1e9)}
    src = LakeSource(lake)
    assert src.product == product and src.assemble.tick_size == pytest.approx(tick)
    # a live client's assembler (no config) takes the tick from the snap it is sent, too
    valid = snap.filter(snap.column("book_valid"))
    row = valid.slice(0, 1)
    frame = FrameAssembler().push(row.column("window_end_ts_ns")[0].as_py(), {"snap": row})
    assert frame.tick_size == pytest.approx(tick)
    assert FrameAssembler(AssembleConfig(tick_size=0.5)).push(row.column("window_end_ts_ns")[0].as_py(),
                                                             {"snap": row}).tick_size == 0.5
    assert main(["replay", "--lake", str(lake), "--quiet", "--max-frames", "60"]) == 0
    assert f"replay {product} {DATE}" in capsys.readouterr().out


def test_several_products_need_a_choice_and_name_them(es_mbo, tmp_path, capsys):
    lake = tmp_path / "lake"
    for sym, tick in (("NQM4", "0.25"), ("CLN4", "0.01")):
        f = relabel(es_mbo, tmp_path / f"{sym}.mbo.dbn.zst", sym)
        assert main(["build", "--input", str(f), "--lake", str(lake), "--quiet", "--tick-size", tick]) == 0
    assert main(["replay", "--lake", str(lake), "--quiet", "--max-frames", "10"]) == 2
    assert "holds several products (CL, NQ): pick one with --product" in capsys.readouterr().err
    with pytest.raises(SourceError, match=r"several products \(CL, NQ\)"):
        LakeSource(lake)
    assert main(["replay", "--lake", str(lake), "--product", "CL", "--quiet", "--max-frames", "10"]) == 0
    assert f"replay CL {DATE}" in capsys.readouterr().out


def test_unknown_tick_needs_the_flag(es_mbo, tmp_path, capsys):
    f = relabel(es_mbo, tmp_path / "zz.mbo.dbn.zst", "ZZM4")
    lake = tmp_path / "lake"
    assert main(["build", "--input", str(f), "--lake", str(lake), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert re.search(r"no tick size for product 'ZZ' \(instrument \d+\): .*--tick-size", err), err
    assert main(["build", "--input", str(f), "--lake", str(lake), "--quiet", "--tick-size", "0.25"]) == 0
    assert set(read_partition(lake, cf.SNAP.name, "ZZ", DATE).column("tick_int").to_pylist()) == {250_000_000}
    assert main(["build", "--input", str(f), "--lake", str(lake), "--quiet", "--tick-size", "-1"]) == 2
    assert "--tick-size must be a positive price, got -1.0" in capsys.readouterr().err
