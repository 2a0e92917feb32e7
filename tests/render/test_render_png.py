"""The wire PNG encoder: lossless (decoded by an independent decoder), and its bad-input errors."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

from marketphys.render import render_texture
from marketphys.render.png import encode_png
from tests.fixtures_render import rich_scene


def decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGBA"))


@settings(max_examples=25, deadline=None)
@given(arrays(np.uint8, st.tuples(st.integers(1, 9), st.integers(1, 9), st.just(4))), st.integers(0, 9))
def test_png_round_trips_any_image(img, level):
    assert np.array_equal(decode(encode_png(img, level)), img)


def test_png_of_a_real_texture_is_exact_and_small():
    tex = render_texture(rich_scene(320, 200))
    data = encode_png(tex)
    assert np.array_equal(decode(data), tex)
    assert len(data) < tex.nbytes / 10


@pytest.mark.parametrize("bad, what", [(np.zeros((4, 4, 3), np.uint8), "shape"), (np.zeros((4, 4, 4), np.float32), "dtype"),
                                       (np.zeros((0, 4, 4), np.uint8), "non-empty")])
def test_png_bad_input_is_named(bad, what):
    with pytest.raises(ValueError, match=what):
        encode_png(bad)
