"""The ground-truth medium of a synthetic session: walls, vacuums and order-flow drift.

Everything is expressed at absolute prices (in ticks) so that, at any window, the
engine's canonical fields can be sampled on its spot-centred grid exactly as the
engine would see them (:func:`fields_on_grid`). The schedules are functions of the
session fraction, so a 10-minute sample and a 6.5-hour session go through the same
thicken/erode cycles.

Field definitions (the weights θ multiply these, as in ``core.integrator``):

* O(p) = Σ_k S_k(t)·exp(-½((p - c_k)/σ_w)²)            gamma walls at high-OI strikes
* U(p) = -Σ_j A_j(t)·exp(-½((p - v_j)/σ_v)²)            vacuums are potential wells
* Γ(p) = Γ0·max(1 - 0.6·Σ_j A_j(t)·g_j(p)/A_max, 0.2)     and low-viscosity lanes
* C(p) = ofi_gain·ofi(t)                                  order-flow drift (uniform)
* D(p) = D0                                               diffusion
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numba as nb

from marketphys.core.fields import Fields
from marketphys.core.grid import Grid
from marketphys.core.rng import normal
from marketphys.core.walls import obstacle_field
from marketphys.synth.config import STRIKE_STEP, TICK, SynthConfig

VACUUM_VISCOSITY_CUT = 0.6
VISCOSITY_FLOOR = 0.2
WALL_BASE_STRENGTH = 0.3
OFI_LANE = 1
"""Philox lane of the OFI innovations (the path noise uses lane 0, like the integrator)."""


def trapezoid(frac: np.ndarray, on: float, rise: float, hold: float, fall: float) -> np.ndarray:
    """0 before ``on``, linear up over ``rise``, 1 for ``hold``, linear down over ``fall``, then 0."""
    f = np.asarray(frac, dtype=np.float64)
    up = np.clip((f - on) / rise, 0.0, 1.0)
    down = np.clip(1.0 - (f - on - rise - hold) / fall, 0.0, 1.0)
    return np.minimum(up, down)


@dataclass(frozen=True)
class WallSpec:
    strike: float      # price
    peak: float        # S at the top of the schedule
    on: float
    rise: float
    hold: float
    fall: float

    def strength(self, frac: np.ndarray) -> np.ndarray:
        return WALL_BASE_STRENGTH + (self.peak - WALL_BASE_STRENGTH) * trapezoid(frac, self.on, self.rise, self.hold, self.fall)

    def phase(self, frac: np.ndarray) -> np.ndarray:
        """+1 while thickening, -1 while eroding, 0 otherwise."""
        f = np.asarray(frac, dtype=np.float64)
        up = (f >= self.on) & (f < self.on + self.rise)
        t_fall = self.on + self.rise + self.hold
        down = (f >= t_fall) & (f < t_fall + self.fall)
        return up.astype(np.int8) - down.astype(np.int8)


@dataclass(frozen=True)
class VacuumSpec:
    level: float       # price
    depth: float
    on: float
    rise: float
    hold: float
    fall: float

    def amplitude(self, frac: np.ndarray) -> np.ndarray:
        return self.depth * trapezoid(frac, self.on, self.rise, self.hold, self.fall)


def strike_grid(cfg: SynthConfig) -> np.ndarray:
    """Strikes every $5 around the open: K0 ± n·5 (K0 = the open snapped to the grid)."""
    k0 = round(cfg.open_price / STRIKE_STEP) * STRIKE_STEP
    j = np.arange(-cfg.n_strikes_each_side, cfg.n_strikes_each_side + 1)
    return k0 + STRIKE_STEP * j


def draw_walls(cfg: SynthConfig, rng: np.random.Generator) -> list[WallSpec]:
    """Walls at the strikes bracketing the open, then at round (25-point) strikes nearby."""
    if cfg.n_walls == 0:
        return []
    below = np.floor(cfg.open_price / STRIKE_STEP) * STRIKE_STEP
    if below == cfg.open_price:
        below -= STRIKE_STEP
    above = below + STRIKE_STEP
    if above == cfg.open_price:
        above += STRIKE_STEP
    picks = [above, below]
    candidates = [k for k in strike_grid(cfg) if k % 25 == 0 and k not in picks and abs(k - cfg.open_price) <= 60]
    candidates.sort(key=lambda k: (abs(k - cfg.open_price), k))
    picks += candidates
    picks = picks[: cfg.n_walls]
    walls = []
    for i, k in enumerate(picks):
        peak = float(rng.uniform(*cfg.wall_peak))
        on = float(rng.uniform(0.0, 0.15)) if i < 2 else float(rng.uniform(0.05, 0.35))
        rise = float(rng.uniform(0.08, 0.2))
        hold = float(rng.uniform(0.1, 0.25))
        fall = float(rng.uniform(0.08, 0.2))
        walls.append(WallSpec(float(k), peak, on, rise, hold, fall))
    return walls


def draw_vacuums(cfg: SynthConfig, walls: list[WallSpec], rng: np.random.Generator) -> list[VacuumSpec]:
    """Vacuum levels within ±24 ticks of the open (where the price trades), 5+ ticks from every wall."""
    out: list[VacuumSpec] = []
    open_t = cfg.open_price / TICK
    wall_t = np.array([w.strike / TICK for w in walls])
    tries = 0
    while len(out) < cfg.n_vacuums and tries < 1000:
        tries += 1
        lvl = open_t + float(rng.integers(-24, 25))
        if wall_t.size and np.min(np.abs(wall_t - lvl)) < 5:
            continue
        if any(abs(v.level / TICK - lvl) < 6 for v in out):
            continue
        out.append(VacuumSpec(lvl * TICK, float(rng.uniform(*cfg.vacuum_depth)), float(rng.uniform(0.0, 0.6)),
                              float(rng.uniform(0.05, 0.15)), float(rng.uniform(0.05, 0.2)), float(rng.uniform(0.05, 0.15))))
    return out


@nb.njit(cache=True)
def ar1(eps: np.ndarray, rho: float, gain: float) -> np.ndarray:
    """y[n] = rho·y[n-1] + gain·eps[n], y[-1] = 0."""
    y = np.empty_like(eps)
    prev = 0.0
    for i in range(eps.shape[0]):
        prev = rho * prev + gain * eps[i]
        y[i] = prev
    return y


def ofi_series(cfg: SynthConfig) -> np.ndarray:
    """Order-flow imbalance per window: a unit-variance AR(1) (OU) with memory ``ofi_tau_s``."""
    w = np.arange(cfg.n_windows, dtype=np.uint32)
    eps = normal(cfg.seed, OFI_LANE, 0, w)
    rho = float(np.exp(-0.5 / cfg.ofi_tau_s))
    eps[0] = eps[0] / np.sqrt(1.0 - rho * rho)  # start in the stationary law
    return ar1(eps, rho, float(np.sqrt(1.0 - rho * rho)))


def fields_on_grid(spot_ticks: float, grid: Grid, wall_c: np.ndarray, wall_s: np.ndarray, wall_w: float,
                   vac_c: np.ndarray, vac_a: np.ndarray, vac_w: float, vac_ref: float, viscosity: float,
                   drift: float, diffusion: float) -> dict[str, np.ndarray]:
    """The canonical fields on the engine grid centred on ``spot_ticks`` (absolute ticks)."""
    p = spot_ticks + grid.x
    wall_c = np.asarray(wall_c, dtype=np.float64)
    O = obstacle_field(grid, wall_c - spot_ticks, np.asarray(wall_s, np.float64), np.full(wall_c.shape, float(wall_w)))
    zv = (p[:, None] - np.asarray(vac_c)[None, :]) / vac_w
    vac = (np.asarray(vac_a)[None, :] * np.exp(-0.5 * zv * zv)).sum(axis=1)
    G = viscosity * np.maximum(1.0 - VACUUM_VISCOSITY_CUT * vac / vac_ref, VISCOSITY_FLOOR)
    return {"U": -vac, "C": np.full(grid.size, drift), "G": G, "O": O, "D": np.full(grid.size, diffusion)}


@dataclass
class Medium:
    """The session's medium as arrays per window (the generators and the truth share it)."""

    frac: np.ndarray           # (W,) session fraction at window start
    walls: list[WallSpec]
    vacuums: list[VacuumSpec]
    wall_strength: np.ndarray  # (W, K)
    wall_phase: np.ndarray     # (W, K) +1 thickening, -1 eroding
    vacuum_amp: np.ndarray     # (W, J)
    ofi: np.ndarray            # (W,)
    drift: np.ndarray          # (W,) C in ticks/s

    @property
    def wall_ticks(self) -> np.ndarray:
        return np.array([w.strike / TICK for w in self.walls], dtype=np.float64)

    @property
    def vacuum_ticks(self) -> np.ndarray:
        return np.array([v.level / TICK for v in self.vacuums], dtype=np.float64)


def build_medium(cfg: SynthConfig) -> Medium:
    rng = np.random.Generator(np.random.Philox(key=int(cfg.seed) & (2**64 - 1)))
    walls = draw_walls(cfg, rng)
    vacuums = draw_vacuums(cfg, walls, rng)
    W = cfg.n_windows
    frac = np.arange(W, dtype=np.float64) / W
    ws = np.stack([w.strength(frac) for w in walls], axis=1) if walls else np.zeros((W, 0))
    wp = np.stack([w.phase(frac) for w in walls], axis=1) if walls else np.zeros((W, 0), np.int8)
    if not cfg.walls_enabled:
        ws = np.zeros_like(ws)
    va = np.stack([v.amplitude(frac) for v in vacuums], axis=1) if vacuums else np.zeros((W, 0))
    ofi = ofi_series(cfg)
    return Medium(frac, walls, vacuums, ws, wp, va, ofi, cfg.ofi_gain * ofi)


def medium_fields(cfg: SynthConfig, med: Medium, w: int, spot_ticks: float, grid: Grid | None = None) -> Fields:
    """The engine-side :class:`Fields` of window ``w`` on a grid centred on ``spot_ticks``."""
    grid = grid or Grid()
    arrs = fields_on_grid(spot_ticks, grid, med.wall_ticks, med.wall_strength[w], cfg.wall_width_ticks,
                          med.vacuum_ticks, med.vacuum_amp[w], cfg.vacuum_width_ticks, max(cfg.vacuum_depth[1], 1e-9),
                          cfg.viscosity, float(med.drift[w]), cfg.diffusion)
    return Fields.from_arrays(grid, **arrs)
