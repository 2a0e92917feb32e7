"""prefetch: same items in the same order, producer errors surface at their item, early close stops it."""

from __future__ import annotations

import threading
import time

import pytest
from hypothesis import given, settings, strategies as st

from marketphys.pipeline.prefetch import prefetch


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers()), st.integers(1, 4))
def test_yields_every_item_in_order(items, depth):
    assert list(prefetch(iter(items), depth)) == items


def test_producer_error_is_raised_at_its_item():
    def gen():
        yield 1
        yield 2
        raise ValueError("corrupt compressed data near byte offset 112")

    got = []
    with pytest.raises(ValueError, match="byte offset 112"):
        for x in prefetch(gen()):
            got.append(x)
    assert got == [1, 2]


def test_runs_at_most_depth_ahead_and_stops_when_closed():
    made = []

    def gen():
        for k in range(1000):
            made.append(k)
            yield k

    it = prefetch(gen(), depth=2)
    assert next(it) == 0
    time.sleep(0.3)
    assert len(made) <= 4  # the item handed out, the queue (2), one blocked in put
    it.close()
    assert not any(t.name == "prefetch" and t.is_alive() for t in threading.enumerate())
    assert len(made) <= 4


def test_bad_depth_names_the_value():
    with pytest.raises(ValueError, match="depth must be >= 1, got 0"):
        next(prefetch(iter([1]), 0))
