"""The forms Databento sends a book snapshot in, made from a generated session's event matrix.

The generator opens with the textbook form (a clear, adds flagged ``F_SNAPSHOT``, the last one
also ``F_LAST``). Databento's ES day files of 2024 differ: no clear, no ``F_LAST``, every record
flagged ``F_BAD_TS_RECV``; the next day's file re-sends the resting orders as a new snapshot,
again without a clear. These pure functions of the event matrix (fields x records, see
:mod:`marketphys.synth.events`) produce each form, and cut a session into files, so the
pipeline's tests cover them. Write the result with :func:`marketphys.synth.dbn.write_mbo`.
"""

from __future__ import annotations

import numpy as np

from marketphys.synth import events as E


def opening_snapshot(ev: np.ndarray) -> slice:
    """The records of the opening snapshot (a leading run of F_SNAPSHOT records)."""
    snap = (ev[E.FLAGS] & E.F_SNAPSHOT) != 0
    n = int(np.argmin(snap)) if not snap.all() else snap.shape[0]
    return slice(0, n)


def databento_form(ev: np.ndarray, clear: bool = False, last: bool = False, bad_ts_recv: bool = True) -> np.ndarray:
    """The session with its opening snapshot as Databento's day files send it: by default
    without its clear and without ``F_LAST`` on the last snapshot record, all flagged ``F_BAD_TS_RECV``."""
    sl = opening_snapshot(ev)
    out = ev.copy()
    fl = out[E.FLAGS, sl]
    if not last:
        fl &= ~E.F_LAST
    if bad_ts_recv:
        fl |= E.F_BAD_TS_RECV
    out[E.FLAGS, sl] = fl
    if not clear:
        keep = np.ones(out.shape[1], bool)
        keep[sl] = out[E.ACTION, sl] != E.A_CLEAR
        out = out[:, keep]
    return out


def resting_orders(ev: np.ndarray, before_ns: int) -> dict[int, tuple[int, int, int, int]]:
    """order id -> (side, price, size, instrument) of the orders resting once every record with
    ``ts_recv < before_ns`` is applied (adds, cancels, modifies, clears)."""
    book: dict[int, tuple[int, int, int, int]] = {}
    n = int(np.searchsorted(ev[E.TS_RECV], before_ns, side="left"))
    cols = [ev[k, :n].tolist() for k in (E.ACTION, E.OID, E.SIDE, E.PRICE, E.SIZE, E.INST)]
    for act, oid, side, px, size, inst in zip(*cols):
        if act == E.A_ADD or act == E.A_MODIFY:
            book[oid] = (side, px, size, inst)
        elif act == E.A_CANCEL and oid in book:
            s, p, q, i = book[oid]
            if q - size > 0:
                book[oid] = (s, p, q - size, i)
            else:
                del book[oid]
        elif act == E.A_CLEAR:
            book.clear()
    return {k: v for k, v in book.items() if v[2] > 0}


def resend_snapshot(ev: np.ndarray, at_ns: int, clear: bool = False, last: bool = False,
                    bad_ts_recv: bool = True) -> np.ndarray:
    """Insert, before the first record with ``ts_recv >= at_ns``, a snapshot of the orders resting
    then (time ``at_ns``), as a day file re-sends them: by default no clear and no ``F_LAST``.
    The book it describes is the book already there, so a correct reader's book is unchanged."""
    if (np.diff(ev[E.TS_RECV]) < 0).any():
        raise ValueError("resend_snapshot needs records in ts_recv order (marketphys.synth.dbn.sort_events)")
    book = resting_orders(ev, at_ns)
    if not book:
        raise ValueError(f"no order rests at ts_recv {at_ns}: nothing to snapshot")
    flag = E.F_SNAPSHOT | (E.F_BAD_TS_RECV if bad_ts_recv else 0)
    rows = []
    inst0 = next(iter(book.values()))[3]
    if clear:
        rows.append((at_ns, at_ns, inst0, 0, E.UNDEF_PRICE, 0, flag, E.A_CLEAR, E.S_NONE))
    for oid in sorted(book):
        side, px, size, inst = book[oid]
        rows.append((at_ns, at_ns, inst, oid, px, size, flag, E.A_ADD, side))
    snap = np.array(rows, np.int64).T
    if last:
        snap[E.FLAGS, -1] |= E.F_LAST
    i = int(np.searchsorted(ev[E.TS_RECV], at_ns, side="left"))
    return np.concatenate([ev[:, :i], snap, ev[:, i:]], axis=1)


def split_at(ev: np.ndarray, at_ns: int) -> tuple[np.ndarray, np.ndarray]:
    """Records with ``ts_recv < at_ns`` and the rest: a session cut into two files."""
    i = int(np.searchsorted(ev[E.TS_RECV], at_ns, side="left"))
    return ev[:, :i], ev[:, i:]
