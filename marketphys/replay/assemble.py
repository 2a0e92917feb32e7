"""Surfaces of one window (+ held options) -> a MarketFrame for the engine.

Shared by the live client (``marketphys.serving.client``) and lake replay, so both
feed the engine identical frames. The mapping:

* ``ts_ns`` and ``spot`` from ``snap`` (window_end_ts_ns, mid_price); a window whose
  book is not valid (``book_valid`` false, snapshot recovery) gives no frame.
* scalars: every numeric ``physics`` column (ofi, above_score, ...), plus
  ``push`` (the physics column if present, else above_score − below_score),
  ``imbalance`` (book_imbalance), ``spread_ticks`` and ``queue_imbalance`` ((Q_bid − Q_ask) /
  (Q_bid + Q_ask) at the touch) from snap's BBO, and
  ``options_age_s`` (how old the held options surfaces are). ``FrameAssembler`` adds
  ``latent_offset`` (ticks) = EMA_α(mid) − mid, where a filter puts the latent price
  inside the quoted tick (see ``LatentMidFilter``). The engine starts the particle at
  the mid with the last tick's motion (docs/architecture.md#dynamics) and reads ``latent_offset`` only
  with ``EngineConfig(start="latent")``, the documented ablation.
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

from dataclasses import dataclass, field, replace
from typing import Mapping

import numpy as np
import pyarrow as pa

from marketphys.core.frame import FrameError, MarketFrame
from marketphys.core.grid import Grid
from marketphys.dbn import PRICE_SCALE

TS = "window_end_ts_ns"
KEY_COLUMNS = frozenset({TS, "rel_ticks", "side", "strike_price_int", "strike_points", "spot_ref_price_int", "book_valid",
                         "tick_int", "bucket", "instrument_id", "price_int"})
OPTION_SURFACES = ("gex", "gex_flow")


LEGACY_TICK = 0.25  # only for snap tables without tick_int (hand-made ones); a lake's snaps all carry it


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


def _strike_prices(t: pa.Table, surface: str, tick: float) -> np.ndarray:
    """Price of each option row: its strike, or spot + rel_ticks where the surface has no strike column."""
    if "strike_price_int" in t.column_names:
        return _col(t, "strike_price_int") / PRICE_SCALE
    if {"spot_ref_price_int", "rel_ticks"} <= set(t.column_names):
        return _col(t, "spot_ref_price_int") / PRICE_SCALE + _col(t, "rel_ticks") * tick
    raise FrameError(f"{surface}: needs strike_price_int or spot_ref_price_int + rel_ticks to place strikes")


def _one_row(t: pa.Table | None, surface: str) -> pa.Table | None:
    if t is None or t.num_rows == 0:
        return None
    if t.num_rows != 1:
        raise FrameError(f"{surface}: expected 1 row per window, got {t.num_rows}")
    return t


def to_grid(rel_ticks: np.ndarray, values: np.ndarray, grid: Grid) -> np.ndarray:
    """Level values at ``rel_ticks`` -> the engine grid (linear between levels, 0 outside them)."""
    order = np.argsort(rel_ticks, kind="stable")
    r, v = np.asarray(rel_ticks, np.float64)[order], np.asarray(values, np.float64)[order]
    if r.size == 0:
        return grid.zeros()
    if np.any(np.diff(r) == 0):
        raise FrameError(f"profile has repeated rel_ticks ({r[np.flatnonzero(np.diff(r) == 0)[0]]}); expected one row per level")
    return np.interp(grid.x, r, v, left=0.0, right=0.0)


def _profiles(surfaces: Mapping[str, pa.Table], grid: Grid, issues: list) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}

    def put(name, rel, vals, surface):
        if not np.all(np.isfinite(vals)):
            issues.append(f"{surface}.{name}: non-finite")
            return
        out[name if name not in out else f"{surface}_{name}"] = to_grid(rel, vals, grid)

    for s in ("bucket_radar", "vacuum"):
        t = surfaces.get(s)
        if t is None or t.num_rows == 0 or "rel_ticks" not in t.column_names:
            continue
        rel = _col(t, "rel_ticks")
        for c in _numeric_columns(t):
            put(c, rel, _col(t, c), s)
    w = surfaces.get("wall")
    if w is not None and w.num_rows and {"rel_ticks", "side", "depth_qty_rest"} <= set(w.column_names):
        side = np.asarray(w.column("side").to_pylist())
        rel, depth = _col(w, "rel_ticks"), _col(w, "depth_qty_rest")
        for code, name in (("A", "wall_depth_ask"), ("B", "wall_depth_bid")):
            m = side == code
            put(name, rel[m], np.log1p(np.maximum(depth[m], 0.0)), "wall")
    return out


def _strikes(held: Mapping[str, pa.Table], spot: float, tick: float, issues: list):
    """Held strike surfaces -> (strike_rel_ticks relative to spot, {column: values})."""
    ref_prices = None
    channels: dict[str, np.ndarray] = {}
    for s in OPTION_SURFACES:
        t = held.get(s)
        if t is None or t.num_rows == 0:
            continue
        t = t.sort_by("rel_ticks") if "rel_ticks" in t.column_names else t
        prices = _strike_prices(t, s, tick)
        idx = None
        if ref_prices is None:
            ref_prices = prices
        else:
            pos = {round(p, 6): i for i, p in enumerate(ref_prices)}
            idx = np.array([pos.get(round(p, 6), -1) for p in prices])
        for c in _numeric_columns(t):
            vals = _col(t, c)
            if not np.all(np.isfinite(vals)):
                issues.append(f"{s}.{c}: non-finite")
                continue
            if idx is None:
                channels[c] = vals
            else:  # align onto the reference strike grid; strikes it lacks stay 0
                a = np.zeros(len(ref_prices))
                ok = idx >= 0
                a[idx[ok]] = vals[ok]
                channels[c] = a
    if ref_prices is None:
        return None, {}
    return (ref_prices - spot) / tick, channels


def assemble_frame(futures: Mapping[str, pa.Table], held_options: Mapping[str, pa.Table],
                   cfg: AssembleConfig = AssembleConfig(), issues: list | None = None) -> MarketFrame | None:
    """One futures window + the latest options windows at or before it -> a frame (None if the book is not valid)."""
    issues = [] if issues is None else issues
    snap = _one_row(futures.get("snap"), "snap")
    if snap is None:
        return None
    ts = int(snap.column(TS)[0].as_py())
    if "book_valid" in snap.column_names and not snap.column("book_valid")[0].as_py():
        return None
    spot = float(snap.column("mid_price")[0].as_py())
    if not np.isfinite(spot) or spot <= 0:
        issues.append(f"snap.mid_price={spot!r}")
        return None
    tick = snap_tick(snap, cfg)
    for s, t in held_options.items():
        if t is not None and t.num_rows and int(t.column(TS)[0].as_py()) > ts:
            raise FrameError(f"{s} window {t.column(TS)[0].as_py()} ends after the frame at {ts}: that would be lookahead")

    scalars: dict[str, float] = {}
    phys = _one_row(futures.get("physics"), "physics")
    if phys is not None:
        for c in _numeric_columns(phys):
            v = float(phys.column(c)[0].as_py())
            if np.isfinite(v):
                scalars[c] = v
            else:
                issues.append(f"physics.{c}: non-finite")
        if "push" not in scalars and {"above_score", "below_score"} <= scalars.keys():
            scalars["push"] = scalars["above_score"] - scalars["below_score"]
        if "book_imbalance" in scalars:
            scalars.setdefault("imbalance", scalars["book_imbalance"])
    if {"best_bid_price_int", "best_ask_price_int"} <= set(snap.column_names):
        bid = snap.column("best_bid_price_int")[0].as_py()
        ask = snap.column("best_ask_price_int")[0].as_py()
        if bid and ask:
            scalars["spread_ticks"] = (ask - bid) / PRICE_SCALE / tick
            qi = queue_imbalance(snap.column("best_bid_qty")[0].as_py() if "best_bid_qty" in snap.column_names else None,
                                 snap.column("best_ask_qty")[0].as_py() if "best_ask_qty" in snap.column_names else None)
            if qi is not None:
                scalars["queue_imbalance"] = qi
    opt_ts = [int(t.column(TS)[0].as_py()) for t in held_options.values() if t is not None and t.num_rows]
    if opt_ts:
        scalars["options_age_s"] = (ts - max(opt_ts)) / 1e9

    rel, strikes = _strikes(held_options, spot, tick, issues)
    frame = MarketFrame(ts_ns=ts, spot=spot, tick_size=tick, scalars=scalars,
                        profiles=_profiles(futures, cfg.grid, issues), strike_rel_ticks=rel, strikes=strikes)
    return frame.validate(cfg.grid.size)


def queue_imbalance(bid_qty, ask_qty):
    """(Q_bid − Q_ask) / (Q_bid + Q_ask) at the touch (Gould & Bonart 2016), None when either is missing or both 0."""
    if bid_qty is None or ask_qty is None:
        return None
    b, a = float(bid_qty), float(ask_qty)
    if not (np.isfinite(b) and np.isfinite(a)) or b + a <= 0:
        return None
    return (b - a) / (b + a)


class LatentMidFilter:
    """Where the particle is inside the quoted tick, from the sequence of mids.

    The quoted mid is the latent price quantised to a tick (the touch follows it), so a
    quote that just ticked up has a latent price near the bottom of its new tick and
    tends to tick back: on the synthetic session the 0.5 s mid moves have lag-1
    autocorrelation ≈ −0.2. An EMA of the mid (α = 0.8) estimates the latent price
    without that bounce: regressing future moves on ``EMA − mid`` gives a slope ≈ 1.1 at
    every horizon, i.e. an unbiased position. The quote's last move is therefore not
    the particle's velocity (using it as v0 made the raw rollout worse than a random
    walk). ``EngineConfig(start="latent")`` uses this filter's offset as x0 with v0 = 0;
    the default start is the seed's (x0 = 0 at the mid, v0 = the last tick's motion).
    """

    def __init__(self, alpha: float = 0.8, max_gap_s: float = 2.0):
        if not (0.0 < alpha <= 1.0):
            raise ValueError(f"LatentMidFilter.alpha must be in (0, 1], got {alpha!r}")
        self.alpha, self.max_gap_ns = float(alpha), int(max_gap_s * 1e9)
        self.reset()

    def reset(self) -> None:
        self._level: float | None = None
        self._ts: int | None = None

    def update(self, ts_ns: int, mid: float, tick: float) -> float:
        """Feed one mid; returns the latent offset EMA − mid in ticks (0 after a gap or at the start)."""
        if self._level is None or self._ts is None or ts_ns - self._ts > self.max_gap_ns:
            self._level = mid
        else:
            self._level += self.alpha * (mid - self._level)
        self._ts = int(ts_ns)
        return (self._level - mid) / tick


def with_particle_state(frame: MarketFrame, latent: LatentMidFilter) -> MarketFrame:
    """Add ``latent_offset`` (the filter's x0, read with ``start="latent"``) unless the frame carries it."""
    sc = dict(frame.scalars)
    off = latent.update(frame.ts_ns, frame.spot, frame.tick_size)
    sc.setdefault("latent_offset", off)
    return replace(frame, scalars=sc)


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
        issues: list[str] = []
        frame = assemble_frame(tables, self.held, self.cfg, issues)
        for i in issues:
            self.issues[i] = self.issues.get(i, 0) + 1
        if frame is None:
            self.skipped += 1
        else:
            self.frames += 1
            frame = with_particle_state(frame, self.latent)
        return frame
