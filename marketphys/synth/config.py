"""Settings of a synthetic ES session, validated at the boundary.

Everything that shapes the generated market lives here (no hidden constants in the
generators), so the ground truth written beside the DBN files can record it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass

import numpy as np

from marketphys.dbn import PRICE_SCALE  # noqa: F401  (re-exported)

TICK = 0.25
"""ES tick in index points."""
TICK_INT = 250_000_000
"""ES tick in Databento fixed point (1e-9)."""
MULTIPLIER = 50
STRIKE_STEP = 5.0
"""ES options strike grid ($5 = 20 ticks)."""
WINDOW_NS = 500_000_000
"""The engine's Δt: one window is 0.5 s."""
RTH_MINUTES = 390
"""A regular trading session, 13:30-20:00 UTC in summer (09:30-16:00 New York)."""


class SynthError(ValueError):
    """A synthetic-market setting is out of range; names the field and the value."""


@dataclass(frozen=True)
class SynthConfig:
    """One synthetic session.

    ``theta`` is the ground-truth force weights (wU, wC, wG, wO, b) of the medium that
    drives the latent mid; the generator integrates exactly the engine's dynamics with it.
    """

    minutes: float = 10.0
    seed: int = 0
    date: str = "2024-05-09"
    start_utc: str = "13:30:00"
    open_price: float = 5212.50
    theta: tuple[float, ...] = (1.0, 1.2, 1.5, 2.0, 0.0)
    diffusion: float = 0.2            # D, ticks²/s
    viscosity: float = 1.0            # Γ0, 1/s, away from vacuums
    ofi_gain: float = 0.3             # C = ofi_gain · ofi  (ticks/s)
    ofi_tau_s: float = 30.0           # OFI memory
    substeps: int = 8
    n_walls: int = 4
    wall_width_ticks: float = 4.0
    wall_peak: tuple[float, float] = (4.0, 8.0)
    n_vacuums: int = 3
    vacuum_width_ticks: float = 3.0
    vacuum_depth: tuple[float, float] = (1.0, 3.0)
    n_strikes_each_side: int = 30
    futures_event_rate: float = 90.0  # background MBO events per second on the future
    book_levels: int = 10             # price levels kept populated per side
    option_rate_scale: float = 1.0    # scales all options flow
    rate: float = 0.05                # Black-76 discount rate
    walls_enabled: bool = True

    def __post_init__(self) -> None:
        def bad(name, why):
            raise SynthError(f"SynthConfig.{name} {why}, got {name}={getattr(self, name)!r}")

        if not np.isfinite(self.minutes) or self.minutes <= 0 or self.minutes > 24 * 60:
            bad("minutes", "must be in (0, 1440]")
        if self.n_windows < 8:
            bad("minutes", "is too short: need at least 4 s (8 windows)")
        if not isinstance(self.seed, (int, np.integer)) or not (0 <= int(self.seed) < 2**63):
            bad("seed", "must be an integer in [0, 2**63)")
        try:
            dt.date.fromisoformat(self.date)
        except (TypeError, ValueError):
            bad("date", "must be YYYY-MM-DD")
        try:
            dt.time.fromisoformat(self.start_utc)
        except (TypeError, ValueError):
            bad("start_utc", "must be HH:MM:SS")
        if not np.isfinite(self.open_price) or self.open_price < 500 or round(self.open_price / TICK) * TICK != self.open_price:
            bad("open_price", "must be a tick-aligned (0.25) price >= 500")
        if len(self.theta) != 5 or not all(np.isfinite(self.theta)):
            bad("theta", "must be 5 finite weights (wU, wC, wG, wO, b)")
        if self.theta[2] < 0:
            bad("theta", "must have wG >= 0 (no negative viscosity)")
        for name in ("diffusion", "viscosity", "ofi_gain", "ofi_tau_s", "wall_width_ticks", "vacuum_width_ticks",
                     "futures_event_rate", "option_rate_scale"):
            v = getattr(self, name)
            if not np.isfinite(v) or v < 0 or (v == 0 and name in ("ofi_tau_s", "wall_width_ticks", "vacuum_width_ticks")):
                bad(name, "must be finite and >= 0 (> 0 for widths and time constants)")
        for name in ("n_walls", "n_vacuums", "n_strikes_each_side", "book_levels", "substeps"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or v < 0:
                bad(name, "must be a non-negative integer")
        if self.n_strikes_each_side < 30:
            bad("n_strikes_each_side", "must be >= 30 (the options surface needs ±30 strikes)")
        if not (1 <= self.book_levels <= 50):
            bad("book_levels", "must be in [1, 50]")
        if self.substeps < 1:
            bad("substeps", "must be >= 1")
        if self.n_walls > 2 * self.n_strikes_each_side:
            bad("n_walls", "must not exceed the number of strikes")

    # -- derived ---------------------------------------------------------------------
    @property
    def n_windows(self) -> int:
        return int(round(self.minutes * 60 * 1e9 / WINDOW_NS))

    @property
    def start_ns(self) -> int:
        d = dt.datetime.fromisoformat(f"{self.date}T{self.start_utc}+00:00")
        return int(d.timestamp()) * 1_000_000_000

    @property
    def end_ns(self) -> int:
        return self.start_ns + self.n_windows * WINDOW_NS

    @property
    def date_compact(self) -> str:
        return self.date.replace("-", "")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["theta"] = list(self.theta)
        d["wall_peak"] = list(self.wall_peak)
        d["vacuum_depth"] = list(self.vacuum_depth)
        return d
