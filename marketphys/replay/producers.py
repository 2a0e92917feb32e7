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

from marketphys.core.producers import (ConstantViscosity, Producer, ProfileProducer, PushProducer,
                                       StrikeWallProducer)


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


def lake_producers() -> list[Producer]:
    """Flow drives the current, vacuums are wells, resting depth is a soft obstacle, gamma strikes are walls."""
    return [
        PushProducer(channel="push", gain=4.0, name="push"),
        PushProducer(channel="imbalance", gain=2.0, name="imbalance"),
        ProfileProducer("vacuum_score", target="U", gain=-4.0, name="vacuum_wells"),
        ProfileProducer("depth_log", target="O", gain=0.05, name="depth_obstacle"),
        ConstantViscosity(1.0),
        GexWallProducer(),
    ]
