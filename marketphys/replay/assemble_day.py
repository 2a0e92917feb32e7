"""A whole lake day -> frames at once: the same frames as ``FrameAssembler`` fed window by window, vectorised.

The per-window path (``assemble.py``) slices Arrow tables and interpolates profiles one
window at a time (~2-4 ms per frame, minutes per day). Here each surface is read once,
sorted by (window, rel_ticks), and:

* scalars come from ``physics`` rows at the frame's own window (an exact join);
* profiles are interpolated onto the grid for every window at once (one searchsorted
  over a (window, rel_ticks) key, ``np.interp``'s formula and edge rules);
* options are joined as of the frame: the latest window at or before it, per surface,
  never one after it (``searchsorted(..., side="right") - 1``), and each distinct held
  (gex, gex_flow) pair is turned into strike arrays once.

``tests/test_replay_assemble_day.py`` checks frame-for-frame equality with the
per-window path; keep that path for live streams and stepping.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pyarrow as pa

from marketphys.core.frame import FrameError, MarketFrame
from marketphys.replay.assemble import (OPTION_SURFACES, PRICE_SCALE, TS, AssembleConfig, LatentMidFilter, _col, snap_tick,
                                        _numeric_columns, _strike_prices)

PROFILE_SURFACES = ("bucket_radar", "vacuum")


def _sorted(t: pa.Table, by_rel: bool) -> pa.Table:
    """Rows by window then level (stable); skips the sort when the lake already wrote them so."""
    by_rel = by_rel and "rel_ticks" in t.column_names
    ts = t.column(TS).to_numpy()
    d = np.diff(ts)
    ok = bool(np.all(d >= 0))
    if ok and by_rel:
        r = t.column("rel_ticks").to_numpy()
        ok = bool(np.all((d > 0) | (np.diff(r) >= 0)))
    if ok:
        return t
    keys = [(TS, "ascending")] + ([("rel_ticks", "ascending")] if by_rel else [])
    return t.sort_by(keys)


def _segments(ts_rows: np.ndarray, ts_frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row range [start, end) of each frame's window in rows sorted by ts (empty when absent)."""
    return np.searchsorted(ts_rows, ts_frames, "left"), np.searchsorted(ts_rows, ts_frames, "right")


class InterpPlan:
    """Where each grid point falls among each segment's levels: computed once per surface, applied per column.

    ``apply(vals)`` equals ``np.interp(x, rel[s:e], vals[s:e], left=0, right=0)`` per segment
    (rel sorted within each; empty segments give zeros, as ``to_grid``), with NumPy's formula
    slope·(x − r_k) + v_k and v_k exactly where x equals a level.
    """

    def __init__(self, rel: np.ndarray, start: np.ndarray, end: np.ndarray, x: np.ndarray):
        n = start.shape[0]
        self.shape = (n, x.shape[0])
        has = end > start
        self.empty = not has.any() or rel.size == 0
        if self.empty:
            return
        K = 4.0 * (float(np.max(np.abs(rel))) + float(np.max(np.abs(x))) + 2.0)
        lens = end - start
        seg = np.repeat(np.arange(n), lens)
        # rows of each segment, in segment order: start[seg] + position within the segment
        pos = np.arange(seg.size) - np.repeat(np.cumsum(lens) - lens, lens)
        rows = start[seg] + pos
        key = seg * K + rel[rows]
        k = np.searchsorted(key, (np.arange(n)[:, None] * K + x[None, :]).ravel(), side="right").reshape(n, -1) - 1
        first = np.cumsum(lens) - lens
        last = first + lens - 1
        inside = (k >= first[:, None]) & has[:, None]
        kk = np.clip(k, 0, key.size - 1)
        kn = np.minimum(kk + 1, key.size - 1)
        self.k, self.kn = rows[kk], rows[kn]
        r, r1 = rel[self.k], rel[self.kn]
        self.dx = x[None, :] - r
        self.dr = r1 - r
        self.exact = x[None, :] == r
        self.zero = ~inside | ((kk == last[:, None]) & ~self.exact)      # outside, or beyond the last level

    def apply(self, vals: np.ndarray) -> np.ndarray:
        if self.empty:
            return np.zeros(self.shape)
        v, v1 = vals[self.k], vals[self.kn]
        with np.errstate(invalid="ignore", divide="ignore"):
            y = (v1 - v) / self.dr * self.dx + v
        y = np.where(self.exact, v, y)
        return np.where(self.zero, 0.0, y)


def interp_segments(rel, vals, start, end, x, chunk: int = 2048) -> np.ndarray:
    """``InterpPlan(...).apply(vals)`` a chunk of segments at a time (bounded memory)."""
    return np.concatenate([InterpPlan(rel, start[a:a + chunk], end[a:a + chunk], x).apply(vals)
                           for a in range(0, start.shape[0], chunk)] or [np.zeros((0, x.shape[0]))])


def _check_unique(rel: np.ndarray, ts: np.ndarray, surface: str) -> None:
    same = (np.diff(rel) == 0) & (np.diff(ts) == 0)
    if same.any():
        i = int(np.flatnonzero(same)[0])
        raise FrameError(f"profile has repeated rel_ticks ({float(rel[i])}); expected one row per level "
                         f"({surface} window {int(ts[i])})")


def assemble_day(tables: Mapping[str, pa.Table], cfg: AssembleConfig | None = None,
                 issues: dict | None = None) -> list[MarketFrame]:
    """Every frame of one day from whole-day surface tables (``snap`` required), in time order."""
    cfg = cfg or AssembleConfig()
    issues = {} if issues is None else issues
    grid = cfg.grid

    def note(msg, count=1):
        issues[msg] = issues.get(msg, 0) + count

    snap = tables.get("snap")
    if snap is None or snap.num_rows == 0:
        return []
    snap = _sorted(snap, False)
    tick = snap_tick(snap, cfg)
    ts_all = snap.column(TS).to_numpy().astype(np.int64)
    if np.any(np.diff(ts_all) == 0):
        i = int(np.flatnonzero(np.diff(ts_all) == 0)[0])
        raise FrameError(f"snap: expected 1 row per window, got 2 at {int(ts_all[i])}")
    keep = np.ones(ts_all.shape[0], bool)
    if "book_valid" in snap.column_names:
        keep &= snap.column("book_valid").to_numpy(zero_copy_only=False).astype(bool)
    mid = _col(snap, "mid_price")
    badmid = keep & ~(np.isfinite(mid) & (mid > 0))
    for m in mid[badmid]:
        note(f"snap.mid_price={float(m)!r}")
    keep &= ~badmid
    ts, spot = ts_all[keep], mid[keep]
    F = ts.shape[0]
    scal_cols: dict[str, np.ndarray] = {}
    scal_ok: dict[str, np.ndarray] = {}

    phys = tables.get("physics")
    has_phys = np.zeros(F, bool)
    if phys is not None and phys.num_rows:
        phys = _sorted(phys, False)
        pts = phys.column(TS).to_numpy().astype(np.int64)
        s, e = _segments(pts, ts)
        if np.any(e - s > 1):
            raise FrameError(f"physics: expected 1 row per window, got {int(np.max(e - s))}")
        has_phys = e > s
        idx = np.minimum(s, phys.num_rows - 1)
        for c in _numeric_columns(phys):
            v = _col(phys, c)[idx]
            scal_cols[c] = v
            scal_ok[c] = has_phys & np.isfinite(v)
            for _ in range(int(np.sum(has_phys & ~np.isfinite(v)))):
                note(f"physics.{c}: non-finite")
    spread = None
    if {"best_bid_price_int", "best_ask_price_int"} <= set(snap.column_names):
        bid = snap.column("best_bid_price_int").to_numpy(zero_copy_only=False)[keep]
        ask = snap.column("best_ask_price_int").to_numpy(zero_copy_only=False)[keep]
        okb = ~(np.isnan(bid.astype(float)) | np.isnan(ask.astype(float))) & (np.nan_to_num(bid) != 0) & \
            (np.nan_to_num(ask) != 0)
        spread = (okb, (np.nan_to_num(ask).astype(np.int64) - np.nan_to_num(bid).astype(np.int64)) / PRICE_SCALE / tick)
    qimb = None
    if spread is not None and {"best_bid_qty", "best_ask_qty"} <= set(snap.column_names):
        bq = np.nan_to_num(snap.column("best_bid_qty").to_numpy(zero_copy_only=False)[keep].astype(float))
        aq = np.nan_to_num(snap.column("best_ask_qty").to_numpy(zero_copy_only=False)[keep].astype(float))
        tot = bq + aq
        qimb = (spread[0] & (tot > 0), np.where(tot > 0, (bq - aq) / np.where(tot > 0, tot, 1.0), 0.0))

    # -- options held as of each frame -----------------------------------------------------
    held_idx, held_ts, opt = {}, {}, {}
    for sname in OPTION_SURFACES:
        t = tables.get(sname)
        if t is None or t.num_rows == 0:
            continue
        t = _sorted(t, True)
        ots = t.column(TS).to_numpy().astype(np.int64)
        wins = np.unique(ots)
        w = np.searchsorted(wins, ts, side="right") - 1        # latest window at or before the frame
        held_idx[sname], held_ts[sname] = w, np.where(w >= 0, wins[np.maximum(w, 0)], -1)
        opt[sname] = (t, ots, wins)
    strike_cache: dict[tuple, tuple] = {}
    ocols = {}
    for sname, (t, ots, wins) in opt.items():
        prices = _strike_prices(t, sname, tick)
        cols = {}
        for c in _numeric_columns(t):
            v = _col(t, c)
            cols[c] = (v, np.concatenate([[0], np.cumsum(~np.isfinite(v))]))
        ocols[sname] = (prices, cols, np.searchsorted(ots, wins, "left"), np.searchsorted(ots, wins, "right"))

    def strikes_for(i):
        """(absolute strike prices, channels, issues) of the options held at frame i (as ``_strikes``)."""
        key = tuple(int(held_idx[s][i]) for s in held_idx)
        if key in strike_cache:
            return strike_cache[key]
        ref, channels, iss = None, {}, []
        for sname, k in zip(held_idx, key):
            if k < 0:
                continue
            prices, cols, starts, ends = ocols[sname]
            a, b = int(starts[k]), int(ends[k])
            if b == a:
                continue
            p = prices[a:b]
            idx = None
            if ref is None:
                ref = p
            elif not np.array_equal(p, ref):    # align onto the reference strike grid; strikes it lacks stay 0
                pos = {round(float(x), 6): j for j, x in enumerate(ref)}
                idx = np.array([pos.get(round(float(x), 6), -1) for x in p])
            for c, (v, cum) in cols.items():
                if cum[b] != cum[a]:
                    iss.append(f"{sname}.{c}: non-finite")
                    continue
                if idx is None:
                    channels[c] = v[a:b]
                else:
                    arr = np.zeros(len(ref))
                    ok = idx >= 0
                    arr[idx[ok]] = v[a:b][ok]
                    channels[c] = arr
        strike_cache[key] = (ref, channels, iss)
        return strike_cache[key]

    # -- profiles -----------------------------------------------------------------------------
    prof: list[tuple[str, str, np.ndarray, np.ndarray]] = []     # (surface, column, (F, cells) values, (F,) ok)
    present: dict[str, np.ndarray] = {}
    for sname in PROFILE_SURFACES:
        t = tables.get(sname)
        if t is None or t.num_rows == 0 or "rel_ticks" not in t.column_names:
            continue
        t = _sorted(t, True)
        rts = t.column(TS).to_numpy().astype(np.int64)
        rel = _col(t, "rel_ticks")
        _check_unique(rel, rts, sname)
        s, e = _segments(rts, ts)
        present[sname] = e > s
        plans = [InterpPlan(rel, s[a:a + 2048], e[a:a + 2048], grid.x) for a in range(0, F, 2048)]
        for c in _numeric_columns(t):
            v = _col(t, c)
            fin = np.isfinite(v)
            cum = np.concatenate([[0], np.cumsum(~fin)])
            okf = (cum[e] - cum[s]) == 0
            v = np.where(fin, v, 0.0)
            prof.append((sname, c, np.concatenate([p.apply(v) for p in plans] or [np.zeros((0, grid.size))]), okf))
    w = tables.get("wall")
    if w is not None and w.num_rows and {"rel_ticks", "side", "depth_qty_rest"} <= set(w.column_names):
        w = _sorted(w, True)
        side = np.asarray(w.column("side").to_numpy(zero_copy_only=False))
        for code, name in (("A", "wall_depth_ask"), ("B", "wall_depth_bid")):
            sub = w.filter(pa.array(side == code))
            wts = sub.column(TS).to_numpy().astype(np.int64)
            rel = _col(sub, "rel_ticks")
            _check_unique(rel, wts, "wall")
            v = np.log1p(np.maximum(_col(sub, "depth_qty_rest"), 0.0))
            s, e = _segments(wts, ts)
            allw = _segments(w.column(TS).to_numpy().astype(np.int64), ts)
            present_w = allw[1] > allw[0]
            fin = np.isfinite(v)
            cum = np.concatenate([[0], np.cumsum(~fin)])
            okf = ((cum[e] - cum[s]) == 0) & present_w
            prof.append(("wall", name, interp_segments(rel, np.where(fin, v, 0.0), s, e, grid.x), okf))
            present.setdefault("wall", present_w)

    # -- frames ----------------------------------------------------------------------------------
    latent = LatentMidFilter()
    frames = []
    phys_names = list(scal_cols)
    for i in range(F):
        t_i = int(ts[i])
        sc: dict[str, float] = {}
        if has_phys[i]:
            for c in phys_names:
                if scal_ok[c][i]:
                    sc[c] = float(scal_cols[c][i])
            if "push" not in sc and "above_score" in sc and "below_score" in sc:
                sc["push"] = sc["above_score"] - sc["below_score"]
            if "book_imbalance" in sc:
                sc.setdefault("imbalance", sc["book_imbalance"])
        if spread is not None and spread[0][i]:
            sc["spread_ticks"] = float(spread[1][i])
        if qimb is not None and qimb[0][i]:
            sc["queue_imbalance"] = float(qimb[1][i])
        opt_ts = [int(held_ts[s][i]) for s in held_ts if held_ts[s][i] >= 0]
        if opt_ts:
            sc["options_age_s"] = (t_i - max(opt_ts)) / 1e9
        profiles: dict[str, np.ndarray] = {}
        for sname, c, arr, okf in prof:
            if not present[sname][i]:
                continue
            if not okf[i]:
                note(f"{sname}.{c}: non-finite")
                continue
            profiles[c if c not in profiles else f"{sname}_{c}"] = arr[i]
        rel_s, strikes = None, {}
        if held_idx:
            prices, ch, iss = strikes_for(i)
            for m in iss:
                note(m)
            if prices is not None:
                rel_s, strikes = (prices * 1.0 - spot[i]) / tick, ch
        off = latent.update(t_i, float(spot[i]), tick)
        sc.setdefault("latent_offset", off)
        frames.append(MarketFrame(ts_ns=t_i, spot=float(spot[i]), tick_size=tick, scalars=sc, profiles=profiles,
                                  strike_rel_ticks=rel_s, strikes=strikes))
    return frames


def read_day_tables(lake, contracts: Mapping[str, object], product: str, date: str) -> dict[str, pa.Table]:
    """Each surface's whole day as one Arrow table (the lake's parquet parts of that date)."""
    import pyarrow.parquet as pq

    from marketphys.pipeline import lake as lakemod

    out = {}
    with lakemod.consistent_view(lake):          # every surface from one build, even if another commits meanwhile
        for s, c in contracts.items():
            d = lakemod.partition_dir(lake, c.name, product, date)
            parts = sorted(d.glob("part-*.parquet"))
            if parts:
                out[s] = pa.concat_tables([pq.read_table(p) for p in parts])
    return out
