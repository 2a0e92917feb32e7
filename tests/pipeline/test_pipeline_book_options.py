"""The book kernels run without numba's reference counting (a third of the book stage's time,
benchmarks/RESULTS.md, pipeline, fourth pass). The option is undocumented: if a numba release
drops it the kernels still compile (plain njit), and this test says the speed-up is gone."""

from __future__ import annotations

from marketphys.pipeline import book


def test_book_kernels_compile_without_reference_counting():
    assert book.NO_REFCOUNT == {"_nrt": False}, "this numba has no _nrt option: the book runs with refcounting (slower)"
    assert book.run_book.targetoptions.get("_nrt") is False
