"""The synthetic files are real DBN v3: Databento's decoder reads them back exactly."""

from __future__ import annotations

import filecmp

import databento_dbn as dbn
import numpy as np
import pytest

from fixtures_synth import SAMPLE, synth_sample  # noqa: F401
from marketphys.synth import SynthConfig, generate_session
from marketphys.synth import dbn as D
from marketphys.synth.session import KINDS


def test_mbo_layout_is_byte_exact_against_databento():
    ev = np.array([[1_715_261_400_000_000_123, 1_715_261_400_000_050_000, 5602, 6_400_000_000_001, 5_212_250_000_000, 7, 128, ord("A"), ord("B")],
                   [5, 9, 42_000_002, 7, 50_000_000, 1, 0, ord("F"), ord("A")],
                   [5, 9, 1, 0, D.E.UNDEF_PRICE, 0, 32, ord("R"), ord("N")]], dtype=np.int64)
    rec = D.to_mbo_records(ev.T.copy())
    for row, r in zip(ev, rec):
        ref = dbn.MBOMsg(publisher_id=1, instrument_id=int(row[2]), ts_event=int(row[0]), order_id=int(row[3]),
                         price=int(row[4]), size=int(row[5]), action=dbn.Action(chr(row[7])), side=dbn.Side(chr(row[8])),
                         ts_recv=int(row[1]), flags=int(row[6]), channel_id=0, sequence=int(r["sequence"]))
        assert r.tobytes() == bytes(ref)


def test_every_file_decodes_with_databento(synth_sample):
    res, _ = synth_sample
    expect_schema = {"futures_mbo": dbn.Schema.MBO, "options_mbo": dbn.Schema.MBO,
                     "definition": dbn.Schema.DEFINITION, "statistics": dbn.Schema.STATISTICS}
    decoded = {}
    for kind, schema in expect_schema.items():
        out = D.read_dbn(res.files[kind])
        md, recs = out[0], out[1:]
        assert md.version == 3 and md.dataset == "GLBX.MDP3" and md.schema == schema
        assert md.start == SAMPLE.start_ns or kind in ("definition", "statistics")
        assert len(recs) == res.records[kind]
        decoded[kind] = (md, recs)
    # futures: one instrument, symbol ESM4 mapped to its id, tick-aligned prices
    md, recs = decoded["futures_mbo"]
    assert md.symbols == ["ESM4"] and md.mappings["ESM4"][0]["symbol"] == "5602"
    assert {r.instrument_id for r in recs} == {5602}
    prices = np.array([r.price for r in recs[1:]])
    assert (prices % 250_000_000 == 0).all() and 4000e9 < prices.min() < prices.max() < 6500e9
    # decoded values equal the arrays we wrote (the fast reader agrees with Databento's)
    arr = D.read_mbo_array(res.files["futures_mbo"])
    for k in (0, 1, len(recs) // 2, len(recs) - 1):
        r = recs[k]
        assert (r.order_id, r.price, r.size, r.flags, str(r.action), str(r.side), r.ts_recv, r.sequence) == \
               (int(arr["order_id"][k]), int(arr["price"][k]), int(arr["size"][k]), int(arr["flags"][k]),
                chr(arr["action"][k]), chr(arr["side"][k]), int(arr["ts_recv"][k]), int(arr["sequence"][k]))
    # options: prices on the option tick (0.05, or 0.25 from 5.00), ids all defined
    md, recs = decoded["options_mbo"]
    p = np.array([r.price for r in recs])
    assert (p % 50_000_000 == 0).all() and (p > 0).all()
    assert (p[p >= 5_000_000_000] % 250_000_000 == 0).all()
    defs = {r.instrument_id: r for r in decoded["definition"][1]}
    assert {r.instrument_id for r in recs} <= set(defs)
    assert set(md.symbols) == {d.raw_symbol for d in defs.values() if d.raw_symbol != "ESM4"}


def test_definitions_describe_the_chain(synth_sample):
    res, _ = synth_sample
    defs = D.read_dbn(res.files["definition"])[1:]
    fut = [d for d in defs if str(d.instrument_class) == "F"]
    opts = [d for d in defs if str(d.instrument_class) in ("C", "P")]
    assert len(fut) == 1 and fut[0].raw_symbol == "ESM4" and fut[0].min_price_increment == 250_000_000
    assert fut[0].unit_of_measure_qty == 50 * 10**9
    strikes = sorted({d.strike_price for d in opts})
    assert len(strikes) >= 61 and set(np.diff(strikes)) == {5 * 10**9}
    expiries = sorted({d.expiration for d in opts})
    assert len(expiries) == 2  # one 0DTE, one later
    zero = [d for d in opts if d.expiration == expiries[0]]
    assert {d.raw_symbol.split()[0] for d in zero} == {"E2DK4"}  # Thursday of week 2, May 2024
    assert expiries[0] - SAMPLE.start_ns == int(6.5 * 3600e9)  # expires at the 20:00 UTC close
    for d in opts:
        assert d.underlying == "ESM4" and d.underlying_id == 5602 and d.unit_of_measure_qty == 50 * 10**9
        assert d.raw_symbol.endswith(f"{str(d.instrument_class)}{d.strike_price // 10**9}")
    calls = sum(str(d.instrument_class) == "C" for d in opts)
    assert calls == len(opts) - calls == 2 * len(strikes)


def test_statistics_carry_open_interest(synth_sample):
    res, _ = synth_sample
    stats = D.read_dbn(res.files["statistics"])[1:]
    assert all(s.stat_type == dbn.StatType.OPEN_INTEREST for s in stats)
    assert all(s.quantity > 0 for s in stats)
    assert len({s.instrument_id for s in stats}) == len(stats) == res.records["definition"]


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    cfg = SynthConfig(minutes=1, seed=5)
    a = generate_session(cfg, tmp_path / "a", progress=False)
    b = generate_session(cfg, tmp_path / "b", progress=False)
    c = generate_session(SynthConfig(minutes=1, seed=6), tmp_path / "c", progress=False)
    for k in KINDS:
        assert filecmp.cmp(a.files[k], b.files[k], shallow=False), k
    assert not filecmp.cmp(a.files["futures_mbo"], c.files["futures_mbo"], shallow=False)
    assert not filecmp.cmp(a.files["options_mbo"], c.files["options_mbo"], shallow=False)


def test_a_failed_write_leaves_nothing_behind(tmp_path):
    target = tmp_path / "x.mbo.dbn.zst"
    target.write_bytes(b"old")

    def chunks():
        yield b"x" * 1000
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        D.write_dbn_zst(target, b"DBN\x03", chunks())
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.mbo.dbn.zst"]


def test_reader_rejects_a_file_that_is_not_mbo(tmp_path, synth_sample):
    res, _ = synth_sample
    with pytest.raises(ValueError, match="not MBO records"):
        D.read_mbo_array(res.files["definition"])


def test_compiled_packer_matches_the_numpy_reference():
    rng = np.random.default_rng(3)
    n = 1001
    ev = np.stack([rng.integers(0, 2**62, n), rng.integers(0, 2**62, n), rng.integers(0, 2**32, n),
                   rng.integers(0, 2**63, n), rng.integers(-2**62, 2**62, n), rng.integers(0, 2**32, n),
                   rng.choice([0, 32, 128, 160], n), rng.choice([65, 67, 77, 84, 70, 82], n), rng.choice([65, 66, 78], n)])
    order = rng.permutation(n)
    for o in (None, order):
        ref = D.to_mbo_records(ev, o)
        got = D.pack_mbo(ev, o)
        assert got.dtype == D.MBO_DTYPE and got.tobytes() == ref.tobytes()
    # chunked packing (sequence carried across chunks) gives the same bytes
    old = D.CHUNK_RECORDS
    try:
        D.CHUNK_RECORDS = 97
        assert b"".join(D.packed_chunks(ev, order)) == D.to_mbo_records(ev, order).tobytes()
    finally:
        D.CHUNK_RECORDS = old
