"""Lossless PNG encoding of an RGBA texture for the wire, tuned for speed.

The instrument is mostly flat colour that repeats from row to row, so PNG's "Up"
filter (each row minus the row above, one NumPy subtraction) plus zlib level 1
shrinks a 960x540 texture from 2 MB to ~50 KB in ~5 ms; Pillow's adaptive
filtering takes 3-4x longer for the same size. Browsers decode PNG natively
(``createImageBitmap``), off the main thread.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
FILTER_UP = 2


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def encode_png(rgba: np.ndarray, level: int = 1) -> bytes:
    """PNG bytes of an (H, W, 4) uint8 image (8-bit RGBA, no colour-space chunks: pixels stay exact)."""
    img = np.asarray(rgba)
    if img.ndim != 3 or img.shape[2] != 4 or img.dtype != np.uint8:
        raise ValueError(f"encode_png needs an (H, W, 4) uint8 array, got shape {img.shape} dtype {img.dtype}")
    h, w = img.shape[:2]
    if h < 1 or w < 1:
        raise ValueError(f"encode_png needs a non-empty image, got {w}x{h}")
    if not 0 <= int(level) <= 9:
        raise ValueError(f"encode_png level must be 0..9, got {level!r}")
    rows = img.reshape(h, w * 4)
    raw = np.empty((h, w * 4 + 1), dtype=np.uint8)
    raw[:, 0] = FILTER_UP
    raw[0, 1:] = rows[0]                          # the row above the first is zeros
    np.subtract(rows[1:], rows[:-1], out=raw[1:, 1:])   # uint8 arithmetic wraps mod 256, as PNG wants
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 6, 0, 0, 0)
    return (PNG_SIGNATURE + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(raw.tobytes(), int(level)))
            + _chunk(b"IEND", b""))
