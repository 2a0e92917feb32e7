"""``PhysicsLab``: the three-band instrument as an anywidget (docs/architecture.md#visual-encoding).

Python keeps the frame history and renders textures (render kernel or NumPy
reference); the browser gets the texture and the frame's small arrays as binary
buffers and draws text, the debug overlay and the hover readout itself, so a mouse
move never round-trips to the kernel. The texture travels as a lossless PNG
(``texture_format="png"``, ~40x smaller than raw RGBA and cheaper end to end, see
benchmarks/render.py) or raw RGBA; textures and their encodings are cached per
(frame, zoom, size). Freeze pauses the stream (pushes are still recorded) while
scrub, step and zoom keep re-rendering; the front end keeps one scrub request in
flight and sends only the newest position when it returns.

A replay ``Session`` drives a lab directly (``session.lab()`` or
``PhysicsLab.from_session(session)``): the lab watches the session, records every
step, and during ``run``/``seek`` draws at most every ``batch_interval_s`` (a
glimpse of progress) plus once at the end, so a long replay is not slowed down
by rendering every frame. User navigation always draws at once.

Readable at first sight: by default the lab fits each frame (``auto_zoom``): the view
spans the forecasts, their band and the last resolved actuals, at least ±8 ticks and at
most the grid, eased from frame to frame, and the arrows are scaled from recent
magnitudes (rules in ``marketphys.widgets.lab_view``). Zooming by hand (``zoom``, the
"+"/"−" buttons or setting ``x_half``) holds that zoom until ``fit()`` (the "fit" button).
"""

from __future__ import annotations

import contextlib
import pathlib
import time
from collections import OrderedDict
from dataclasses import replace

import anywidget
import numpy as np
import traitlets

from marketphys.core.theta import PARAM_NAMES
from marketphys.render import band_heights, render_backends, render_texture
from marketphys.render.png import encode_png
from marketphys.widgets.history import LabFrame, snapshot
from marketphys.widgets.lab_store import FrameStore
from marketphys.widgets.lab_view import FrameView, ViewTracker

_HERE = pathlib.Path(__file__).parent
WALL_FIELDS = ("center", "width", "strength", "s_max", "meter")
TEXTURE_FORMATS = ("png", "raw")
DAY_FRAMES = 50_000
"""Default ``max_history``: a whole 6.5 h RTH day is 46,800 half-second frames (≤ ~9.5 KB each kept, ~4 KB typical)."""


def frame_arrays(fr: LabFrame) -> tuple[bytes, dict]:
    """The frame's arrays as one float32 buffer plus a layout {name: [offset, length]} (in floats)."""
    walls = np.stack([fr.wall_center, fr.wall_width, fr.wall_strength, fr.wall_s_max, fr.wall_meter], axis=1) \
        if len(fr.wall_ids) else np.zeros((0, len(WALL_FIELDS)))
    nh = fr.x_hat.shape[0]
    nan = np.full(nh, np.nan)
    parts = {"U": fr.U, "O": fr.O, "C": fr.C, "G": fr.G, "walls": walls.ravel(), "x_hat": fr.x_hat,
             "band_lo": fr.band_lo if fr.band_lo is not None else nan,
             "band_hi": fr.band_hi if fr.band_hi is not None else nan,
             "pred": fr.resolved_pred if fr.resolved_pred is not None else nan,
             "actual": fr.resolved_actual if fr.resolved_actual is not None else nan}
    layout, off = {}, 0
    for k, a in parts.items():
        layout[k] = [off, int(np.asarray(a).size)]
        off += int(np.asarray(a).size)
    buf = np.concatenate([np.asarray(a, dtype=np.float32).ravel() for a in parts.values()])
    return buf.tobytes(), layout


class PhysicsLab(anywidget.AnyWidget):
    """Live/replay instrument panel. ``PhysicsLab.from_engine(engine)``, then ``lab.push(engine, fc)`` per step."""

    _esm = _HERE / "physics_lab.js"
    _css = _HERE / "physics_lab.css"

    texture = traitlets.Bytes(b"").tag(sync=True)
    texture_format = traitlets.Unicode("png").tag(sync=True)
    tex_width = traitlets.Int(960).tag(sync=True)
    tex_height = traitlets.Int(540).tag(sync=True)
    arrays = traitlets.Bytes(b"").tag(sync=True)
    meta = traitlets.Dict().tag(sync=True)
    index = traitlets.Int(-1).tag(sync=True)
    n_frames = traitlets.Int(0).tag(sync=True)
    frozen = traitlets.Bool(False).tag(sync=True)
    x_half = traitlets.Float(0.0).tag(sync=True)
    auto_zoom = traitlets.Bool(True).tag(sync=True)
    debug = traitlets.Bool(False).tag(sync=True)
    err_threshold = traitlets.Float(1.0).tag(sync=True)
    version = traitlets.Int(0).tag(sync=True)

    def __init__(self, *, width: int = 960, height: int = 540, backend: str = "numpy", cache_size: int = 64,
                 redraw_interval_s: float = 0.0, batch_interval_s: float = 2.0, max_history: int | None = DAY_FRAMES,
                 **traits):
        unknown = sorted(set(traits) - set(self.class_trait_names()))
        if unknown:
            raise TypeError(f"PhysicsLab got unexpected arguments {unknown}; settable traits: "
                            f"frozen, x_half, auto_zoom, debug, err_threshold, texture_format")
        if width < 16 or height < 20:
            raise ValueError(f"PhysicsLab size must be at least 16x20 pixels, got width={width}, height={height}")
        here = render_backends()
        if backend == "auto":
            backend = here[0]              # resolved once: probing backends per frame costs milliseconds
        elif backend not in here:
            raise ValueError(f"PhysicsLab backend must be 'auto' or one of {here} here, got {backend!r}")
        self.backend = backend
        if max_history is not None and (int(max_history) != max_history or max_history < 1):
            raise ValueError(f"PhysicsLab max_history must be a whole number of frames >= 1 or None, got {max_history!r}")
        self.max_history = None if max_history is None else int(max_history)
        self.history = FrameStore()            # a read-only sequence of LabFrame, kept compactly
        self._views: list[FrameView] = []      # how each history frame is fitted (same indices)
        self._tracker = ViewTracker()
        self._fitting = False     # x_half is being set by the fit, not by the user
        self._meters: dict[str, float] = {}
        self._cache: OrderedDict = OrderedDict()
        self._cache_size = int(cache_size)
        for name, v in (("redraw_interval_s", redraw_interval_s), ("batch_interval_s", batch_interval_s)):
            if not np.isfinite(v) or v < 0:
                raise ValueError(f"PhysicsLab {name} must be a number of seconds >= 0, got {v!r}")
        self.redraw_interval_s = float(redraw_interval_s)
        self.batch_interval_s = float(batch_interval_s)
        self._held = 0            # > 0 inside batch(): pushes draw only every batch_interval_s
        self._pushing = False     # the index change being handled comes from push()
        self._stale = False       # a push was recorded but not drawn yet
        self._last_draw = -np.inf
        if traits.get("x_half", 0) > 0:          # a zoom given up front is held
            traits.setdefault("auto_zoom", False)
        super().__init__(tex_width=int(width), tex_height=int(height), **traits)
        self.observe(self._user_zoom, names=["x_half"])
        # frozen too: its meta changes, and every navigation request then gets a reply (a
        # new version) even when the index stays, which releases the front end's scrub throttle
        self.observe(self._redraw, names=["index", "frozen", "x_half", "auto_zoom", "tex_width", "tex_height",
                                          "texture_format"])

    @traitlets.validate("texture_format")
    def _check_format(self, proposal):
        if proposal["value"] not in TEXTURE_FORMATS:
            raise traitlets.TraitError(f"PhysicsLab.texture_format must be one of {TEXTURE_FORMATS}, got {proposal['value']!r}")
        return proposal["value"]

    # -- feeding ----------------------------------------------------------------------
    @classmethod
    def from_engine(cls, engine, **kwargs) -> "PhysicsLab":
        """A lab showing ``engine``; if it has stepped already its last frame is shown."""
        lab = cls(**kwargs)
        if engine.last_forecast is not None:
            lab.push(engine, engine.last_forecast)
        return lab

    def push(self, engine, forecast) -> None:
        """Record the engine's current frame; shows it unless frozen (then it waits in history)."""
        if forecast is None:      # live mode skipped a bad frame: nothing new to show
            return
        fr = snapshot(engine, forecast, self._meters)
        self._meters = dict(zip(fr.wall_ids, fr.wall_meter.tolist()))
        self.history.append(fr)
        self._views.append(self._tracker.update(fr))
        evicted = 0
        if self.max_history is not None and len(self.history) > self.max_history:
            # bounded memory (≤ ~9.5 KB a frame, lab_store): the oldest frames go; a frozen view keeps its frame if it can
            evicted = len(self.history) - self.max_history
            del self.history[:evicted]
            del self._views[:evicted]
        if self.x_half <= 0 and not self.auto_zoom:
            self.x_half = (fr.U.shape[0] - 1) / 2 * fr.dx
        self._pushing = True
        try:
            with self.hold_sync():
                self.n_frames = len(self.history)
                if not self.frozen:
                    self.index = len(self.history) - 1
                elif evicted:
                    self.index = max(self.index - evicted, 0)
        finally:
            self._pushing = False

    @classmethod
    def from_session(cls, session, **kwargs) -> "PhysicsLab":
        """A lab that follows a replay ``Session``: every step is recorded, run/seek draw sparingly.

        Renders with the fastest local backend unless ``backend=`` says otherwise; if the
        session has stepped already its current frame is shown. Seeking back (which replays
        the session from its start) clears the lab's history with it.
        """
        kwargs.setdefault("backend", "auto")
        lab = cls(**kwargs)
        session.watch(lab)
        return lab

    def follow(self, engine):
        """A callback for ``LiveClient.start_feed(engine, on_forecast=lab.follow(engine))``."""
        def on_forecast(forecast):
            self.push(engine, forecast)
        return on_forecast

    # -- the Session watcher protocol (on_step / on_reset / batch) -------------------------
    def on_step(self, session, forecast) -> None:
        self.push(session.engine, forecast)

    def on_reset(self, session) -> None:
        """The session restarted from its first frame: forget the frames it will replay."""
        self.clear()

    @contextlib.contextmanager
    def batch(self):
        """Inside: pushes are recorded and drawn at most every ``batch_interval_s``; drawn once on exit."""
        self._held += 1
        try:
            yield self
        finally:
            self._held -= 1
            if not self._held and self._stale:
                self.refresh()

    def clear(self) -> None:
        """Forget every frame (textures and wear meters too)."""
        self.history.clear()
        self._views.clear()
        self._tracker.reset()
        self._meters = {}
        self._cache.clear()
        self._stale = False
        with self.hold_sync():
            self.n_frames = 0
            self.index = -1

    def refresh(self) -> None:
        """Draw the current frame now (e.g. after a throttled live feed ended)."""
        self._stale = False
        self._draw()

    # -- navigation -------------------------------------------------------------------
    def step(self, n: int = 1) -> None:
        """Freeze and move ``n`` frames through history (clamped to its ends)."""
        self.frozen = True
        self.index = int(np.clip(self.index + n, 0, max(len(self.history) - 1, 0)))

    def scrub(self, t0_ns: int) -> int:
        """Freeze and show the last frame with origin ≤ ``t0_ns``; returns its index."""
        if not self.history:
            raise ValueError("PhysicsLab.scrub: no frames yet; push(engine, forecast) first")
        ts = self.history.ts_ns()
        i = int(np.searchsorted(ts, int(t0_ns), side="right")) - 1
        if i < 0:
            raise ValueError(f"PhysicsLab.scrub: t0_ns={t0_ns} is before the first frame ({ts[0]})")
        self.frozen = True
        self.index = i
        return i

    def zoom(self, factor: float) -> None:
        """Scale the visible X half-range symmetrically around x = 0 (factor > 1 zooms in); holds it."""
        if not np.isfinite(factor) or factor <= 0:
            raise ValueError(f"PhysicsLab.zoom: factor must be > 0, got {factor!r}")
        self.x_half = float(self.x_half) / float(factor)

    def fit(self) -> None:
        """Back to the fitted zoom (the default): each frame framed around its forecasts, band and actuals."""
        self.auto_zoom = True

    def view(self, i: int | None = None) -> FrameView | None:
        """How history frame ``i`` (default: the one shown) is fitted: half-range and arrow references."""
        i = self.index if i is None else i
        return self._views[i] if 0 <= i < len(self._views) else None

    def _user_zoom(self, change) -> None:
        if not self._fitting:
            self.auto_zoom = False

    def resume(self) -> None:
        """Unfreeze and jump to the newest frame."""
        self.frozen = False
        self.index = len(self.history) - 1

    @property
    def frame(self) -> LabFrame | None:
        return self.history[self.index] if 0 <= self.index < len(self.history) else None

    # -- drawing ----------------------------------------------------------------------
    def render_frame(self, i: int) -> np.ndarray:
        """The (H, W, 4) texture of history frame ``i`` as drawn (cached; a PNG-only entry renders again)."""
        entry = self._cached(i)
        if "rgba" in entry:
            return entry["rgba"]
        if "raw" in entry:
            return np.frombuffer(entry["raw"], dtype=np.uint8).reshape(int(self.tex_height), int(self.tex_width), 4)
        return self._render(i)

    def wire_texture(self, i: int) -> bytes:
        """Frame ``i``'s texture as sent to the browser in ``texture_format`` (encoded once, cached).

        Once encoded, the cache keeps only the wire form: the raw bytes, or the PNG (~50 KB at
        960x540 instead of 2 MB), so the ``cache_size`` textures cost ~3 MB, not ~130 MB.
        """
        entry = self._cached(i)
        fmt = self.texture_format
        if fmt not in entry:
            rgba = entry["rgba"] if "rgba" in entry else self.render_frame(i)
            entry[fmt] = encode_png(rgba) if fmt == "png" else rgba.tobytes()
            entry.pop("rgba", None)
        return entry[fmt]

    def _render(self, i: int) -> np.ndarray:
        fr = self.history[i]
        xh = self._x_half_for(i)
        scene = fr.scene(self.tex_width, self.tex_height, xh if xh > 0 else None)
        if 0 <= i < len(self._views):
            scene = replace(scene, **self._views[i].refs)
        return render_texture(scene, backend=self.backend)

    def _x_half_for(self, i: int) -> float:
        """The half-range frame ``i`` is drawn at: its fit under ``auto_zoom``, else the held zoom."""
        if self.auto_zoom and 0 <= i < len(self._views):
            return self._views[i].x_half
        return float(self.x_half)

    def _cached(self, i: int) -> dict:
        xh = self._x_half_for(i)
        key = (self.history.ts_at(i), xh, int(self.tex_width), int(self.tex_height))   # stable under eviction
        entry = self._cache.get(key)
        if entry is None:
            entry = {"rgba": self._render(i)}
            self._cache[key] = entry
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        return entry

    def _redraw(self, change=None) -> None:
        if self._pushing:
            gap = max(self.redraw_interval_s, self.batch_interval_s) if self._held else self.redraw_interval_s
            if time.monotonic() - self._last_draw < gap:
                self._stale = True
                return
        self._draw()

    def _draw(self) -> None:
        if self.x_half < 0 or not np.isfinite(self.x_half):
            raise ValueError(f"PhysicsLab.x_half must be a positive number of ticks, got {self.x_half!r}")
        fr = self.frame
        if fr is None:
            return
        if self.auto_zoom:
            fitted = self._x_half_for(self.index)
            if fitted != self.x_half:
                self._fitting = True
                try:
                    self.x_half = fitted        # observed: _redraw -> _draw once more, then equal
                finally:
                    self._fitting = False
                return
        self._last_draw = time.monotonic()
        self._stale = False
        tex = self.wire_texture(self.index)
        buf, layout = frame_arrays(fr)
        err = fr.resolved_error
        a, b, _ = band_heights(int(self.tex_height))
        meta = {"index": self.index, "ts_ns": fr.ts_ns, "spot": fr.spot, "tick_size": fr.tick_size, "dx": fr.dx,
                "dt": fr.dt, "n_cells": int(fr.U.shape[0]), "horizons": int(fr.x_hat.shape[0]),
                "theta": fr.theta_dict, "param_names": list(PARAM_NAMES), "layout": layout,
                "wall_ids": list(fr.wall_ids), "wall_fields": list(WALL_FIELDS), "counters": fr.counters,
                "resolved_origin_ns": fr.resolved_origin_ns,
                "errors": None if err is None else [None if not np.isfinite(e) else float(e) for e in err],
                "v0": fr.v0, "a0": fr.a0, "x_half": float(self.x_half), "auto_zoom": bool(self.auto_zoom),
                "refs": self._views[self.index].refs if self.index < len(self._views) else None,
                "band_a": a, "band_b": b,
                "width": int(self.tex_width), "height": int(self.tex_height), "frozen": bool(self.frozen),
                "texture_format": self.texture_format}
        with self.hold_sync():
            self.texture = tex
            self.arrays = buf
            self.meta = meta
            self.version = self.version + 1
