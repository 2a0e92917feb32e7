"""The default medium for lake and live frames, reading the channels ``frames.assemble`` names.

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


class DepthVacuumProducer(Producer):
    """Vacuums as potential valleys: U(x) = −gain · thin(x), thin = clip((L(x) − d(x)) / (L(x) + ε), 0, 1).

    d is the resting depth profile (``depth_log`` = log1p(resting qty) per grid cell, from
    bucket_radar) and L its recent level, an EMA per cell with half-life ``halflife_s``
    (cells are spot-relative, so L is the usual depth at that distance from spot). A
    level whose book has thinned relative to its recent level is a valley the price is
    drawn into (seed: vacuums attract). The EMA is updated after ``thin`` is computed,
    so a frame is compared with the past only.
    """

    target = "U"

    def __init__(self, channel: str = "depth_log", gain: float = 4.0, halflife_s: float = 30.0, dt: float = 0.5,
                 eps: float = 0.5, name: str = "depth_vacuum"):
        if not (np.isfinite(halflife_s) and halflife_s > 0):
            raise ValueError(f"DepthVacuumProducer: halflife_s must be > 0, got {halflife_s!r}")
        if not (np.isfinite(eps) and eps > 0):
            raise ValueError(f"DepthVacuumProducer: eps must be > 0, got {eps!r}")
        self.channel, self.gain, self.halflife_s, self.dt, self.eps = channel, float(gain), float(halflife_s), float(dt), float(eps)
        self.name = name
        self.reset()

    def reset(self) -> None:
        self._level: np.ndarray | None = None

    def produce(self, frame, grid):
        d = frame.profiles.get(self.channel)
        if d is None:
            return 0.0
        d = np.maximum(np.asarray(d, dtype=np.float64), 0.0)
        if self._level is None:
            self._level = d.copy()
        thin = np.clip((self._level - d) / (self._level + self.eps), 0.0, 1.0)
        a = 1.0 - 0.5 ** (self.dt / self.halflife_s)
        self._level += a * (d - self._level)
        return -self.gain * thin


class DepthViscosity(Producer):
    """Γ from liquidity: Γ(x) = gamma · clip(d(x) / mean(d), lo, hi), d the resting depth profile (``depth_log``).

    A thick book is slow to trade through (viscous), a thin one lets the price slide;
    the mean over the grid keeps Γ's overall level at ``gamma`` so θ's wΓ stays legible.
    Without the profile Γ is the uniform ``gamma``.
    """

    target = "G"

    def __init__(self, channel: str = "depth_log", gamma: float = 1.0, lo: float = 0.2, hi: float = 3.0,
                 name: str = "depth_viscosity"):
        if not (np.isfinite(gamma) and gamma >= 0):
            raise ValueError(f"DepthViscosity: gamma must be >= 0, got {gamma!r}")
        if not (0 <= lo <= hi):
            raise ValueError(f"DepthViscosity: need 0 <= lo <= hi, got lo={lo!r}, hi={hi!r}")
        self.channel, self.gamma, self.lo, self.hi, self.name = channel, float(gamma), float(lo), float(hi), name

    def produce(self, frame, grid):
        d = frame.profiles.get(self.channel)
        if d is None:
            return self.gamma
        d = np.maximum(np.asarray(d, dtype=np.float64), 0.0)
        m = float(d.mean())
        if not m > 0:
            return self.gamma
        return self.gamma * np.clip(d / m, self.lo, self.hi)


class FlowGexWallProducer(GexWallProducer):
    """Gamma walls that thicken or erode with real-time flow (seed: walls with memory, reinforced by flow).

    Per strike whose |GEX| share n reaches ``threshold`` the reinforcement is
    ``gain · n · f`` with f = clip(1 + k_flow·flow_reinforce_norm + k_d1·d1 − k_pull·pull_rest_intensity_norm,
    0, f_max), where d1 = d1_gex_abs / max|gex_abs| (the strike's |GEX| change per second,
    relative). Adds at a strike (flow_reinforce > 0) and growing |GEX| thicken its wall;
    pulls of resting orders (book-wall pulls) and shrinking |GEX| erode it. With flow
    channels absent f = 1: the plain GEX wall.
    """

    def __init__(self, k_flow: float = 1.0, k_d1: float = 1000.0, k_pull: float = 1.0, f_max: float = 3.0,
                 name: str = "flow_gex_walls", **kw):
        super().__init__(name=name, **kw)
        for n_, v in (("k_flow", k_flow), ("k_d1", k_d1), ("k_pull", k_pull), ("f_max", f_max)):
            if not (np.isfinite(v) and v >= 0):
                raise ValueError(f"FlowGexWallProducer: {n_} must be finite and >= 0, got {v!r}")
        self.k_flow, self.k_d1, self.k_pull, self.f_max = float(k_flow), float(k_d1), float(k_pull), float(f_max)

    def flow_factor(self, frame) -> np.ndarray:
        st = frame.strikes
        k = np.asarray(frame.strike_rel_ticks).shape[0]
        z = np.zeros(k)
        fr = np.asarray(st.get("flow_reinforce_norm", z), dtype=np.float64)
        pull = np.asarray(st.get("pull_rest_intensity_norm", z), dtype=np.float64)
        g = np.abs(np.asarray(st.get(self.channel, z), dtype=np.float64))
        top = float(g.max()) if g.size else 0.0
        d1 = np.asarray(st.get("d1_gex_abs", z), dtype=np.float64) / top if top > 0 else z
        return np.clip(1.0 + self.k_flow * fr + self.k_d1 * d1 - self.k_pull * pull, 0.0, self.f_max)

    def produce(self, frame, grid):
        out = super().produce(frame, grid)
        if not out:
            return out
        f = self.flow_factor(frame)
        rel = np.asarray(frame.strike_rel_ticks, float)
        for i, r in enumerate(rel):
            price = round((frame.spot + r * frame.tick_size) / frame.tick_size) * frame.tick_size
            key = f"{self.name}@{price:.2f}"
            if key in out:
                out[key]["reinforcement"] *= float(f[i])
        return out


def seed_producers() -> list[Producer]:
    """The seed's whole medium for lake and live data (issue 13): flow current (trades, push, OFI), Γ from
    depth, flow-driven GEX walls and depth vacuums. Each one's worth on the synthetic day is in
    benchmarks/RESULTS.md (``ablate_day``); the default ``lake_producers()`` keeps those that help."""
    return [
        FlowCurrentProducer("trade_imbalance", gain=1.0, name="flow_trades"),
        FlowCurrentProducer("push", gain=2.5, name="flow_push"),
        FlowCurrentProducer("ofi", gain=0.05, name="flow_ofi"),
        DepthViscosity(1.0),
        FlowGexWallProducer(),
        DepthVacuumProducer(),
    ]


def lake_producers() -> list[Producer]:
    """The default medium for lake and live frames: the seed's whole medium (``seed_producers``).

    Until issue 13 the default was flow current, gex walls and a uniform viscosity only (U was
    zero everywhere); ``thin_lake_producers()`` keeps that set for comparison. What each
    producer adds on the synthetic day (DM p-value and learned weight, ``ablate_day``) is in
    benchmarks/RESULTS.md and docs/engine.md.
    """
    return seed_producers()


def thin_lake_producers() -> list[Producer]:
    """The medium before issue 13: smoothed order flow drives the current, gamma strikes are walls, a
    uniform viscosity damps; no potential (U = 0)."""
    return [
        FlowCurrentProducer("trade_imbalance", gain=1.0, name="flow_trades"),
        FlowCurrentProducer("push", gain=2.5, name="flow_push"),
        ConstantViscosity(1.0),
        GexWallProducer(),
    ]
