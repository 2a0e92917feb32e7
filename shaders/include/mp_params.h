// Parameter and state structs shared by the kernels. Every field is 4 bytes
// (uint, int, float or arrays of them) so the layout is identical in Metal,
// C++ and the numpy dtypes of marketphys/kernels/layout.py (a test compares them).
#ifndef MP_PARAMS_H
#define MP_PARAMS_H

struct ComposeParams {
    uint n;          // threads: one per frame
    uint n_frames;
    uint cells;
    int grid_n;
    float dx;
    uint n_walls;    // walls per frame (padded with zero strength)
};

struct RolloutParams {
    uint n;          // threads: ceil(lanes / MP_LANES)
    uint lanes;
    uint cells;
    int grid_n;
    float dx;
    uint horizons;
    uint substeps;
    float h;
    float a_max;
    float v_max;
    uint sensitivities;
    uint diffusion;
    uint seed_lo;
    uint seed_hi;
    uint stream;
    uint lane_offset;
    uint theta_stride;  // 0: one theta for all lanes, 5: one per lane
    uint v0_stride;     // 0 or 1
    uint x0_stride;     // 0 or 1
    uint tabled;        // fields hold medium_table rows (theta_stride 0, no sensitivities)
};

struct TableParams {
    uint n;          // threads: one per cell
    float theta[5];
};

struct RngParams {
    uint n;          // lanes * steps
    uint n_steps;
    uint seed_lo;
    uint seed_hi;
    uint stream;
    uint lane_offset;
};

struct SelectParams {
    uint n;          // threads: one per column
    uint rows;
    uint cols;
    uint n_ranks;    // ranks, ascending, unique, each < rows, at most 32
    uint bins;       // histogram bins per column
};

struct PairParams {
    uint n;          // threads: one per frame
    uint cells;
};

struct ReplayParams {
    uint n;          // threads: ceil(lanes / MP_LANES)
    uint lanes;
    uint n_frames;
    uint cells;
    int grid_n;
    float dx;
    uint horizons;
    uint substeps;
    float h;
    float a_max;
    float v_max;
    int dt_units;    // frame cadence in clock units
    int tol_units;   // ledger tolerance in clock units
    uint write_trace;
    uint paired;     // read the pair rows (pair_rows) instead of the composed fields
    float lo[5];
    float hi[5];
};

struct LaneHyper {
    float huber_delta;
    float forgetting;
    float damping;
    float ridge;
    float step_size;
    uint learn;
    float alpha[8];
};

struct LedgerSlot {
    int t;               // origin time in clock units
    float spot;          // origin spot, ticks from the session anchor
    float x_hat[8];
    float jac[40];       // [h][p]
    float theta[5];      // theta used for the forecast
    float actual[8];
    uint status[8];      // 0 pending, 1 resolved, 2 expired
};

struct LaneState {
    float theta[5];
    float A[25];         // RLS information matrix, row-major
    uint n_updates;
    uint bound_hits[5];
    float loss_sum;
    float last_loss;
    uint n_learned;
    uint n_h[8];
    uint n_expired[8];
    float sum_abs[8];
    float sum_sq[8];
    uint stats[4];       // clamp_a, clamp_v, nonfinite, off_grid
    uint ledger_head;
    uint ledger_count;
    uint ledger_overflow;
    LedgerSlot ledger[16];
};

#endif
