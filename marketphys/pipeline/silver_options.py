"""``SilverComputeGexSurface1s``: options MBO + definitions + open interest + futures spot
-> four silver datasets per 1 s window (docs/architecture.md#data-pipeline).

One pass over the options MBO of a day, in time order and bounded memory: the per-order
book (``options_book``) accumulates each window's flows; when a window closes, the
grid's options are priced from their mids and the window's rows are buffered; every
``batch_windows`` windows the buffered rows go through vectorised Black-76 (implied vol,
gamma) and are emitted as one Arrow table per dataset.

Outputs (contracts in ``contracts_options``):
- ``gex_surface_1s``      25 strike rows: GEX (see ``gex`` for units and sign convention)
- ``book_flow_1s``        per (window, instrument, side, price): add/pull/fill quantities
- ``book_wall_1s``        the same keys plus depth_total and pull_rest_qty
- ``gex_flow_surface_1s`` 25 strike rows: flows summed per strike, normalised by gold
- ``gex_chain_1s``        1 row: the GEX total of every option priced and the zero-gamma level

Strike band: options are priced within ``band_half_rows`` $5 strikes of the grid centre
(default 12: the 25 surface rows; ``None``: the whole chain). The two strike surfaces
always keep their 25 rows; a wider band only widens what ``gex_chain_1s`` sums (and the
pool of the window-median IV fallback). The zero-gamma level is the shared
``gex_profile`` math over the priced options, the same as ``chain_gex``.

Windows: every 1 s window from the first record to the last is closed (quiet ones too:
their flows are zero and their GEX follows the spot), except across a gap longer than
``max_gap_windows`` (a session break), which is jumped over.

Spot: every option is priced off the futures spot of the product (``SpotSeries``), the
last futures value at or before the window end. Windows before the first valid spot,
or while the futures book is not valid, have no strike grid: their flows still go to
book_flow/book_wall, but no strike-surface rows are written for them.

Implied-vol fallback (``IvCarry``): an option whose mid cannot be inverted (one-sided
or empty book, price at or below intrinsic, above the no-arbitrage bound) uses the last
implied vol that did invert for that instrument; never inverted yet, it uses the median
implied vol of the options that did invert in the same window; none did, ``DEFAULT_IV``.
Before that, each option takes the IV of the out-of-the-money option at its strike and
expiry (``otm_iv``), so a call and a put at one strike share one vol, as they should.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Iterator

import numba
import numpy as np
import pandas as pd
import pyarrow as pa

from marketphys.dbn import ASK, BID, PRICE_SCALE

from . import black76, gex
from .gex import N_ROWS, REL_TICKS, TICK_INT
from .contracts import REGISTRY, load_all
from .options_book import OrderBooks, columns

load_all()

WINDOW_NS = 1_000_000_000
DEFAULT_IV = 0.20          # ES options typically trade 10-30 % vol
DEFAULT_REST_NS = 500_000_000
INTENSITY_EPS = 1.0        # contracts: keeps pull_rest_intensity finite on an empty strike

GEX_DATASET = "silver.future_option_mbo.gex_surface_1s"
FLOW_DATASET = "silver.future_option_mbo.book_flow_1s"
WALL_DATASET = "silver.future_option_mbo.book_wall_1s"
GEX_FLOW_DATASET = "silver.future_option_mbo.gex_flow_surface_1s"
CHAIN_DATASET = "silver.future_option_mbo.gex_chain_1s"
DATASETS = (GEX_DATASET, FLOW_DATASET, WALL_DATASET, GEX_FLOW_DATASET, CHAIN_DATASET)
PROFILE_RANGE = 0.05       # zero-gamma search: underlying levels within +-5 % of the spot
PROFILE_POINTS = 21        # levels 0.5 % apart: the sign change is bracketed there, then refined


class OptionsInputError(ValueError):
    """Inputs to the options stage are inconsistent; names the input and the value."""


@dataclass
class SpotSeries:
    """Futures spot over time: the stage reads the last value at or before a window end."""

    ts_ns: np.ndarray                 # int64, increasing
    spot_ref_price_int: np.ndarray    # int64, tick aligned (1e-9 units)
    mid_price: np.ndarray             # float64 points (F for Black-76)
    book_valid: np.ndarray            # bool
    max_age_ns: int = 60_000_000_000  # older spot is stale: no grid (e.g. the daily halt)

    def __post_init__(self):
        self.ts_ns = np.asarray(self.ts_ns, np.int64)
        self.spot_ref_price_int = np.asarray(self.spot_ref_price_int, np.int64)
        self.mid_price = np.asarray(self.mid_price, np.float64)
        self.book_valid = np.asarray(self.book_valid, bool)
        n = len(self.ts_ns)
        for name in ("spot_ref_price_int", "mid_price", "book_valid"):
            if len(getattr(self, name)) != n:
                raise OptionsInputError(f"SpotSeries.{name}: length {len(getattr(self, name))} != ts_ns length {n}")
        if n > 1 and (np.diff(self.ts_ns) < 0).any():
            i = int(np.flatnonzero(np.diff(self.ts_ns) < 0)[0])
            raise OptionsInputError(f"SpotSeries.ts_ns must be non-decreasing; ts_ns[{i + 1}]={self.ts_ns[i + 1]} "
                                    f"< ts_ns[{i}]={self.ts_ns[i]}")

    def at(self, t_ns: int) -> tuple[int, float, bool]:
        """(spot_ref_price_int, mid, valid) at ``t_ns``; invalid before the first value."""
        i = int(np.searchsorted(self.ts_ns, t_ns, side="right")) - 1
        if i < 0 or t_ns - int(self.ts_ns[i]) > self.max_age_ns:
            return 0, float("nan"), False
        ref = int(self.spot_ref_price_int[i])
        mid = float(self.mid_price[i])
        return ref, mid, bool(self.book_valid[i]) and ref > 0 and np.isfinite(mid) and mid > 0

    @classmethod
    def from_table(cls, table: pa.Table | pd.DataFrame) -> "SpotSeries":
        """From a futures ``snap`` table (window_end_ts_ns, spot_ref_price_int, mid_price, book_valid)."""
        df = table.to_pandas() if isinstance(table, pa.Table) else table
        need = ["window_end_ts_ns", "spot_ref_price_int", "mid_price", "book_valid"]
        miss = [c for c in need if c not in df.columns]
        if miss:
            raise OptionsInputError(f"spot table lacks columns {miss}; it needs {need}")
        df = df.sort_values("window_end_ts_ns", kind="stable")
        return cls(df["window_end_ts_ns"].to_numpy(), df["spot_ref_price_int"].to_numpy(),
                   df["mid_price"].to_numpy(float), df["book_valid"].to_numpy(bool))


def spot_from_futures_mbo(chunks: Iterable[np.ndarray], instrument_id: int | None = None,
                          window_ns: int = WINDOW_NS) -> SpotSeries:
    """A 1 s spot series from futures MBO (mid of the reconstructed BBO).

    A stand-in for the futures ``snap`` surface when only DBN files are at hand (tests,
    ad-hoc runs); ``instrument_id`` None takes the most active instrument of the first chunk.
    """
    books = OrderBooks(rest_ns=0)
    ts_out, ref_out, mid_out, ok_out = [], [], [], []
    inst = instrument_id
    end = None
    for recs in chunks:
        if len(recs) == 0:
            continue
        if inst is None:
            ids, cnt = np.unique(recs["instrument_id"], return_counts=True)
            inst = int(ids[np.argmax(cnt)])
        cols = columns(recs)
        if end is None:
            end = (int(cols["ts"][0]) // window_ns + 1) * window_ns
        i = 0
        while i < len(recs):
            i = books.apply_arrays(cols, i, end)
            if i < len(recs):
                _spot_row(books, inst, end, ts_out, ref_out, mid_out, ok_out)
                books.clear_flows()
                end += window_ns * max(1, (int(cols["ts"][i]) - end) // window_ns + 1)
    if end is not None:
        _spot_row(books, inst, end, ts_out, ref_out, mid_out, ok_out)
    return SpotSeries(np.array(ts_out, np.int64), np.array(ref_out, np.int64), np.array(mid_out), np.array(ok_out, bool))


def _spot_row(books, inst, end, ts_out, ref_out, mid_out, ok_out):
    bid, ask, _ = books.top(np.array([inst]))
    ok = bid[0] > 0 and ask[0] > 0 and ask[0] > bid[0]
    mid_int = (int(bid[0]) + int(ask[0])) / 2 if ok else 0
    ts_out.append(end)
    ref_out.append(int(round(mid_int / TICK_INT)) * TICK_INT if ok else 0)
    mid_out.append(mid_int / PRICE_SCALE if ok else np.nan)
    ok_out.append(bool(ok))


@dataclass
class OptionChain:
    """Option definitions as arrays sorted by strike (what the stage joins flows and OI to)."""

    instrument_id: np.ndarray
    strike_int: np.ndarray
    is_call: np.ndarray
    expiration_ns: np.ndarray
    multiplier: np.ndarray
    _ids_sorted: np.ndarray = field(default=None, repr=False)
    _ids_order: np.ndarray = field(default=None, repr=False)

    @classmethod
    def from_definitions(cls, defs: pd.DataFrame, default_multiplier: float | None = None) -> "OptionChain":
        """The chain of the definitions. The multiplier is the definition's (``unit_of_measure_qty``);
        ``default_multiplier`` (the user's ``--multiplier``) fills in where a definition has none, and
        without it such a definition is an error: no product's multiplier is assumed."""
        need = ["instrument_id", "strike_price_int", "is_call", "expiration_ns"]
        miss = [c for c in need if c not in defs.columns]
        if miss:
            raise OptionsInputError(f"definitions lack columns {miss}")
        if len(defs) == 0:
            raise OptionsInputError("definitions: no options (instrument_class 'C' or 'P') found")
        bad = defs["strike_price_int"] <= 0
        if bad.any():
            r = defs[bad].iloc[0]
            raise OptionsInputError(f"definitions: strike_price_int must be > 0, got {r['strike_price_int']} "
                                    f"for instrument_id {r['instrument_id']}")
        df = defs.sort_values(["strike_price_int", "instrument_id"], kind="stable")
        mult = df["multiplier"].to_numpy(float) if "multiplier" in df else np.full(len(df), np.nan)
        missing = ~(np.isfinite(mult) & (mult > 0))
        if missing.any():
            if default_multiplier is None or not (np.isfinite(default_multiplier) and default_multiplier > 0):
                iid = int(df["instrument_id"].to_numpy()[np.flatnonzero(missing)[0]])
                raise OptionsInputError(f"definitions: no multiplier (unit_of_measure_qty) for instrument_id {iid}; "
                                        f"give it with --multiplier (e.g. 50 for ES options), got "
                                        f"default_multiplier={default_multiplier!r}")
            mult = np.where(missing, float(default_multiplier), mult)
        chain = cls(df["instrument_id"].to_numpy(np.int64), df["strike_price_int"].to_numpy(np.int64),
                    df["is_call"].to_numpy(bool), df["expiration_ns"].to_numpy(np.int64), mult)
        if len(np.unique(chain.instrument_id)) != len(chain.instrument_id):
            raise OptionsInputError("definitions: instrument_id repeated after de-duplication")
        chain._ids_order = np.argsort(chain.instrument_id, kind="stable")
        chain._ids_sorted = chain.instrument_id[chain._ids_order]
        return chain

    def __len__(self):
        return len(self.instrument_id)

    def positions(self, instrument_ids: np.ndarray) -> np.ndarray:
        """Row in the chain of each instrument id, -1 for ids that are not options of the chain."""
        ids = np.asarray(instrument_ids, np.int64)
        if not len(ids) or not len(self._ids_sorted):
            return np.full(len(ids), -1, np.int64)
        j = np.minimum(np.searchsorted(self._ids_sorted, ids), len(self._ids_sorted) - 1)
        return np.where(self._ids_sorted[j] == ids, self._ids_order[j], -1)

    def on_grid(self, centre_int: int, half_rows: int | None = gex.HALF_ROWS) -> np.ndarray:
        """Chain rows whose strike lies within ``half_rows`` $5 strikes of ``centre_int`` (the
        25-row grid by default; ``None``: every row)."""
        if half_rows is None:
            return np.arange(len(self.strike_int))
        lo = np.searchsorted(self.strike_int, centre_int - half_rows * gex.STRIKE_INT, side="left")
        hi = np.searchsorted(self.strike_int, centre_int + half_rows * gex.STRIKE_INT, side="right")
        return np.arange(lo, hi)


class OpenInterest:
    """Open interest per chain row as of a time: statistics applied in time order."""

    def __init__(self, chain: OptionChain, stats: pd.DataFrame):
        need = ["ts_recv", "instrument_id", "open_interest"]
        miss = [c for c in need if c not in stats.columns]
        if miss:
            raise OptionsInputError(f"open-interest table lacks columns {miss}")
        if (stats["open_interest"] < 0).any():
            r = stats[stats["open_interest"] < 0].iloc[0]
            raise OptionsInputError(f"open_interest must be >= 0, got {r['open_interest']} "
                                    f"for instrument_id {r['instrument_id']}")
        s = stats.sort_values("ts_recv", kind="stable")
        pos = chain.positions(s["instrument_id"].to_numpy())
        keep = pos >= 0
        self._ts = s["ts_recv"].to_numpy(np.int64)[keep]
        self._pos = pos[keep]
        self._qty = s["open_interest"].to_numpy(np.int64)[keep]
        self._next = 0
        self.value = np.zeros(len(chain), np.int64)

    def advance(self, t_ns: int) -> np.ndarray:
        """Apply every update with ts_recv <= t_ns; return OI per chain row."""
        j = int(np.searchsorted(self._ts, t_ns, side="right"))
        if j > self._next:
            self.value[self._pos[self._next:j]] = self._qty[self._next:j]
            self._next = j
        return self.value


class IvCarry:
    """Implied-vol fallback state: the last good IV per chain row (see module docstring)."""

    def __init__(self, n: int, default_iv: float = DEFAULT_IV):
        if not (0 < default_iv < black76.IV_HI):
            raise OptionsInputError(f"default_iv must be in (0, {black76.IV_HI}), got {default_iv}")
        self.last = np.full(n, np.nan)
        self.default_iv = default_iv
        self.counts = {"inverted": 0, "carried": 0, "window_median": 0, "default": 0}

    def fill(self, win: np.ndarray, pos: np.ndarray, iv: np.ndarray) -> np.ndarray:
        """Rows in window order; NaN where inversion failed. Returns IV with every NaN filled."""
        good = np.isfinite(iv)
        self.counts["inverted"] += int(good.sum())
        df = pd.DataFrame({"win": win, "pos": pos, "iv": iv})
        carried = df.groupby("pos", sort=False)["iv"].ffill().to_numpy(dtype=float, copy=True)
        need = ~np.isfinite(carried)
        carried[need] = self.last[pos[need]]
        self.counts["carried"] += int((np.isfinite(carried) & ~good).sum())
        need = ~np.isfinite(carried)
        if need.any():
            med = df[good].groupby("win")["iv"].median()
            m = pd.Series(win[need]).map(med).to_numpy(float)
            self.counts["window_median"] += int(np.isfinite(m).sum())
            self.counts["default"] += int((~np.isfinite(m)).sum())
            carried[need] = np.where(np.isfinite(m), m, self.default_iv)
        last_good = df[good].groupby("pos")["iv"].last()
        self.last[last_good.index.to_numpy()] = last_good.to_numpy()
        return carried


def otm_iv(win, strike, expiry, is_call, strike_above_spot, iv) -> np.ndarray:
    """Each option gets the implied vol of the out-of-the-money option of its (window, strike,
    expiry) when that one inverted: its quote carries the time value, while an in-the-money
    quote is mostly intrinsic value and its tick rounding swamps the vol. Otherwise its own.
    """
    otm = is_call == strike_above_spot
    key = pd.MultiIndex.from_arrays([win, strike, expiry])
    src = pd.Series(iv[otm], index=key[otm])
    src = src[np.isfinite(src.to_numpy())]
    src = src[~src.index.duplicated()]
    got = src.reindex(key).to_numpy(dtype=float)
    return np.where(np.isfinite(got), got, iv)


@numba.njit(cache=True)
def _window_order(key, price, starts):
    """Row order that sorts each segment ``starts[s]:starts[s+1]`` by (key, price), segments kept in
    place. One int64 sort key per segment when its key and price spans allow (the pairs are unique
    in a window: one flow per book level), else two stable sorts."""
    out = np.empty(key.size, np.int64)
    for s in range(starts.size - 1):
        a, b = starts[s], starts[s + 1]
        if b - a == 0:
            continue
        kmin, kmax, pmin, pmax = key[a], key[a], price[a], price[a]
        for i in range(a, b):
            kmin = min(kmin, key[i])
            kmax = max(kmax, key[i])
            pmin = min(pmin, price[i])
            pmax = max(pmax, price[i])
        pr = pmax - pmin + 1
        if 0 < pr < (1 << 62) and kmax - kmin < (1 << 62) // pr:
            out[a:b] = np.argsort((key[a:b] - kmin) * pr + (price[a:b] - pmin), kind="mergesort") + a
        else:
            p = np.argsort(price[a:b], kind="mergesort")
            q = np.argsort(key[a:b][p], kind="mergesort")
            out[a:b] = p[q] + a
    return out


@dataclass
class _Batch:
    """Rows buffered between vectorised pricing passes (bounded by batch_windows)."""

    win_end: list = field(default_factory=list)
    seq: list = field(default_factory=list)
    centre: list = field(default_factory=list)
    spot_ref: list = field(default_factory=list)
    F: list = field(default_factory=list)
    opt_win: list = field(default_factory=list)     # per option row: window position in the batch
    opt_pos: list = field(default_factory=list)
    opt_bid: list = field(default_factory=list)
    opt_ask: list = field(default_factory=list)
    opt_depth: list = field(default_factory=list)
    opt_oi: list = field(default_factory=list)
    flows: list = field(default_factory=list)       # per window (incl. windows without a grid)

    def __len__(self):
        return len(self.flows)


class SilverComputeGexSurface1s:
    """The options silver stage; feed it MBO chunks in time order, collect tables per batch."""

    def __init__(self, chain: OptionChain, open_interest: OpenInterest, spot: SpotSeries, *,
                 rest_ns: int = DEFAULT_REST_NS, window_ns: int = WINDOW_NS, rate: float = 0.0,
                 default_iv: float = DEFAULT_IV, calibration=None, batch_windows: int = 600,
                 max_gap_windows: int = 300, band_half_rows: int | None = gex.HALF_ROWS,
                 profile_range: float = PROFILE_RANGE, profile_points: int = PROFILE_POINTS):
        if band_half_rows is not None and int(band_half_rows) < gex.HALF_ROWS:
            raise OptionsInputError(f"band_half_rows must be >= {gex.HALF_ROWS} (the 25-row surface) or None, "
                                    f"got {band_half_rows}")
        if not (0 < profile_range < 1) or int(profile_points) < 3:
            raise OptionsInputError(f"profile_range in (0, 1) and profile_points >= 3, got {profile_range}, "
                                    f"{profile_points}")
        self.band_half_rows = None if band_half_rows is None else int(band_half_rows)
        self.profile_scales = np.linspace(1 - profile_range, 1 + profile_range, int(profile_points))
        if window_ns <= 0:
            raise OptionsInputError(f"window_ns must be > 0, got {window_ns}")
        if batch_windows <= 0:
            raise OptionsInputError(f"batch_windows must be > 0, got {batch_windows}")
        self.chain, self.oi, self.spot = chain, open_interest, spot
        self.window_ns, self.rate, self.batch_windows = int(window_ns), float(rate), int(batch_windows)
        self.max_gap_windows = int(max_gap_windows)
        self.books = OrderBooks(rest_ns=rest_ns)
        self.iv = IvCarry(len(chain), default_iv)
        self.calibration = calibration
        self._d = {k: gex.StrikeDerivatives() for k in ("gex_abs", "gex", "gex_imbalance_ratio")}
        self._seq = 0
        self._end: int | None = None
        self._last_ts = None
        self._batch = _Batch()
        self.windows = 0
        self.grid_windows = 0
        self.messages = 0
        self.greeks = 0

    # ---- streaming -------------------------------------------------------------------
    def process(self, recs: np.ndarray) -> Iterator[dict[str, pa.Table]]:
        """Apply one chunk of MBO records; yield {dataset: table} whenever a batch is complete."""
        if len(recs) == 0:
            return
        cols = columns(recs)
        ts = cols["ts"]
        if self._last_ts is not None and ts[0] < self._last_ts or (len(ts) > 1 and (np.diff(ts) < 0).any()):
            bad = int(np.flatnonzero(np.diff(np.concatenate([[self._last_ts or ts[0]], ts])) < 0)[0])
            raise OptionsInputError(f"options MBO must be sorted by ts_recv; record {bad} of the chunk goes back in time")
        self._last_ts = int(ts[-1])
        self.messages += len(recs)
        if self._end is None:
            self._end = (int(ts[0]) // self.window_ns + 1) * self.window_ns
        i = 0
        while i < len(recs):
            i = self.books.apply_arrays(cols, i, self._end)
            if i < len(recs):
                self._close_window()
                if len(self._batch) >= self.batch_windows:
                    yield self._emit()
                W = self.window_ns                                   # quiet windows before the next record's
                gap = ((int(ts[i]) // W + 1) * W - self._end) // W   # own window
                if gap > self.max_gap_windows:                       # a session break: jump over it
                    self._end += gap * self.window_ns
                    self._seq += 1
                else:
                    for _ in range(gap):
                        self._close_window()
                        if len(self._batch) >= self.batch_windows:
                            yield self._emit()

    def finish(self) -> Iterator[dict[str, pa.Table]]:
        """Close the last window and emit what is buffered."""
        if self._end is not None:
            self._close_window()
            self._end = None
        if len(self._batch):
            yield self._emit()

    def run(self, chunks: Iterable[np.ndarray]) -> Iterator[dict[str, pa.Table]]:
        for recs in chunks:
            yield from self.process(recs)
        yield from self.finish()

    # ---- per window ------------------------------------------------------------------
    def _close_window(self):
        end = self._end
        b = self._batch
        flows = self.books.flush()
        flows["window_end_ts_ns"] = end
        b.flows.append(flows)
        self.windows += 1
        self._end = end + self.window_ns
        ref, mid, valid = self.spot.at(end)
        if not valid:
            self._seq += 1       # breaks derivative continuity
            b.win_end.append(end), b.seq.append(-1), b.centre.append(0), b.spot_ref.append(0), b.F.append(np.nan)
            return
        centre = int(gex.snap_to_strike_grid(ref))
        rows = self.chain.on_grid(centre, self.band_half_rows)
        rows = rows[self.chain.expiration_ns[rows] > end]
        bid, ask, depth = self.books.top(self.chain.instrument_id[rows])
        oi = self.oi.advance(end)[rows]
        w = len(b.win_end)
        b.win_end.append(end), b.seq.append(self._seq), b.centre.append(centre), b.spot_ref.append(ref), b.F.append(mid)
        b.opt_win.append(np.full(len(rows), w)), b.opt_pos.append(rows), b.opt_bid.append(bid)
        b.opt_ask.append(ask), b.opt_depth.append(depth), b.opt_oi.append(oi)
        self._seq += 1
        self.grid_windows += 1

    # ---- per batch -------------------------------------------------------------------
    def _emit(self) -> dict[str, pa.Table]:
        b, self._batch = self._batch, _Batch()
        flow_tab, wall_tab = self._book_tables(b)
        out = {FLOW_DATASET: flow_tab, WALL_DATASET: wall_tab}
        out.update(self._strike_tables(b))
        return {k: REGISTRY[k].validate(t) for k, t in out.items()}

    def _book_tables(self, b: _Batch):
        keys = ("instrument_id", "side", "price_int", "add_qty", "pull_qty", "fill_qty", "pull_rest_qty", "depth_total")
        parts = {k: [] for k in keys}
        ends = []
        for f in b.flows:
            n = len(f["add_qty"])
            ends.append(np.full(n, f["window_end_ts_ns"], np.int64))
            for k in keys:
                parts[k].append(f[k])
        cat = {k: np.concatenate(v) if v else np.zeros(0, np.int64) for k, v in parts.items()}
        end = np.concatenate(ends) if ends else np.zeros(0, np.int64)
        # windows arrive in time order, so sorting each window by (instrument, side, price) is the
        # lexsort by (window, instrument, side, price); side 'A' < 'B' is the book key's low bit
        starts = np.concatenate([[0], np.cumsum([len(e) for e in ends], dtype=np.int64)]).astype(np.int64)
        if len(end) > 1 and (np.diff(end) < 0).any():
            order = np.lexsort((cat["price_int"], cat["side"], cat["instrument_id"], end))
        else:
            order = _window_order(cat["instrument_id"] * 2 + (cat["side"] == BID), cat["price_int"], starts)
        side_b = np.where(cat["side"][order] == BID, np.uint8(BID), np.uint8(ASK))
        side = pa.StringArray.from_buffers(len(order), pa.py_buffer(np.arange(len(order) + 1, dtype=np.int32)),
                                           pa.py_buffer(side_b))       # one byte per row: no Python strings
        base = {"window_end_ts_ns": pa.array(end[order], pa.int64()),
                "instrument_id": pa.array(cat["instrument_id"][order].astype(np.uint32), pa.uint32()),
                "side": side,
                "price_int": pa.array(cat["price_int"][order], pa.int64())}
        q = {k: pa.array(cat[k][order], pa.int64()) for k in keys[3:]}
        flow = pa.table({**base, "add_qty": q["add_qty"], "pull_qty": q["pull_qty"], "fill_qty": q["fill_qty"]})
        wall = pa.table({**base, "add_qty": q["add_qty"], "pull_qty": q["pull_qty"], "fill_qty": q["fill_qty"],
                         "depth_total": q["depth_total"], "pull_rest_qty": q["pull_rest_qty"]})
        return flow, wall

    def _strike_tables(self, b: _Batch) -> dict[str, pa.Table]:
        seq = np.array(b.seq)
        gw = np.flatnonzero(seq >= 0)                   # windows of the batch that have a grid
        nw = len(gw)
        remap = np.full(len(seq), -1)
        remap[gw] = np.arange(nw)
        win_end = np.array(b.win_end, np.int64)[gw]
        centre = np.array(b.centre, np.int64)[gw]
        spot_ref = np.array(b.spot_ref, np.int64)[gw]
        Fw = np.array(b.F, float)[gw]
        cat = (lambda xs, dt: np.concatenate(xs).astype(dt) if xs else np.zeros(0, dt))
        ow = remap[cat(b.opt_win, np.int64)]
        pos = cat(b.opt_pos, np.int64)
        bid, ask = cat(b.opt_bid, np.int64), cat(b.opt_ask, np.int64)
        depth, oi = cat(b.opt_depth, np.int64), cat(b.opt_oi, np.int64)
        c = self.chain
        K = c.strike_int[pos] / PRICE_SCALE
        is_call = c.is_call[pos]
        F = Fw[ow]
        T = black76.years_to_expiry(c.expiration_ns[pos], win_end[ow])
        two_sided = (bid > 0) & (ask > 0) & (ask >= bid)
        mid = np.where(two_sided, (bid + ask) / 2e9, np.nan)
        iv_raw, _ = black76.implied_vol(mid, F, K, T, is_call, self.rate)
        share = (ow, c.strike_int[pos], c.expiration_ns[pos], is_call, K >= F)
        iv = otm_iv(*share, self.iv.fill(ow, pos, otm_iv(*share, iv_raw)))   # fallbacks shared at a strike too
        g = black76.gamma(F, K, T, iv, self.rate)
        self.greeks += len(pos)
        ogex = gex.option_gex(g, oi, c.multiplier[pos], F, is_call)
        row = gex.grid_row(c.strike_int[pos], centre[ow])
        call_abs = gex.aggregate(ow, row, np.where(is_call, ogex, 0.0), nw)
        put_abs = gex.aggregate(ow, row, np.where(is_call, 0.0, -ogex), nw)
        depth_s = gex.aggregate(ow, row, depth, nw)
        gex_abs = call_abs + put_abs
        gex_net = call_abs - put_abs
        ratio = gex.imbalance_ratio(call_abs, put_abs)
        strikes = centre[:, None] + (REL_TICKS[None, :].astype(np.int64) * TICK_INT)
        derivs = {k: self._d[k].steps(seq[gw], strikes, v)
                  for k, v in (("gex_abs", gex_abs), ("gex", gex_net), ("gex_imbalance_ratio", ratio))}

        # flows per strike
        fl = [b.flows[i] for i in gw]
        f_win = np.concatenate([np.full(len(f["add_qty"]), j) for j, f in enumerate(fl)]) if fl else np.zeros(0, int)
        f_cat = {k: (np.concatenate([f[k] for f in fl]) if fl else np.zeros(0, np.int64))
                 for k in ("instrument_id", "add_qty", "pull_qty", "fill_qty", "pull_rest_qty")}
        f_pos = c.positions(f_cat["instrument_id"])
        known = f_pos >= 0
        f_row = np.where(known, gex.grid_row(np.where(known, c.strike_int[f_pos], 0), centre[f_win] if len(f_win) else 0), -1)
        sums = {k: gex.aggregate(f_win, f_row, f_cat[k], nw) for k in ("add_qty", "pull_qty", "fill_qty", "pull_rest_qty")}

        n = nw * N_ROWS
        rep = (lambda a: np.repeat(a, N_ROWS))
        common = {
            "window_end_ts_ns": pa.array(rep(win_end), pa.int64()),
            "strike_price_int": pa.array(strikes.ravel(), pa.int64()),
            "strike_points": pa.array(strikes.ravel() / PRICE_SCALE, pa.float64()),
            "underlying_spot_ref": pa.array(rep(spot_ref) / PRICE_SCALE, pa.float64()),
            "spot_ref_price_int": pa.array(rep(centre), pa.int64()),
            "rel_ticks": pa.array(np.tile(REL_TICKS, nw), pa.int32()),
        }
        gex_cols = {"gex": gex_net, "gex_abs": gex_abs, "gex_call_abs": call_abs, "gex_put_abs": put_abs,
                    "gex_imbalance_ratio": ratio}
        gtab = dict(common)
        for k, v in gex_cols.items():
            gtab[k] = pa.array(v.ravel(), pa.float64())
        for k in ("gex_abs", "gex", "gex_imbalance_ratio"):
            for d in range(3):
                gtab[f"d{d + 1}_{k}"] = pa.array(derivs[k][:, :, d].ravel(), pa.float64())
        add, pull, fill, prest = (sums[k].ravel() for k in ("add_qty", "pull_qty", "fill_qty", "pull_rest_qty"))
        ftab = dict(common)
        ftab.update({
            "add_qty_sum": pa.array(add, pa.float64()), "pull_qty_sum": pa.array(pull, pa.float64()),
            "fill_qty_sum": pa.array(fill, pa.float64()),
            "flow_reinforce": pa.array(add - pull - fill, pa.float64()),
            "flow_abs": pa.array(add + pull + fill, pa.float64()),
            "pull_rest_qty_sum": pa.array(prest, pa.float64()),
            "depth_total_sum": pa.array(depth_s.ravel(), pa.float64()),
            "pull_rest_intensity": pa.array(prest / (depth_s.ravel() + INTENSITY_EPS), pa.float64()),
        })
        from .gold import apply_norms          # local: gold imports this module's names

        flow_table = apply_norms(pa.table(ftab), self.calibration)
        assert flow_table.num_rows == n
        chain_tab = self._chain_table(nw, win_end, spot_ref, centre, Fw, ow, F, K, T, iv, oi, c.multiplier[pos],
                                      is_call, ogex)
        return {GEX_DATASET: pa.table(gtab), GEX_FLOW_DATASET: flow_table, CHAIN_DATASET: chain_tab}

    def _chain_table(self, nw, win_end, spot_ref, centre, Fw, ow, F, K, T, iv, oi, mult, is_call, ogex) -> pa.Table:
        """One row per grid window: totals over the priced band and the zero-gamma level."""
        from . import gex_profile as chain_profile

        cnt = (lambda v: np.bincount(ow, weights=v, minlength=nw) if len(ow) else np.zeros(nw))
        call_abs, put_abs = cnt(np.where(is_call, np.abs(ogex), 0.0)), cnt(np.where(is_call, 0.0, np.abs(ogex)))
        live = oi > 0
        w = np.where(is_call, 1.0, -1.0) * oi * mult * 0.01
        args = (F[live], K[live], T[live], iv[live], w[live], self.rate)
        prof = chain_profile.profile(ow[live], nw, self.profile_scales, *args)
        root = chain_profile.zero_gamma(ow[live], nw, self.profile_scales, prof, *args)
        found = np.isfinite(root)
        half = 0.0 if self.band_half_rows is None else self.band_half_rows * gex.STRIKE_INT / PRICE_SCALE   # 0: all
        return pa.table({
            "window_end_ts_ns": pa.array(win_end, pa.int64()),
            "underlying_spot_ref": pa.array(spot_ref / PRICE_SCALE, pa.float64()),
            "spot_ref_price_int": pa.array(centre, pa.int64()),
            "gex_total": pa.array(cnt(ogex), pa.float64()), "gex_abs_total": pa.array(call_abs + put_abs, pa.float64()),
            "gex_call_abs_total": pa.array(call_abs, pa.float64()), "gex_put_abs_total": pa.array(put_abs, pa.float64()),
            "zero_gamma_points": pa.array(np.where(found, root * Fw, 0.0), pa.float64()),
            "zero_gamma_found": pa.array(found, pa.bool_()),
            "band_half_width_points": pa.array(np.full(nw, half), pa.float64()),
            "options_priced": pa.array(np.bincount(ow, minlength=nw).astype(np.int64), pa.int64()),
        })
