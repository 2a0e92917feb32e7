"""The prediction ledger (docs/architecture.md#prediction-loop): forecasts keyed by (origin time, horizon).

An entry resolves only when the frame at origin + h·Δt arrives. Policy for imperfect
streams: a frame within ±``tolerance_ns`` of a target resolves it; once a frame later
than target + tolerance has been seen, the target is *expired* (a gap) and never
learned from. The engine rejects out-of-order frames before they reach the ledger.
An origin is *complete* when each horizon has resolved or expired; only complete
origins feed the learner, so learning can never see beyond what has happened.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

PENDING, RESOLVED, EXPIRED = 0, 1, 2


@dataclass
class LedgerEntry:
    origin_ts_ns: int
    spot: float
    tick_size: float
    x_hat: np.ndarray          # (H,) ticks from origin spot
    jac: np.ndarray            # (H, P)
    theta: np.ndarray          # (P,) θ used for the forecast
    dt_ns: int
    actual: np.ndarray = field(default=None)   # (H,) ticks, NaN until resolved
    status: np.ndarray = field(default=None)   # (H,) PENDING/RESOLVED/EXPIRED

    def __post_init__(self) -> None:
        H = self.x_hat.shape[0]
        if self.actual is None:
            self.actual = np.full(H, np.nan)
        if self.status is None:
            self.status = np.full(H, PENDING, dtype=np.int8)

    def target_ts(self, h: int) -> int:
        return self.origin_ts_ns + (h + 1) * self.dt_ns

    @property
    def complete(self) -> bool:
        return bool(np.all(self.status != PENDING))

    @property
    def mask(self) -> np.ndarray:
        return self.status == RESOLVED


class Ledger:
    """Pending forecasts, resolution against actuals, and per-horizon loss accounting."""

    def __init__(self, horizons: int = 4, dt_ns: int = 500_000_000, tolerance_ns: int | None = None,
                 keep_history: bool = True):
        self.H, self.dt_ns = int(horizons), int(dt_ns)
        self.tolerance_ns = int(dt_ns // 4 if tolerance_ns is None else tolerance_ns)
        self.pending: list[LedgerEntry] = []
        self.keep_history = keep_history
        self._history: list[LedgerEntry] = []
        self.last_complete: LedgerEntry | None = None
        self.n = np.zeros(self.H, dtype=np.int64)
        self.n_expired = np.zeros(self.H, dtype=np.int64)
        self.sum_abs = np.zeros(self.H)
        self.sum_sq = np.zeros(self.H)

    def add(self, entry: LedgerEntry) -> None:
        self.pending.append(entry)

    def resolve(self, ts_ns: int, spot: float) -> list[LedgerEntry]:
        """Resolve every target this frame answers; return origins that became complete."""
        done: list[LedgerEntry] = []
        still: list[LedgerEntry] = []
        for e in self.pending:
            for h in range(self.H):
                if e.status[h] != PENDING:
                    continue
                target = e.target_ts(h)
                if abs(ts_ns - target) <= self.tolerance_ns:
                    e.actual[h] = (spot - e.spot) / e.tick_size
                    e.status[h] = RESOLVED
                    err = e.actual[h] - e.x_hat[h]
                    self.n[h] += 1
                    self.sum_abs[h] += abs(err)
                    self.sum_sq[h] += err * err
                elif ts_ns > target + self.tolerance_ns:
                    e.status[h] = EXPIRED
                    self.n_expired[h] += 1
            if e.complete:
                done.append(e)
                if self.keep_history:
                    self._history.append(e)
                if e.mask.any():
                    self.last_complete = e
            else:
                still.append(e)
        self.pending = still
        return done

    # -- accounting ----------------------------------------------------------------------
    def summary(self, dt: float = 0.5) -> pd.DataFrame:
        """Per-horizon count, MAE and RMSE (ticks) of resolved forecasts, and gaps."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return pd.DataFrame({
                "horizon": np.arange(1, self.H + 1),
                "seconds": np.arange(1, self.H + 1) * dt,
                "n": self.n, "expired": self.n_expired,
                "mae": self.sum_abs / self.n, "rmse": np.sqrt(self.sum_sq / self.n),
            })

    def history(self) -> pd.DataFrame:
        """One row per (origin, horizon) of completed origins: predicted, actual, error, status."""
        rows = self._history
        if not rows:
            return pd.DataFrame(columns=["origin_ts_ns", "horizon", "spot", "x_hat", "actual", "error", "status"])
        H = self.H
        origin = np.repeat([e.origin_ts_ns for e in rows], H)
        x_hat = np.concatenate([e.x_hat for e in rows])
        actual = np.concatenate([e.actual for e in rows])
        status = np.concatenate([e.status for e in rows])
        return pd.DataFrame({
            "origin_ts_ns": origin, "horizon": np.tile(np.arange(1, H + 1), len(rows)),
            "spot": np.repeat([e.spot for e in rows], H), "x_hat": x_hat, "actual": actual,
            "error": actual - x_hat,
            "status": pd.Categorical.from_codes(status, ["pending", "resolved", "expired"]),
        })
