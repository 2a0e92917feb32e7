"""Frame history for the Physics Lab: one immutable snapshot per engine step.

Scrubbing to any past t0 must show that frame's fields, forecast and resolved
comparison, so each step copies the small arrays it needs (a few KB) out of the
engine; textures are re-rendered on demand from these snapshots.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from marketphys.core.theta import PARAM_NAMES
from marketphys.render.scene import RenderScene

METER_EASE = 0.35
"""Fraction of the gap a decaying wear meter closes per frame (eases down, never flashes)."""


@dataclass(frozen=True)
class LabFrame:
    """Everything one frame of the instrument shows, in ticks relative to spot at t0."""

    ts_ns: int
    spot: float
    tick_size: float
    dx: float
    dt: float
    U: np.ndarray
    O: np.ndarray
    C: np.ndarray
    G: np.ndarray
    theta: np.ndarray
    wall_ids: tuple[str, ...]
    wall_center: np.ndarray
    wall_strength: np.ndarray
    wall_width: np.ndarray
    wall_s_max: np.ndarray
    wall_d_strength: np.ndarray
    wall_meter: np.ndarray
    v0: float
    a0: float
    x_hat: np.ndarray
    band_lo: np.ndarray | None = None
    band_hi: np.ndarray | None = None
    resolved_origin_ns: int | None = None
    resolved_pred: np.ndarray | None = None
    resolved_actual: np.ndarray | None = None
    counters: dict = field(default_factory=dict)

    @property
    def theta_dict(self) -> dict[str, float]:
        return {n: float(v) for n, v in zip(PARAM_NAMES, self.theta)}

    @property
    def resolved_error(self) -> np.ndarray | None:
        if self.resolved_pred is None:
            return None
        return self.resolved_actual - self.resolved_pred

    def scene(self, width: int, height: int, x_half: float | None = None) -> RenderScene:
        th = self.theta_dict
        return RenderScene(U=self.U, O=self.O, C=self.C, G=self.G, dx=self.dx, wU=th["wU"], wO=th["wO"],
                           wall_center=self.wall_center, wall_strength=self.wall_strength, wall_width=self.wall_width,
                           wall_s_max=self.wall_s_max, wall_d_strength=self.wall_d_strength, wall_meter=self.wall_meter,
                           probe_v=self.v0, probe_a=self.a0, x_hat=self.x_hat, resolved_pred=self.resolved_pred,
                           resolved_actual=self.resolved_actual, x_half=x_half, width=width, height=height)


def ease_meters(prev: dict[str, float], ids, strength, s_max) -> np.ndarray:
    """Wear meter per wall: jumps up on thickening, eases down toward S/S_max while decaying."""
    target = np.clip(np.asarray(strength, float) / np.asarray(s_max, float), 0.0, 1.0) if len(ids) else np.zeros(0)
    out = target.copy()
    for i, wid in enumerate(ids):
        before = prev.get(wid)
        if before is not None and target[i] < before:
            out[i] = before + METER_EASE * (target[i] - before)
    return out


def snapshot(engine, forecast, prev_meters: dict[str, float] | None = None) -> LabFrame:
    """Copy what the lab needs from an Engine right after ``engine.step`` returned ``forecast``."""
    if engine.fields is None or forecast is None:
        raise ValueError("PhysicsLab needs an engine that has stepped at least once (engine.fields is None)")
    f = engine.fields
    walls = engine.walls.snapshot()
    ids = tuple(w.wall_id for w in walls)
    c, s, w = engine.walls.arrays(forecast.spot, forecast.tick_size)
    s_max = np.array([x.s_max for x in walls], dtype=float)
    ds = np.array([x.d_strength for x in walls], dtype=float)
    meters = ease_meters(prev_meters or {}, ids, s, s_max)
    lo = hi = None
    if forecast.bands:
        qs = sorted(forecast.bands)
        lo, hi = np.asarray(forecast.bands[qs[0]], float).copy(), np.asarray(forecast.bands[qs[-1]], float).copy()
    res = engine.ledger.last_complete
    r_origin = r_pred = r_act = None
    if res is not None:
        r_origin = int(res.origin_ts_ns)
        r_pred = np.asarray(res.x_hat, float).copy()
        r_act = np.where(res.mask, res.actual, np.nan).astype(float)
    counters = {**{k: int(v) for k, v in forecast.stats.items()},
                "rejected": int(sum(engine.rejected.values())), "frames": int(engine.n_frames)}
    return LabFrame(ts_ns=int(forecast.origin_ts_ns), spot=float(forecast.spot), tick_size=float(forecast.tick_size),
                    dx=float(f.grid.dx), dt=float(forecast.dt), U=f.U.copy(), O=f.O.copy(), C=f.C.copy(), G=f.G.copy(),
                    theta=np.asarray(forecast.theta, float).copy(), wall_ids=ids, wall_center=c, wall_strength=s,
                    wall_width=w, wall_s_max=s_max, wall_d_strength=ds, wall_meter=meters, v0=float(forecast.v0),
                    a0=float(forecast.a0), x_hat=np.asarray(forecast.x_hat, float).copy(), band_lo=lo, band_hi=hi,
                    resolved_origin_ns=r_origin, resolved_pred=r_pred, resolved_actual=r_act, counters=counters)
