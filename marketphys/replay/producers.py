"""The default producer set for frames assembled from the lake (assemble.py's channels).

Channel names are those the silver contracts give: ``push`` = above_score − below_score
and ``imbalance`` = book_imbalance (scalars, from ``physics``), ``vacuum_score`` and
``depth_log`` (profiles, from ``bucket_radar``), and ``gex_abs`` per strike (from
``gex_surface_1s``). The gex contract carries no normalised column, so
``GexWallProducer`` scales ``gex_abs`` by the frame's largest strike (or by a gold
calibration q95 when given) before it builds walls. A lake with futures only simply
has no strikes: the wall producer then has nothing to say.
"""

from __future__ import annotations

import numpy as np

from marketphys.core.producers import ConstantViscosity, Producer, StrikeWallProducer


class GexWallProducer(StrikeWallProducer):
    """Gamma walls: strikes whose |GEX| share reaches ``threshold`` reinforce walls at their price.

    ``scale`` None normalises by the frame's largest |GEX| (a relative wall map); a
    number (e.g. the gold calibration's q95 of gex_abs) gives clip(gex_abs/scale, 0, 1).
    """

    def __init__(self, channel: str = "gex_abs", gain: float = 0.5, threshold: float = 0.35, width_ticks: float = 8.0,
                 decay: float = 0.9, s_max: float = 10.0, scale: float | None = None, name: str = "gex_walls"):
        super().__init__(channel=channel, gain=gain, threshold=threshold, width_ticks=width_ticks, decay=decay,
                         s_max=s_max, name=name)
        if scale is not None and not (np.isfinite(scale) and scale > 0):
            raise ValueError(f"GexWallProducer: scale must be > 0 (e.g. gold q95 of gex_abs), got {scale!r}")
        self.scale = None if scale is None else float(scale)

    def config(self) -> dict:
        return {**super().config(), "scale": self.scale}

    def produce(self, frame, grid):
        vals = frame.strikes.get(self.channel) if frame.strikes else None
        if vals is None or frame.strike_rel_ticks is None:
            return {}
        v = np.abs(np.asarray(vals, dtype=np.float64))
        top = self.scale if self.scale is not None else float(v.max()) if v.size else 0.0
        if not top > 0:
            return {}
        norm = np.clip(v / top, 0.0, 1.0)
        out = {}
        for rel, x in zip(np.asarray(frame.strike_rel_ticks, float), norm):
            if x < self.threshold:
                continue
            price = round((frame.spot + rel * frame.tick_size) / frame.tick_size) * frame.tick_size
            out[f"{self.name}@{price:.2f}"] = {"center": price, "width": self.width_ticks,
                                                "reinforcement": self.gain * x, "decay": self.decay, "s_max": self.s_max}
        return out


class FlowCurrentProducer(Producer):
    """A uniform current C = gain · EMA(scalars[channel]) (ticks/s) with a half-life in seconds.

    Order flow is persistent (the synthetic market's OFI has a 30 s memory) while each
    0.5 s window's trade or book imbalance is a noisy sample of it: on the synthetic
    session the 5 s EMA of ``trade_imbalance`` correlates 0.63 with the true flow, the
    raw window 0.25. The EMA keeps only the past, so no lookahead.
    """

    target = "C"

    def __init__(self, channel: str = "trade_imbalance", gain: float = 1.0, halflife_s: float = 3.5,
                 dt: float = 0.5, name: str | None = None):
        if not (np.isfinite(halflife_s) and halflife_s > 0):
            raise ValueError(f"FlowCurrentProducer: halflife_s must be > 0, got {halflife_s!r}")
        if not np.isfinite(gain):
            raise ValueError(f"FlowCurrentProducer: gain must be finite, got {gain!r}")
        self.channel, self.gain, self.halflife_s, self.dt = channel, float(gain), float(halflife_s), float(dt)
        self.name = name or f"flow:{channel}"
        self.reset()

    def reset(self) -> None:
        self._level = 0.0

    def produce(self, frame, grid):
        a = 1.0 - 0.5 ** (self.dt / self.halflife_s)
        self._level += a * (float(frame.scalars.get(self.channel, 0.0)) - self._level)
        return self.gain * self._level


def lake_producers() -> list[Producer]:
    """Smoothed order flow drives the current, gamma strikes are walls, a uniform viscosity damps.

    Gains put each field in the units of the physics (C in ticks/s, O in wall strengths
    of a few units) so θ starts near 1. Vacuum wells and depth obstacles are left to the
    user to ablate (``ProfileProducer("vacuum_score", "U", ...)``): on the synthetic
    session they did not add skill (their learned weights went to 0).
    """
    return [
        FlowCurrentProducer("trade_imbalance", gain=1.0, name="flow_trades"),
        FlowCurrentProducer("push", gain=2.5, name="flow_push"),
        ConstantViscosity(1.0),
        GexWallProducer(),
    ]
