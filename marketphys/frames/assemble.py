"""Surfaces of the lake (one window, or a whole day) -> MarketFrames for the engine: the one assembler.

Live streams and stepping feed it one window at a time (``FrameAssembler``, ``assemble_frame``);
lake replay feeds it a whole day at once (``assemble_day``). Both run the same phases below;
they differ only in which rows of each surface belong to which frame (``_WindowRows``: the
merger already cut the window; ``_DayRows``: an exact join on ``window_end_ts_ns`` for
futures, an as-of join for options), so the two give identical frames by construction.

The mapping:

* ``ts_ns`` and ``spot`` from ``snap`` (window_end_ts_ns, mid_price); a window whose
  book is not valid (``book_valid`` false, snapshot recovery) gives no frame.
* scalars: every numeric ``physics`` column (ofi, above_score, ...), plus
  ``push`` (the physics column if present, else above_score − below_score),
  ``imbalance`` (book_imbalance), ``spread_ticks`` and ``queue_imbalance`` ((Q_bid − Q_ask) /
  (Q_bid + Q_ask) at the touch, Gould & Bonart 2016) from snap's BBO, and
  ``options_age_s`` (how old the held options surfaces are). ``FrameAssembler`` and
  ``assemble_day`` add ``latent_offset`` (ticks) = EMA_α(mid) − mid (``LatentMidFilter``);
  the engine reads it only with ``EngineConfig(start="latent")``, the documented ablation.
* profiles over the engine grid (cell centres i·dx ticks from spot): every numeric
  ``bucket_radar`` column, ``vacuum`` columns, and ``wall_depth_ask`` /
  ``wall_depth_bid`` = log1p(depth_qty_rest); levels are linearly interpolated
  onto the cells and cells outside the surface's range are 0.
* strikes: every numeric column of the held ``gex`` and ``gex_flow`` surfaces,
  on gex's strike grid; ``strike_rel_ticks`` are re-expressed relative to *this*
  frame's spot from the absolute strike (strike_price_int, else spot_ref_price_int
  + rel_ticks), so a strike held for 500 ms stays at its price while spot moves.

Options are held until their next window; a frame never sees a surface whose
window ends after the frame's own (no lookahead). Columns with non-finite values
are left out of that frame and named in ``issues`` rather than poisoning it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping

import numpy as np
import pyarrow as pa

from marketphys.dbn import PRICE_SCALE
from marketphys.core.frame import FrameError, MarketFrame
from marketphys.core.grid import Grid
from marketphys.frames.interp import apply_plans, check_unique_levels, chunked_plans, to_grid
from marketphys.frames.latent import LatentMidFilter

__all__ = ["AssembleConfig", "FrameAssembler", "assemble_frame", "assemble_day", "snap_tick", "to_grid",
           "LatentMidFilter"]

TS = "window_end_ts_ns"
KEY_COLUMNS = frozenset({TS, "rel_ticks", "side", "strike_price_int", "strike_points", "spot_ref_price_int", "book_valid",
                         "tick_int", "bucket", "instrument_id", "price_int"})
OPTION_SURFACES = ("gex", "gex_flow")
PROFILE_SURFACES = ("bucket_radar", "vacuum")
LEGACY_TICK = 0.25  # only for snap tables without tick_int (hand-made ones); a lake's snaps all carry it

Note = Callable[[str], None]
Column = tuple[str, np.ndarray, np.ndarray]     # (name, values per frame, present-and-finite per frame)


@dataclass(frozen=True)
class AssembleConfig:
    grid: Grid = field(default_factory=Grid)
    tick_size: float | None = None  # None: the snap's own tick_int (any product, not only ES)


def snap_tick(snap: pa.Table, cfg: AssembleConfig) -> float:
    """The tick a frame moves on: the config's, else the snap's ``tick_int`` (1e-9 units)."""
    if cfg.tick_size is not None:
        return float(cfg.tick_size)
    if "tick_int" in snap.column_names and snap.num_rows:
        t = snap.column("tick_int")[0].as_py()
        if t and t > 0:
            return t / PRICE_SCALE
    return LEGACY_TICK


def _numeric_columns(t: pa.Table) -> list[str]:
    return [f.name for f in t.schema if f.name not in KEY_COLUMNS
            and (pa.types.is_integer(f.type) or pa.types.is_floating(f.type)) and not f.name.endswith("_price_int")]


def _col(t: pa.Table, name: str) -> np.ndarray:
    return t.column(name).to_numpy(zero_copy_only=False).astype(np.float64)


def _ts(t: pa.Table) -> np.ndarray:
    return t.column(TS).to_numpy().astype(np.int64)


def _nonfinite_prefix(v: np.ndarray) -> np.ndarray:
    """cum[k] = non-finite values among v[:k] (per column of a 2-D v): rows [a, b) are clean iff cum[b] == cum[a]."""
    bad = np.cumsum(~np.isfinite(v), axis=0)
    return np.concatenate([np.zeros((1, *bad.shape[1:]), bad.dtype), bad])


def _value_columns(t: pa.Table) -> tuple[list[str], np.ndarray]:
    """The numeric value columns of a surface as (names, rows × columns float64, column-major: a column is contiguous)."""
    names = _numeric_columns(t)
    return names, np.stack([_col(t, c) for c in names]).T if names else np.zeros((t.num_rows, 0))


def _sorted(t: pa.Table, by_rel: bool) -> pa.Table:
    """Rows by window then level (stable); skips the sort when the lake already wrote them so."""
    if t.num_rows < 2:
        return t
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


# -- which rows of a surface belong to which frame: the only thing the two paths do differently ------------

class _DayRows:
    """Whole-day tables (sorted by window): futures rows at the frame's own window, options as of it."""

    def __init__(self, ts: np.ndarray):
        self.ts = ts

    def exact(self, rts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Row range [start, end) of each frame's own window among rows whose window ends are ``rts`` (sorted)."""
        return np.searchsorted(rts, self.ts, "left"), np.searchsorted(rts, self.ts, "right")

    def held(self, t: pa.Table):
        """(window index per frame, -1 if none yet; window ends; row start and end of each window)."""
        ots = _ts(t)
        wins = np.unique(ots)
        w = np.searchsorted(wins, self.ts, side="right") - 1        # latest window at or before the frame
        return w, wins, np.searchsorted(ots, wins, "left"), np.searchsorted(ots, wins, "right")


class _WindowRows:
    """One window's tables, already cut by the merger: every row is the one frame's (options: its held window)."""

    def exact(self, rts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros(1, np.int64), np.array([rts.shape[0]])

    def held(self, t: pa.Table):
        return np.zeros(1, np.int64), _ts(t)[:1], np.zeros(1, np.int64), np.array([t.num_rows])


# -- phase 1: the windows that give frames ------------------------------------------------------------------

@dataclass
class _Windows:
    snap: pa.Table
    keep: np.ndarray   # per snap row: a valid book and a usable mid
    ts: np.ndarray     # per frame
    spot: np.ndarray
    tick: float


def _windows(snap: pa.Table, cfg: AssembleConfig, note: Note) -> _Windows:
    snap = _sorted(snap, False)
    tick = snap_tick(snap, cfg)
    ts_all = _ts(snap)
    if np.any(np.diff(ts_all) == 0):
        i = int(np.flatnonzero(np.diff(ts_all) == 0)[0])
        raise FrameError(f"snap: expected 1 row per window, got 2 at {int(ts_all[i])}")
    keep = np.ones(ts_all.shape[0], bool)
    if "book_valid" in snap.column_names:
        keep &= snap.column("book_valid").to_numpy(zero_copy_only=False).astype(bool)
    mid = _col(snap, "mid_price")
    bad = keep & ~(np.isfinite(mid) & (mid > 0))
    for m in mid[bad]:
        note(f"snap.mid_price={float(m)!r}")
    keep &= ~bad
    return _Windows(snap, keep, ts_all[keep], mid[keep], tick)


# -- phase 2: scalars -----------------------------------------------------------------------------------------

def _physics_scalars(phys: pa.Table | None, rows, note: Note) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Every numeric physics column at the frame's window: {name: (values, ok)}."""
    if phys is None or phys.num_rows == 0:
        return {}
    phys = _sorted(phys, False)
    s, e = rows.exact(_ts(phys))
    if np.any(e - s > 1):
        raise FrameError(f"physics: expected 1 row per window, got {int(np.max(e - s))}")
    has = e > s
    idx = np.minimum(s, phys.num_rows - 1)
    out = {}
    for c in _numeric_columns(phys):
        v = _col(phys, c)[idx]
        fin = np.isfinite(v)
        for _ in range(int(np.sum(has & ~fin))):
            note(f"physics.{c}: non-finite")
        out[c] = (v, has & fin)
    return out


def derive_push_imbalance(cols: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
    """``push`` = the physics column where finite, else above_score − below_score; ``imbalance`` = the
    physics column where finite, else book_imbalance. In place, per frame."""
    if "above_score" in cols and "below_score" in cols:
        (a, oka), (b, okb) = cols["above_score"], cols["below_score"]
        own, own_ok = cols.get("push", (a, np.zeros(a.shape, bool)))
        with np.errstate(invalid="ignore"):
            cols["push"] = (np.where(own_ok, own, a - b), own_ok | (oka & okb))
    if "book_imbalance" in cols:
        bi, bok = cols["book_imbalance"]
        own, own_ok = cols.get("imbalance", (bi, np.zeros(bi.shape, bool)))
        cols["imbalance"] = (np.where(own_ok, own, bi), own_ok | bok)


def book_scalars(w: _Windows) -> list[Column]:
    """``spread_ticks`` and ``queue_imbalance`` from the snap's best bid and ask (both needed, both nonzero)."""
    snap, cols = w.snap, set(w.snap.column_names)
    if not {"best_bid_price_int", "best_ask_price_int"} <= cols:
        return []
    bid = snap.column("best_bid_price_int").to_numpy(zero_copy_only=False)[w.keep]
    ask = snap.column("best_ask_price_int").to_numpy(zero_copy_only=False)[w.keep]
    ok = ~(np.isnan(bid.astype(float)) | np.isnan(ask.astype(float))) & (np.nan_to_num(bid) != 0) & \
        (np.nan_to_num(ask) != 0)
    spread = (np.nan_to_num(ask).astype(np.int64) - np.nan_to_num(bid).astype(np.int64)) / PRICE_SCALE / w.tick
    out = [("spread_ticks", spread, ok)]
    if {"best_bid_qty", "best_ask_qty"} <= cols:
        bq, aq = _col(snap, "best_bid_qty")[w.keep], _col(snap, "best_ask_qty")[w.keep]
        tot = bq + aq
        qok = ok & np.isfinite(bq) & np.isfinite(aq) & (tot > 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            out.append(("queue_imbalance", np.where(qok, (bq - aq) / np.where(qok, tot, 1.0), 0.0), qok))
    return out


# -- phase 3: options held as of each frame -------------------------------------------------------------------

def align_strikes(parts) -> tuple[np.ndarray | None, dict[str, np.ndarray], list[str]]:
    """Held strike surfaces -> (absolute strike prices, {column: values}, issues).

    ``parts`` are (surface, strike prices, {column: values}, {column: all finite}) in OPTION_SURFACES
    order; the first gives the strike grid, later ones are placed on it by price (to 1e-6), strikes the
    grid lacks are dropped and grid strikes they lack stay 0. Non-finite columns are left out.
    """
    ref, channels, issues = None, {}, []
    for sname, p, cols, clean in parts:
        idx = None
        if ref is None:
            ref = p
        elif not np.array_equal(p, ref):
            pos = {round(float(x), 6): j for j, x in enumerate(ref)}
            idx = np.array([pos.get(round(float(x), 6), -1) for x in p])
        for c, v in cols.items():
            if not clean[c]:
                issues.append(f"{sname}.{c}: non-finite")
                continue
            if idx is None:
                channels[c] = v
            else:
                arr = np.zeros(len(ref))
                ok = idx >= 0
                arr[idx[ok]] = v[ok]
                channels[c] = arr
    return ref, channels, issues


def _strike_prices(t: pa.Table, surface: str, tick: float) -> np.ndarray:
    """Price of each option row: its strike, or spot + rel_ticks where the surface has no strike column."""
    if "strike_price_int" in t.column_names:
        return _col(t, "strike_price_int") / PRICE_SCALE
    if {"spot_ref_price_int", "rel_ticks"} <= set(t.column_names):
        return _col(t, "spot_ref_price_int") / PRICE_SCALE + _col(t, "rel_ticks") * tick
    raise FrameError(f"{surface}: needs strike_price_int or spot_ref_price_int + rel_ticks to place strikes")


class _HeldOptions:
    """The options windows each frame holds; strikes of each distinct held combination built once."""

    def __init__(self, tables: Mapping[str, pa.Table], w: _Windows, rows):
        self.surfaces = []
        self._cache: dict[tuple, tuple] = {}
        newest = np.full(w.ts.shape[0], -1, np.int64)
        for sname in OPTION_SURFACES:
            t = tables.get(sname)
            if t is None or t.num_rows == 0:
                continue
            t = _sorted(t, True)
            k, wins, starts, ends = rows.held(t)
            newest = np.maximum(newest, np.where(k >= 0, wins[np.maximum(k, 0)], -1))
            names, vals = _value_columns(t)
            cols = (names, vals, _nonfinite_prefix(vals))
            self.surfaces.append((sname, k, _strike_prices(t, sname, w.tick), cols, starts, ends))
        self.age: Column = ("options_age_s", (w.ts - newest) / 1e9, newest >= 0)

    def at(self, i: int):
        """(absolute strike prices or None, channels, issues) of the options held at frame i."""
        key = tuple(int(k[i]) for _, k, *_ in self.surfaces)
        if key not in self._cache:
            parts = []
            for (sname, _, prices, (names, vals, cum), starts, ends), k in zip(self.surfaces, key):
                a, b = (int(starts[k]), int(ends[k])) if k >= 0 else (0, 0)
                if b > a:
                    clean = cum[b] == cum[a]
                    parts.append((sname, prices[a:b], {c: vals[a:b, j] for j, c in enumerate(names)},
                                  {c: bool(clean[j]) for j, c in enumerate(names)}))
            self._cache[key] = align_strikes(parts)
        return self._cache[key]


# -- phase 4: profiles on the grid ----------------------------------------------------------------------------

@dataclass
class _Profile:
    surface: str
    name: str
    values: np.ndarray   # (frames, cells)
    ok: np.ndarray       # (frames,) every level of the window finite
    present: np.ndarray  # (frames,) the surface has rows at the window


def _on_grid(surface: str, names: list[str], vals: np.ndarray, plans, s, e, present, cells: int) -> list[_Profile]:
    """Each value column on the grid for every frame; a window with a non-finite level is marked, not interpolated."""
    cum = _nonfinite_prefix(vals)
    ok = cum[e] == cum[s]
    finite = np.where(np.isfinite(vals), vals, 0.0)
    return [_Profile(surface, c, apply_plans(plans, finite[:, j], cells), ok[:, j], present) for j, c in enumerate(names)]


def _profiles(tables: Mapping[str, pa.Table], rows, grid: Grid) -> list[_Profile]:
    out = []
    for sname in PROFILE_SURFACES:
        t = tables.get(sname)
        if t is None or t.num_rows == 0 or "rel_ticks" not in t.column_names:
            continue
        t = _sorted(t, True)
        rel, rts = _col(t, "rel_ticks"), _ts(t)
        check_unique_levels(rel, rts, sname)
        s, e = rows.exact(rts)
        names, vals = _value_columns(t)
        out += _on_grid(sname, names, vals, chunked_plans(rel, s, e, grid.x), s, e, e > s, grid.size)
    w = tables.get("wall")
    if w is not None and w.num_rows and {"rel_ticks", "side", "depth_qty_rest"} <= set(w.column_names):
        w = _sorted(w, False)
        wts, wrel, depth = _ts(w), _col(w, "rel_ticks"), np.log1p(np.maximum(_col(w, "depth_qty_rest"), 0.0))
        side = np.asarray(w.column("side").to_numpy(zero_copy_only=False))
        s_all, e_all = rows.exact(wts)
        for code, name in (("A", "wall_depth_ask"), ("B", "wall_depth_bid")):
            m = side == code
            ts_m, rel = wts[m], wrel[m]
            d = np.diff(ts_m)
            if not np.all((d > 0) | ((d == 0) & (np.diff(rel) >= 0))):    # each side's levels by (window, rel_ticks)
                order = np.lexsort((rel, ts_m))
                ts_m, rel, m = ts_m[order], rel[order], np.flatnonzero(m)[order]
            check_unique_levels(rel, ts_m, "wall")
            s, e = rows.exact(ts_m)
            out += _on_grid("wall", [name], depth[m][:, None], chunked_plans(rel, s, e, grid.x), s, e, e_all > s_all,
                            grid.size)
    return out


# -- phase 5: frames --------------------------------------------------------------------------------------------

def _frames(w: _Windows, scalars: list[Column], held: _HeldOptions, profiles: list[_Profile], note: Note,
            latent: LatentMidFilter | None) -> list[MarketFrame]:
    out = []
    for i in range(w.ts.shape[0]):
        t_i, spot = int(w.ts[i]), float(w.spot[i])
        sc = {name: float(v[i]) for name, v, ok in scalars if ok[i]}
        prof: dict[str, np.ndarray] = {}
        for p in profiles:
            if not p.present[i]:
                continue
            if not p.ok[i]:
                note(f"{p.surface}.{p.name}: non-finite")
                continue
            prof[p.name if p.name not in prof else f"{p.surface}_{p.name}"] = p.values[i]
        rel, strikes = None, {}
        if held.surfaces:
            prices, strikes, issues = held.at(i)
            for m in issues:
                note(m)
            if prices is not None:
                rel = (prices - spot) / w.tick
        if latent is not None:
            sc.setdefault("latent_offset", latent.update(t_i, spot, w.tick))
        out.append(MarketFrame(ts_ns=t_i, spot=spot, tick_size=w.tick, scalars=sc, profiles=prof,
                               strike_rel_ticks=rel, strikes=strikes))
    return out


def _assemble(tables: Mapping[str, pa.Table], make_rows, cfg: AssembleConfig, note: Note,
              latent: LatentMidFilter | None) -> list[MarketFrame]:
    """The phases, in order; ``make_rows(frame ts)`` says which rows of each surface are each frame's."""
    w = _windows(tables["snap"], cfg, note)
    if w.ts.shape[0] == 0:
        return []
    rows = make_rows(w.ts)
    phys = _physics_scalars(tables.get("physics"), rows, note)
    derive_push_imbalance(phys)
    held = _HeldOptions(tables, w, rows)
    scalars = [(c, v, ok) for c, (v, ok) in phys.items()] + book_scalars(w) + [held.age]
    return _frames(w, scalars, held, _profiles(tables, rows, cfg.grid), note, latent)


def assemble_day(tables: Mapping[str, pa.Table], cfg: AssembleConfig | None = None,
                 issues: dict | None = None) -> list[MarketFrame]:
    """Every frame of one day from whole-day surface tables (``snap`` required), in time order.

    Each surface is read once and sorted by (window, rel_ticks); profiles are interpolated for
    every window at once. Gives the frames ``FrameAssembler`` gives fed window by window.
    """
    cfg = cfg or AssembleConfig()
    issues = {} if issues is None else issues

    def note(msg):
        issues[msg] = issues.get(msg, 0) + 1

    snap = tables.get("snap")
    if snap is None or snap.num_rows == 0:
        return []
    return _assemble(tables, _DayRows, cfg, note, LatentMidFilter())


def _window_frame(futures: Mapping[str, pa.Table], held_options: Mapping[str, pa.Table], cfg: AssembleConfig,
                  note: Note, latent: LatentMidFilter | None) -> MarketFrame | None:
    snap = futures.get("snap")
    if snap is None or snap.num_rows == 0:
        return None
    if snap.num_rows != 1:
        raise FrameError(f"snap: expected 1 row per window, got {snap.num_rows}")
    ts = int(snap.column(TS)[0].as_py())
    held = {s: t for s, t in held_options.items() if s in OPTION_SURFACES and t is not None and t.num_rows}
    for s, t in held.items():
        if int(t.column(TS)[0].as_py()) > ts:
            raise FrameError(f"{s} window {t.column(TS)[0].as_py()} ends after the frame at {ts}: that would be lookahead")
    tables = {s: t for s, t in futures.items() if s not in OPTION_SURFACES and t is not None}
    frames = _assemble({**tables, **held}, lambda _ts: _WindowRows(), cfg, note, latent)
    return frames[0].validate(cfg.grid.size) if frames else None


def assemble_frame(futures: Mapping[str, pa.Table], held_options: Mapping[str, pa.Table],
                   cfg: AssembleConfig = AssembleConfig(), issues: list | None = None) -> MarketFrame | None:
    """One futures window + the latest options windows at or before it -> a frame (None if the book is not valid)."""
    issues = [] if issues is None else issues
    return _window_frame(futures, held_options, cfg, issues.append, None)


class FrameAssembler:
    """Stateful wrapper: feed it each window's surfaces in time order; it holds options between their windows."""

    def __init__(self, cfg: AssembleConfig | None = None):
        self.cfg = cfg or AssembleConfig()
        self.held: dict[str, pa.Table] = {}
        self.last_ts: int | None = None
        self.frames = 0
        self.skipped = 0
        self.issues: dict[str, int] = {}
        self.latent = LatentMidFilter()

    def _note(self, msg: str) -> None:
        self.issues[msg] = self.issues.get(msg, 0) + 1

    def push(self, ts: int, tables: Mapping[str, pa.Table]) -> MarketFrame | None:
        if self.last_ts is not None and ts <= self.last_ts:
            raise FrameError(f"windows must arrive in increasing time: {ts} after {self.last_ts}")
        self.last_ts = ts
        for s in OPTION_SURFACES:
            t = tables.get(s)
            if t is not None and t.num_rows:  # an empty options payload keeps the held one (see options_age_s)
                self.held[s] = t
        if "snap" not in tables:
            return None
        frame = _window_frame(tables, self.held, self.cfg, self._note, self.latent)
        if frame is None:
            self.skipped += 1
        else:
            self.frames += 1
        return frame
