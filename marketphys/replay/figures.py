"""A static three-band picture of one session moment (for reports and `make demo`).

Band A (≈65%): the medium around spot, terrain V = normalise(wU·U + wO·O) with the
current C and viscosity Γ; band B (≈20%): the forecast ladder x̂(t+1..t+H) of the
engine and baselines; band C (≈15%): the last resolved errors per horizon. The
interactive, spec-exact view is the Physics Lab widget; this is its printable cousin.
"""

from __future__ import annotations

import numpy as np


def three_band_png(session, path, title: str | None = None) -> str:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    f = session.fields_frame()
    th = session.theta
    fig, axes = plt.subplots(3, 1, figsize=(9, 7), sharex=True, gridspec_kw={"height_ratios": [65, 20, 15]})
    a, b, c = axes
    x = f["price"].to_numpy()
    V = th["wU"] * f["U"].to_numpy() + th["wO"] * f["O"].to_numpy()
    span = np.ptp(V)
    Vn = (V - V.min()) / span if span > 0 else np.zeros_like(V)
    a.fill_between(x, 0, Vn, color="#8d6e63", alpha=0.55, label="terrain V = norm(wU·U + wO·O)")
    G = f["G"].to_numpy()
    a.fill_between(x, 0, 1, where=G > np.median(G), color="#90a4ae", alpha=0.15, label="viscosity Γ above median")
    C = f["C"].to_numpy()
    cs = np.max(np.abs(C)) or 1.0
    a.plot(x, 0.5 + 0.4 * C / cs, color="#1e88e5", lw=1, label="current C (scaled)")
    for w in session.walls.itertuples():
        a.axvline(w.center, color="#c62828", alpha=min(1.0, 0.2 + w.strength / 10), lw=1.5)
    spot = session.frame.spot
    a.axvline(spot, color="k", lw=1)
    a.set_ylim(0, 1.05)
    a.set_ylabel("medium")
    a.legend(loc="upper left", fontsize=7)
    ff = session.forecast_frame()
    for i, row in ff.iterrows():
        b.plot([spot, row["engine"]], [i, i], color="#43a047", alpha=1.0 - 0.18 * i, lw=3)
        for name, col in (("random_walk", "#757575"), ("ar", "#fb8c00")):
            if name in ff:
                b.plot(row[name], i, "|", color=col, ms=10)
    b.set_yticks(range(len(ff)), [f"t+{s:g}s" for s in ff["seconds"]], fontsize=7)
    b.set_ylabel("forecast")
    e = session.ledger.last_complete
    if e is not None:
        err = (e.actual - e.x_hat) * e.tick_size
        for h, v in enumerate(err):
            if np.isfinite(v):
                c.plot([spot, spot + v], [h, h], color="#e53935", lw=3, alpha=1.0 - 0.18 * h)
                if abs(v) > 2 * e.tick_size:
                    c.text(spot + v, h, f"{v / e.tick_size:+.1f}t", fontsize=6, va="center")
    c.set_yticks(range(len(ff)), [f"h{h + 1}" for h in range(len(ff))], fontsize=7)
    c.set_ylabel("error")
    c.set_xlabel("price")
    half = 60 * session.frame.tick_size
    c.set_xlim(spot - half, spot + half)
    fig.suptitle(title or f"{session!r}"[:110], fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)
