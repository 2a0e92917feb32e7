"""numpy dtypes mirroring the structs of shaders/include/mp_params.h, field for field.

Every field is 4 bytes, so there is no padding on any target; a test parses the
header and checks these dtypes against it.
"""

from __future__ import annotations

import numpy as np

N_PARAMS = 5
MAX_H = 8
LEDGER_CAP = 16
N_FIELDS = 7
FIELD_ROWS = ("U", "C", "G", "O", "D", "dU", "dO")
"""Row order of a composed frame (MP_F_* in mp_common.h)."""

u4, i4, f4 = np.dtype("<u4"), np.dtype("<i4"), np.dtype("<f4")

COMPOSE_PARAMS = np.dtype([("n", u4), ("n_frames", u4), ("cells", u4), ("grid_n", i4), ("dx", f4), ("n_walls", u4)])

ROLLOUT_PARAMS = np.dtype([
    ("n", u4), ("lanes", u4), ("cells", u4), ("grid_n", i4), ("dx", f4), ("horizons", u4), ("substeps", u4), ("h", f4),
    ("a_max", f4), ("v_max", f4), ("sensitivities", u4), ("diffusion", u4), ("seed_lo", u4), ("seed_hi", u4),
    ("stream", u4), ("lane_offset", u4), ("theta_stride", u4), ("v0_stride", u4), ("x0_stride", u4),
    ("tabled", u4)])

TABLE_PARAMS = np.dtype([("n", u4), ("theta", f4, (N_PARAMS,))])
PAIR_PARAMS = np.dtype([("n", u4), ("cells", u4)])
N_PAIRS = 4
"""Rows of a frame's pair table (dU/dx, C, G, dO/dx as cell i, i+1; MP_P_* in mp_integrator.h)."""
N_TABLE = 3
"""Rows of a medium table (A, kappa, D; MP_T_* in mp_integrator.h)."""

RNG_PARAMS = np.dtype([("n", u4), ("n_steps", u4), ("seed_lo", u4), ("seed_hi", u4), ("stream", u4), ("lane_offset", u4)])

SELECT_PARAMS = np.dtype([("n", u4), ("rows", u4), ("cols", u4), ("n_ranks", u4), ("bins", u4)])
MAX_RANKS = 32

REPLAY_PARAMS = np.dtype([
    ("n", u4), ("lanes", u4), ("n_frames", u4), ("cells", u4), ("grid_n", i4), ("dx", f4), ("horizons", u4), ("substeps", u4),
    ("h", f4), ("a_max", f4), ("v_max", f4), ("dt_units", i4), ("tol_units", i4), ("write_trace", u4), ("paired", u4),
    ("lo", f4, (N_PARAMS,)), ("hi", f4, (N_PARAMS,))])

LANE_HYPER = np.dtype([("huber_delta", f4), ("forgetting", f4), ("damping", f4), ("ridge", f4), ("step_size", f4),
                       ("learn", u4), ("alpha", f4, (MAX_H,))])

LEDGER_SLOT = np.dtype([("t", i4), ("spot", f4), ("x_hat", f4, (MAX_H,)), ("jac", f4, (MAX_H * N_PARAMS,)),
                        ("theta", f4, (N_PARAMS,)), ("actual", f4, (MAX_H,)), ("status", u4, (MAX_H,))])

LANE_STATE = np.dtype([
    ("theta", f4, (N_PARAMS,)), ("A", f4, (N_PARAMS * N_PARAMS,)), ("n_updates", u4), ("bound_hits", u4, (N_PARAMS,)),
    ("loss_sum", f4), ("last_loss", f4), ("n_learned", u4), ("n_h", u4, (MAX_H,)), ("n_expired", u4, (MAX_H,)),
    ("sum_abs", f4, (MAX_H,)), ("sum_sq", f4, (MAX_H,)), ("stats", u4, (4,)), ("ledger_head", u4),
    ("ledger_count", u4), ("ledger_overflow", u4), ("ledger", LEDGER_SLOT, (LEDGER_CAP,))])

STRUCTS = {"ComposeParams": COMPOSE_PARAMS, "RolloutParams": ROLLOUT_PARAMS, "RngParams": RNG_PARAMS,
           "SelectParams": SELECT_PARAMS, "TableParams": TABLE_PARAMS, "PairParams": PAIR_PARAMS, "ReplayParams": REPLAY_PARAMS, "LaneHyper": LANE_HYPER,
           "LedgerSlot": LEDGER_SLOT, "LaneState": LANE_STATE}
"""Struct name in the headers -> numpy dtype."""


def pack(dtype: np.dtype, **values) -> np.ndarray:
    """One struct as a 1-element array; every field must be given (no silent zeros)."""
    missing = [n for n in dtype.names if n not in values]
    extra = [n for n in values if n not in dtype.names]
    if missing or extra:
        raise ValueError(f"packing {dtype}: missing fields {missing}, unknown fields {extra}")
    return np.array([tuple(values[n] for n in dtype.names)], dtype=dtype)
