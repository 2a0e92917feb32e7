"""``marketphys.dbn`` is the one source of DBN constants, and it agrees with Databento's own decoder.

Each check compares against ``databento_dbn`` (the reference implementation of the DBN spec) or
against real records of the conformance files, so a constant edited by mistake (a flag bit, an
action code, a field offset, the price scale) fails here; the source scan fails when a module
defines its own copy of a constant again instead of importing it.
"""

from __future__ import annotations

import re
from pathlib import Path

import databento_dbn as dbnref
import numpy as np
import pytest
import zstandard

from marketphys import dbn
from marketphys.pipeline import bronze

PACKAGE = Path(dbn.__file__).parent
MBO_FILES = ["dbn/test_data.mbo.v1.dbn.zst", "dbn/test_data.mbo.v2.dbn.zst", "dbn/test_data.mbo.v3.dbn.zst",
             "glbx/orderbooks_mbo_2024-05-08T00-00-00_2024-05-08T00-00-02.dbn.zst"]


def _decode(path: Path) -> list:
    raw = zstandard.ZstdDecompressor().stream_reader(path.read_bytes()).read()
    dec = dbnref.DBNDecoder()
    dec.write(raw)
    return dec.decode()[1:]


def test_mbo_layout_is_databentos():
    """Same field names, offsets and sizes as databento_dbn's MBOMsg layout; action/side are its
    one-byte ``c_char`` read as codes (``u1``) where Databento's ndarray view reads ``S1``."""
    ref = np.dtype(dbnref.MBOMsg._dtypes)
    assert dbn.MBO_DTYPE.names == ref.names
    assert dbn.MBO_DTYPE.itemsize == ref.itemsize == 56 == 4 * dbn.MBO_WORDS
    for name in ref.names:
        ours, theirs = dbn.MBO_DTYPE.fields[name], ref.fields[name]
        assert ours[1] == theirs[1], f"{name}: offset {ours[1]}, databento_dbn {theirs[1]}"
        assert ours[0].itemsize == theirs[0].itemsize, name
        if name in ("action", "side"):
            assert ours[0] == np.uint8 and theirs[0] == np.dtype("S1")
        else:
            assert ours[0].newbyteorder("<") == theirs[0].newbyteorder("<"), name


@pytest.mark.parametrize("name", MBO_FILES)
def test_conformance_records_read_through_our_dtype(conformance_dir, name):
    """Every conformance MBO record's bytes, viewed through MBO_DTYPE, give Databento's decoded values."""
    path = conformance_dir / name
    recs = _decode(path)
    ours = np.concatenate(list(bronze.iter_mbo(path)))
    assert len(ours) == len(recs) > 0
    assert b"".join(bytes(r) for r in recs) == ours.tobytes()
    for k in sorted({0, len(recs) // 2, len(recs) - 1}):
        r, o = recs[k], ours[k]
        header = (int(o["length"]), int(o["rtype"]))
        assert header == (dbn.MBO_WORDS, dbn.RTYPE_MBO) == (r.record_size() // 4, int(r.rtype))
        assert chr(o["action"]) == r.action.value and chr(o["side"]) == r.side.value
        assert (int(o["price"]), int(o["flags"]), int(o["ts_recv"])) == (r.price, int(r.flags), r.ts_recv)
        if o["price"] == dbn.UNDEF_PRICE:
            assert np.isnan(r.pretty_price)  # Databento's "no price" is ours too
        else:
            assert o["price"] / dbn.PRICE_SCALE == pytest.approx(r.pretty_price, rel=0, abs=1e-9)


def test_flags_equal_databentos():
    for name in ("F_LAST", "F_TOB", "F_SNAPSHOT", "F_MBP", "F_BAD_TS_RECV", "F_MAYBE_BAD_BOOK"):
        assert getattr(dbn, name) == int(getattr(dbnref, name)), name


def test_action_and_side_codes_equal_databentos():
    for name in ("ADD", "CANCEL", "MODIFY", "CLEAR", "TRADE", "FILL", "NONE"):
        assert getattr(dbn, name) == ord(getattr(dbnref.Action, name).value), name
    assert set(dbn.ACTIONS) == {ord(a.value) for a in dbnref.Action.variants()}
    sides = tuple(ord(getattr(dbnref.Side, s).value) for s in ("ASK", "BID", "NONE"))
    assert (dbn.ASK, dbn.BID, dbn.SIDE_NONE) == sides
    assert set(dbn.SIDES) == {ord(s.value) for s in dbnref.Side.variants()}


def test_prices_and_record_types_equal_databentos():
    assert dbn.PRICE_SCALE == dbnref.FIXED_PRICE_SCALE == 1_000_000_000
    assert dbn.UNDEF_PRICE == dbnref.UNDEF_PRICE
    assert dbn.RTYPE_MBO == dbnref.RType.MBO.value
    assert dbn.RTYPE_DEFINITION == dbnref.RType.INSTRUMENT_DEF.value
    assert dbn.RTYPE_STATISTICS == dbnref.RType.STATISTICS.value


# a module-level assignment of one of these names, anywhere but marketphys/dbn.py, is a second copy
_OWNED = ("MBO_DTYPE", "MBO_FIELDS", "PRICE_SCALE", "UNDEF_PRICE", "F_LAST", "F_TOB", "F_SNAPSHOT", "F_MBP",
          "F_BAD_TS_RECV", "F_MAYBE_BAD_BOOK", "RTYPE_MBO")
_DEFINES = re.compile(r"^(?:%s)\s*(?::[^=]*)?=(?!=)" % "|".join(_OWNED), re.M)
_DTYPE_WITH_ACTION = re.compile(r"np\.dtype\(\s*\[[^\]]*[\"']action[\"']", re.S)


def copies_of_dbn_constants(root: Path = PACKAGE) -> list[str]:
    """``path: line`` of every module that defines a DBN constant or an MBO dtype of its own."""
    found = []
    for path in sorted(root.rglob("*.py")):
        if path == root / "dbn.py":
            continue
        text = path.read_text()
        found += [f"{path.relative_to(root)}: {m.group(0).strip()}" for m in _DEFINES.finditer(text)]
        found += [f"{path.relative_to(root)}: an MBO dtype" for _ in _DTYPE_WITH_ACTION.finditer(text)]
    return found


def test_constants_are_defined_once():
    assert copies_of_dbn_constants() == []


def test_the_scan_finds_a_planted_copy(tmp_path):
    """The scan above can fail: a module restating a flag, the price scale or the dtype is found."""
    (tmp_path / "dbn.py").write_text("F_LAST = 0x80\n")
    (tmp_path / "a.py").write_text("import numpy as np\nF_SNAPSHOT = 0x20\nx = 1\n")
    (tmp_path / "b.py").write_text("PRICE_SCALE: float = 1e-9\nif PRICE_SCALE == 1:\n    pass\n")
    (tmp_path / "c.py").write_text('D = np.dtype([\n    ("flags", "u1"), ("action", "S1")])\n')
    assert copies_of_dbn_constants(tmp_path) == ["a.py: F_SNAPSHOT =", "b.py: PRICE_SCALE: float =",
                                                 "c.py: an MBO dtype"]
