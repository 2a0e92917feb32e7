"""The engine's whole learning state as plain JSON, so production resumes exactly where research stopped.

``engine_state(engine)`` holds everything the next step depends on: θ and the learner's
curvature matrix A (with its update and bound-hit counts; the forgetting λ and damping are
settings, in the engine configuration), the ledger's pending forecasts, the forecast
head's state (blend sums, gate statistics, learned D per horizon, band scale) and its
pending origins, the wall set, every producer's remembered state (attributes starting
with ``_`` that are numbers or arrays, e.g. an EMA level), the last frame's time and mid
(v0) and the frame count (the ensemble's random stream). JSON floats round-trip
exactly, so ``load_engine_state`` then stepping on equals never having stopped (tested).
"""

from __future__ import annotations

from collections import deque

import numpy as np

from marketphys.core.frame import MarketFrame
from marketphys.core.head import _Origin
from marketphys.core.ledger import LedgerEntry
from marketphys.core.walls import WallState

STATE_VERSION = 1


def _arr(a) -> list:
    return np.asarray(a).tolist()


def _producer_state(p) -> dict:
    out = {}
    for k, v in vars(p).items():
        if not k.startswith("_"):
            continue
        if v is None or isinstance(v, (bool, int, float, str)):
            out[k] = v
        elif isinstance(v, np.ndarray) and v.dtype.kind in "fiub":
            out[k] = {"ndarray": v.tolist(), "dtype": str(v.dtype)}
    return out


def engine_state(engine) -> dict:
    lr, led, head = engine.learner, engine.ledger, engine.head
    lf = engine.last_frame
    return {
        "version": STATE_VERSION,
        "n_frames": int(engine.n_frames),
        "last_frame": None if lf is None else {"ts_ns": int(lf.ts_ns), "spot": float(lf.spot),
                                               "tick_size": float(lf.tick_size)},
        "learner": {"theta": _arr(lr.theta), "A": _arr(lr.A), "n_updates": int(lr.n_updates),
                    "bound_hits": _arr(lr.bound_hits), "last_loss": None if not np.isfinite(lr.last_loss)
                    else float(lr.last_loss), "forgetting": lr.forgetting, "damping": lr.damping},
        "ledger": {"pending": [{"origin_ts_ns": int(e.origin_ts_ns), "spot": e.spot, "tick_size": e.tick_size,
                                "x_hat": _arr(e.x_hat), "jac": _arr(e.jac), "theta": _arr(e.theta),
                                "dt_ns": int(e.dt_ns), "actual": [None if not np.isfinite(a) else float(a)
                                                                   for a in e.actual],
                                "status": _arr(e.status)} for e in led.pending],
                   "n": _arr(led.n), "n_expired": _arr(led.n_expired), "sum_abs": _arr(led.sum_abs),
                   "sum_sq": _arr(led.sum_sq)},
        "head": {"state": head.state_dict(), "D": _arr(head.D),
                 "pending": [{"ts": o.ts, "spot": o.spot, "tick": o.tick, "cand": _arr(o.cand), "mean": _arr(o.mean),
                              "median": _arr(o.median), "q": _arr(o.q), "xp": _arr(o.xp), "status": _arr(o.status),
                              "actual": [None if not np.isfinite(a) else float(a) for a in o.actual]}
                             for o in head.pending]},
        "walls": [{"wall_id": w.wall_id, "center": w.center, "strength": w.strength, "width": w.width,
                   "decay": w.decay, "s_max": w.s_max, "reinforcement": w.reinforcement, "d_strength": w.d_strength,
                   "age": w.age} for w in engine.walls.walls.values()],
        "producers": {p.name: _producer_state(p) for p in engine.producers},
    }


def _nan(v):
    return np.array([np.nan if a is None else a for a in v], dtype=np.float64)


def load_engine_state(engine, d: dict) -> None:
    """Put ``engine`` (built with the same producers and configuration) in the state ``d`` describes."""
    if d.get("version") != STATE_VERSION:
        raise ValueError(f"engine state version {d.get('version')!r}; this engine reads {STATE_VERSION}")
    lr = engine.learner
    L = d["learner"]
    lr.theta = np.asarray(L["theta"], dtype=np.float64)
    lr.A = np.asarray(L["A"], dtype=np.float64)
    lr.n_updates = int(L["n_updates"])
    lr.bound_hits = np.asarray(L["bound_hits"], dtype=np.int64)
    lr.last_loss = float("nan") if L["last_loss"] is None else float(L["last_loss"])
    led = engine.ledger
    led.pending = [LedgerEntry(int(e["origin_ts_ns"]), float(e["spot"]), float(e["tick_size"]),
                               np.asarray(e["x_hat"], float), np.asarray(e["jac"], float).reshape(len(e["x_hat"]), -1),
                               np.asarray(e["theta"], float), int(e["dt_ns"]), _nan(e["actual"]),
                               np.asarray(e["status"], np.int8)) for e in d["ledger"]["pending"]]
    for k in ("n", "n_expired", "sum_abs", "sum_sq"):
        setattr(led, k, np.asarray(d["ledger"][k], dtype=getattr(led, k).dtype))
    head = engine.head
    head.load_state_dict(d["head"]["state"])
    head.pending = deque(_Origin(int(o["ts"]), float(o["spot"]), float(o["tick"]), np.asarray(o["cand"], float),
                                 np.asarray(o["mean"], float), np.asarray(o["median"], float),
                                 np.asarray(o["q"], float), np.asarray(o["xp"], float),
                                 np.asarray(o["status"], np.int8), _nan(o["actual"])) for o in d["head"]["pending"])
    engine.walls.walls = {w["wall_id"]: WallState(**w) for w in d["walls"]}
    by_name = {p.name: p for p in engine.producers}
    missing = sorted(set(d["producers"]) - set(by_name))
    if missing:
        raise ValueError(f"engine state has producers {missing} that this engine lacks ({sorted(by_name)})")
    for name, st in d["producers"].items():
        p = by_name[name]
        for k, v in st.items():
            setattr(p, k, np.asarray(v["ndarray"], dtype=v["dtype"]) if isinstance(v, dict) else v)
    lf = d["last_frame"]
    engine.last_frame = None if lf is None else MarketFrame(ts_ns=int(lf["ts_ns"]), spot=float(lf["spot"]),
                                                            tick_size=float(lf["tick_size"]))
    engine.n_frames = int(d["n_frames"])
