"""Databento DBN constants, defined once: the MBO record layout, flags, actions, sides, price units.

Every layer that reads, writes or replays MBO records (bronze decode, the books, the synthetic
market, the chain tools) takes these names from here, so a constant cannot drift between copies.
Values follow the DBN specification (``databento_dbn``, checked by tests/pipeline/test_dbn_constants.py).

Action and side are the spec's ``c_char``: one byte holding an ASCII code. The record dtype keeps
them as ``u1`` codes, the form compiled loops compare against the named constants below
(``act == ADD``); ``databento_dbn``'s own ndarray view reads the same byte as ``S1``.
"""

from __future__ import annotations

import numpy as np

# record types (rtype)
RTYPE_MBO = 0xA0
RTYPE_DEFINITION = 0x13
RTYPE_STATISTICS = 0x18

# prices are signed integers in units of 1e-9: price_int = price * PRICE_SCALE
PRICE_SCALE = 1_000_000_000
UNDEF_PRICE = np.iinfo(np.int64).max
"""A price field that holds no price (e.g. a clear's, or a definition's unset strike)."""

# flags (one byte per record)
F_LAST = 0x80            # last record of an event for the instrument
F_TOB = 0x40             # top-of-book message, not an individual order
F_SNAPSHOT = 0x20        # part of a book snapshot (replay), not a live event
F_MBP = 0x10             # aggregated price level, not an individual order
F_BAD_TS_RECV = 0x08     # ts_recv is inaccurate (clock or reconstruction)
F_MAYBE_BAD_BOOK = 0x04  # the venue's feed had a gap: the book may be wrong until the next clear

# actions (byte codes)
ADD = ord("A")
CANCEL = ord("C")
MODIFY = ord("M")
CLEAR = ord("R")
TRADE = ord("T")
FILL = ord("F")
NONE = ord("N")
ACTIONS = (ADD, CANCEL, MODIFY, CLEAR, TRADE, FILL, NONE)

# sides (byte codes); a trade's side is the aggressor's
ASK = ord("A")
BID = ord("B")
SIDE_NONE = ord("N")
SIDES = (ASK, BID, SIDE_NONE)

# MBO record (MboMsg): 56 bytes, little endian, the same in DBN v1, v2 and v3
MBO_FIELDS = [
    ("length", "u1"), ("rtype", "u1"), ("publisher_id", "<u2"), ("instrument_id", "<u4"),
    ("ts_event", "<u8"), ("order_id", "<u8"), ("price", "<i8"), ("size", "<u4"),
    ("flags", "u1"), ("channel_id", "u1"), ("action", "u1"), ("side", "u1"),
    ("ts_recv", "<u8"), ("ts_in_delta", "<i4"), ("sequence", "<u4"),
]
MBO_DTYPE = np.dtype(MBO_FIELDS)
MBO_WORDS = MBO_DTYPE.itemsize // 4
"""The record header's ``length`` field: the record size in 4-byte words."""
assert MBO_DTYPE.itemsize == 56
