"""GroundTruth: what the synthetic market really was, written beside its DBN files.

Static facts (θ, walls and their schedules, vacuums, smiles, settings) go to JSON; the
per-window series (latent and book mid, velocity, OFI/drift, wall strengths and phases,
vacuum amplitudes) go to Parquet. ``fields_at(w)`` rebuilds the engine's fields for any
window, so a test can ask whether the engine learned what was there.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from marketphys.core.fields import Fields
from marketphys.core.grid import Grid
from marketphys.core.theta import PARAM_NAMES
from marketphys.atomic import atomic_write_text
from marketphys.pipeline.lake import atomic_write_table
from marketphys.synth.config import TICK
from marketphys.synth.medium import fields_on_grid


@dataclass
class GroundTruth:
    theta: dict[str, float]
    config: dict
    window_start_ns: np.ndarray
    latent_mid: np.ndarray          # price at window start
    velocity: np.ndarray            # ticks/s at window start
    book_mid: np.ndarray            # futures book mid (price) at window start
    ofi: np.ndarray
    drift: np.ndarray               # C, ticks/s
    wall_strike: np.ndarray         # (K,) price
    wall_strength: np.ndarray       # (W, K)
    wall_phase: np.ndarray          # (W, K) +1 thickening, -1 eroding, 0 flat
    wall_schedule: list[dict]
    vacuum_level: np.ndarray        # (J,) price
    vacuum_amp: np.ndarray          # (W, J)
    smiles: dict
    guards: dict = field(default_factory=dict)

    @property
    def n_windows(self) -> int:
        return int(self.window_start_ns.shape[0])

    @property
    def theta_array(self) -> np.ndarray:
        return np.array([self.theta[n] for n in PARAM_NAMES])

    def fields_at(self, w: int, grid: Grid | None = None, spot: float | None = None) -> Fields:
        """The true fields of window ``w`` on the engine grid centred on ``spot`` (default: the latent mid)."""
        if not (0 <= w < self.n_windows):
            raise IndexError(f"GroundTruth.fields_at: window {w} out of range 0..{self.n_windows - 1}")
        grid = grid or Grid()
        c = self.config
        s = (self.latent_mid[w] if spot is None else spot) / TICK
        arrs = fields_on_grid(s, grid, self.wall_strike / TICK, self.wall_strength[w], c["wall_width_ticks"],
                              self.vacuum_level / TICK, self.vacuum_amp[w], c["vacuum_width_ticks"],
                              max(c["vacuum_depth"][1], 1e-9), c["viscosity"], float(self.drift[w]), c["diffusion"])
        return Fields.from_arrays(grid, **arrs)

    # -- files -------------------------------------------------------------------------
    def series_table(self) -> pa.Table:
        cols = {"window_start_ns": self.window_start_ns.astype(np.int64),
                "window_end_ts_ns": (self.window_start_ns + 500_000_000).astype(np.int64),
                "latent_mid": self.latent_mid, "velocity": self.velocity, "book_mid": self.book_mid,
                "ofi": self.ofi, "drift": self.drift}
        for k in range(self.wall_strike.shape[0]):
            cols[f"wall_strength_{k}"] = self.wall_strength[:, k]
            cols[f"wall_phase_{k}"] = self.wall_phase[:, k].astype(np.int8)
        for j in range(self.vacuum_level.shape[0]):
            cols[f"vacuum_amp_{j}"] = self.vacuum_amp[:, j]
        return pa.table(cols)

    def static_dict(self) -> dict:
        return {"theta": self.theta, "config": self.config, "wall_strike": self.wall_strike.tolist(),
                "wall_schedule": self.wall_schedule, "vacuum_level": self.vacuum_level.tolist(), "smiles": self.smiles,
                "guards": self.guards, "n_windows": self.n_windows,
                "fields": "O=Σ S_k·exp(-½((p-c_k)/σ_w)²); U=-Σ A_j·g_j(p); Γ=Γ0·max(1-0.6·ΣA_j g_j/A_max, 0.2); "
                          "C=ofi_gain·ofi; D=D0 (ticks, per window, zero-order hold)"}

    def write(self, json_path: Path, parquet_path: Path) -> None:
        atomic_write_table(self.series_table(), Path(parquet_path))
        atomic_write_text(Path(json_path), json.dumps(self.static_dict(), indent=1, sort_keys=True))

    @classmethod
    def read(cls, json_path: Path, parquet_path: Path) -> "GroundTruth":
        import pyarrow.parquet as pq

        st = json.loads(Path(json_path).read_text())
        t = pq.read_table(parquet_path)
        K, J = len(st["wall_strike"]), len(st["vacuum_level"])
        col = lambda name: t.column(name).to_numpy()  # noqa: E731
        W = t.num_rows
        ws = np.stack([col(f"wall_strength_{k}") for k in range(K)], axis=1) if K else np.zeros((W, 0))
        wp = np.stack([col(f"wall_phase_{k}") for k in range(K)], axis=1) if K else np.zeros((W, 0), np.int8)
        va = np.stack([col(f"vacuum_amp_{j}") for j in range(J)], axis=1) if J else np.zeros((W, 0))
        return cls(theta=st["theta"], config=st["config"], window_start_ns=col("window_start_ns"),
                   latent_mid=col("latent_mid"), velocity=col("velocity"), book_mid=col("book_mid"), ofi=col("ofi"),
                   drift=col("drift"), wall_strike=np.array(st["wall_strike"], float), wall_strength=ws, wall_phase=wp,
                   wall_schedule=st["wall_schedule"], vacuum_level=np.array(st["vacuum_level"], float), vacuum_amp=va,
                   smiles=st["smiles"], guards=st.get("guards", {}))

