"""The wall contract's side check (read from the string buffers) agrees with Arrow's ``is_in`` on any input."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import given, settings
from hypothesis import strategies as st

from marketphys.pipeline.contracts_futures import _all_a_or_b

value = st.one_of(st.sampled_from(["A", "B"]), st.sampled_from(["A", "B", "", "AB", "C", "@", "a", "BA", None]))


def reference(arr: pa.Array) -> bool:
    return not pc.any(pc.invert(pc.is_in(arr, pa.array(["A", "B"])))).as_py()


@settings(max_examples=300, deadline=None)
@given(st.lists(value, max_size=40), st.integers(0, 10), st.integers(0, 10), st.booleans())
def test_side_check_agrees_with_is_in(values, lo, cut, large):
    arr = pa.array(values, pa.large_string() if large else pa.string())
    sliced = arr.slice(min(lo, len(arr)), cut)  # offsets not starting at zero
    for a in (arr, sliced):
        assert _all_a_or_b(a) == reference(a), a.to_pylist()


def test_common_cases():
    assert _all_a_or_b(pa.array(["A", "B", "B"])) and _all_a_or_b(pa.array([], pa.string()))
    assert not _all_a_or_b(pa.array(["A", None]))
    assert not _all_a_or_b(pa.array(["A", "", "BB"]))  # as many bytes as strings, but not one each
    assert not _all_a_or_b(pa.array(["A", "C"])) and not _all_a_or_b(pa.array(["@"]))
