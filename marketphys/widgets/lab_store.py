"""The lab's frame history kept compactly and losslessly, so a whole trading day fits in a stated bound.

A ``LabFrame`` as the engine hands it over holds ~16 float64 arrays and a dict (~12.5 KB a
frame at the 257-cell grid, ~585 MB for a 46,800-frame RTH day). ``FrameStore`` keeps every
value exactly (float64) but stores each field (U, O, C, G) in the cheapest exact form: the
previous frame's array itself when unchanged (a constant viscosity), one number when the
field is uniform (a scalar current), the background value plus the cells that differ when at
most a quarter do (wells and walls on a flat medium), else the array. The small arrays (θ,
walls, forecast, band, resolved comparison) share one float64 block and the scalars a tuple.
At most ~9.5 KB a frame (every field dense), ~4 KB on a replayed synthetic lake (measured in
benchmarks/lab_day.py). It is a read-only sequence of ``LabFrame``: indexing rebuilds the frame.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from marketphys.widgets.history import LabFrame

_FIELDS = ("U", "O", "C", "G")
_WALLS = ("wall_center", "wall_strength", "wall_width", "wall_s_max", "wall_d_strength", "wall_meter")
_OPTIONAL = ("band_lo", "band_hi", "resolved_pred", "resolved_actual")


def _frozen(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


def encode_field(a: np.ndarray, prev):
    """The cheapest exact form of float64 field ``a`` given the previous frame's stored form ``prev``.

    Compared bit for bit (as int64), so -0.0 and NaN payloads come back exactly. The
    background of a sparse field is its first cell's value (the grid's edge: flat medium).
    """
    bits = np.ascontiguousarray(a, dtype=np.float64).view(np.int64)
    if prev is not None:
        before = prev if isinstance(prev, np.ndarray) else decode_field(prev)
        if before.shape == bits.shape and np.array_equal(before.view(np.int64), bits):
            return prev                                     # shared with the previous frame
    bg = int(bits[0])
    idx = np.flatnonzero(bits != bg)
    if idx.size == 0:
        return (a.size, bg)                                 # uniform
    if idx.size * 4 <= a.size:                              # sparse around the background value
        return (a.size, bg, _frozen(idx.astype(np.uint16 if a.size < 65536 else np.uint32)),
                _frozen(bits[idx].view(np.float64).copy()))
    return _frozen(bits.view(np.float64).copy())


def decode_field(enc) -> np.ndarray:
    if isinstance(enc, np.ndarray):
        return enc
    out = np.full(enc[0], enc[1], dtype=np.int64).view(np.float64)
    if len(enc) == 4:
        out[enc[2]] = enc[3]
    return _frozen(out)


class StoredFrame(LabFrame):
    """A ``LabFrame`` rebuilt from a ``FrameStore``: U, O, C, G are decoded on first access, so
    reading θ or the forecasts of a whole day (charts, tables) does not rebuild its fields."""

    def __getattr__(self, name):            # only called for attributes not yet in __dict__
        if name in _FIELDS:
            enc = self.__dict__.get("_enc")
            if enc is not None:
                value = decode_field(enc[_FIELDS.index(name)])
                self.__dict__[name] = value
                return value
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")


class FrameStore(Sequence):
    """Append-only (plus dropping the oldest) compact history of ``LabFrame`` snapshots."""

    def __init__(self):
        self._fields: list[tuple] = []
        self._f64: list[np.ndarray] = []
        self._meta: list[tuple] = []
        self._ts: list[int] = []
        self._keys: tuple = ()

    def append(self, fr: LabFrame) -> None:
        m = fr.U.shape[0]
        if not all(getattr(fr, n).shape == (m,) for n in _FIELDS):
            raise ValueError(f"LabFrame fields must all have the grid's {m} cells, got "
                             f"{[getattr(fr, n).shape for n in _FIELDS]}")
        prev = self._fields[-1] if self._fields else (None,) * len(_FIELDS)
        enc = tuple(encode_field(np.asarray(getattr(fr, n), dtype=np.float64), p) for n, p in zip(_FIELDS, prev))
        has = tuple(getattr(fr, n) is not None for n in _OPTIONAL)
        small = [fr.theta, *(getattr(fr, n) for n in _WALLS), fr.x_hat,
                 *(getattr(fr, n) for n, h in zip(_OPTIONAL, has) if h)]
        f64 = np.concatenate([np.asarray(a, dtype=np.float64).ravel() for a in small])
        keys = tuple(fr.counters)
        if keys != self._keys:
            self._keys = keys                       # one key tuple shared by every frame that has the same keys
        self._fields.append(enc)
        self._f64.append(_frozen(f64))
        self._meta.append((fr.ts_ns, fr.spot, fr.tick_size, fr.dx, fr.dt, fr.v0, fr.a0, fr.resolved_origin_ns,
                           fr.wall_ids, len(fr.theta), fr.x_hat.shape[0], has, self._keys,
                           tuple(fr.counters.values())))
        self._ts.append(int(fr.ts_ns))

    def __len__(self) -> int:
        return len(self._meta)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        enc, f64, meta = self._fields[i], self._f64[i], self._meta[i]
        ts, spot, tick, dx, dt, v0, a0, r_origin, ids, n_theta, nh, has, keys, counts = meta
        k = len(ids)
        d = {"ts_ns": ts, "spot": spot, "tick_size": tick, "dx": dx, "dt": dt, "v0": v0, "a0": a0,
             "wall_ids": ids, "resolved_origin_ns": r_origin, "counters": dict(zip(keys, counts)), "_enc": enc,
             "theta": f64[:n_theta]}
        off = n_theta
        for n in _WALLS:
            d[n] = f64[off:off + k]
            off += k
        d["x_hat"] = f64[off:off + nh]
        off += nh
        for n, h in zip(_OPTIONAL, has):
            if h:
                d[n] = f64[off:off + nh]
                off += nh
            else:
                d[n] = None
        fr = object.__new__(StoredFrame)       # skipping __init__'s frozen setattrs; fields decode lazily
        fr.__dict__.update(d)
        return fr

    def __delitem__(self, i) -> None:
        if not isinstance(i, slice):
            raise TypeError("FrameStore drops frames by slice only (the oldest: del store[:n])")
        for part in (self._fields, self._f64, self._meta, self._ts):
            del part[i]

    def clear(self) -> None:
        for part in (self._fields, self._f64, self._meta, self._ts):
            part.clear()

    def ts_at(self, i: int) -> int:
        """Frame ``i``'s origin time (ns) without rebuilding it."""
        return self._ts[i]

    def ts_ns(self) -> np.ndarray:
        """Every frame's origin time (ns), without rebuilding the frames."""
        return np.asarray(self._ts, dtype=np.int64)
