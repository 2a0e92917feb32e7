"""Ablation in one call: does a producer add skill? Same frames, with and without it.

Both runs use the same frames, θ0, settings and baselines; the result has both
scorecards, the per-horizon RMSE difference and a Diebold-Mariano test of the engine
with the producer against the engine without it (negative: the producer helps).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from marketphys.baselines.dm import diebold_mariano
from marketphys.baselines.scorecard import Scorecard, score_histories
from marketphys.core.producers import Producer


@dataclass
class Ablation:
    producer: str
    with_: Scorecard
    without: Scorecard
    table: pd.DataFrame      # horizon, n, rmse_with, rmse_without, rmse_diff, dm_stat, p_value

    def significant(self, alpha: float = 0.05) -> pd.Series:
        return self.table.set_index("horizon")["p_value"] < alpha

    def __str__(self) -> str:
        return (f"ablation of {self.producer!r} (negative rmse_diff / dm_stat: the producer adds skill)\n"
                + self.table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))

    def _repr_html_(self) -> str:
        return f"<b>ablation of {self.producer!r}</b>" + self.table.to_html(index=False, float_format=lambda v: f"{v:.4g}")


def ablate(source, producers: Sequence[Producer], drop: str, progress: bool = True, **session_kw) -> Ablation:
    """Run a session with ``producers`` and one without the producer named ``drop``; compare the engines."""
    from marketphys.replay.session import Session

    names = [p.name for p in producers]
    if drop not in names:
        raise ValueError(f"ablate: no producer named {drop!r}; producers are {names}")
    frames = list(source) if not isinstance(source, (str,)) and not hasattr(source, "restartable") else source
    runs = {}
    for label, prods in (("with", list(producers)), ("without", [p for p in producers if p.name != drop])):
        s = Session(frames, producers=prods, **session_kw)
        s.run(progress=progress)
        runs[label] = s
    h_with = runs["with"].engine.ledger.history()
    h_without = runs["without"].engine.ledger.history()
    card = score_histories({"engine": h_with, "without": h_without}, primary="engine", dt=runs["with"].config.integrator.dt)
    rows = []
    rm = card.metric("rmse")
    for h in rm.index:
        d = card.dm[(card.dm["horizon"] == h) & (card.dm["baseline"] == "without")].iloc[0]
        rows.append({"horizon": int(h), "n": int(d["n"]), "rmse_with": rm.loc[h, "engine"],
                     "rmse_without": rm.loc[h, "without"], "rmse_diff": rm.loc[h, "engine"] - rm.loc[h, "without"],
                     "dm_stat": d["stat"], "p_value": d["p_value"]})
    return Ablation(producer=drop, with_=runs["with"].scorecard(), without=runs["without"].scorecard(),
                    table=pd.DataFrame(rows))


TARGET_WEIGHT = {"U": "wU", "C": "wC", "G": "wG", "O": "wO", "walls": "wO", "D": None}


def ablate_day(frames, producers: Sequence[Producer], drop: str, config=None, backend: str = "auto",
               theta0=None) -> Ablation:
    """``ablate`` over a whole day with the replay kernel (``replay_day``): seconds instead of minutes.

    The comparison is of the raw rollouts (``physics``: the head would hide a producer that adds
    nothing by gating it off), DM on squared error, negative = the producer helps. The table adds the
    learned weight of the producer's field in the run with it (``weight``, its sign ``weight_sign``)
    and the emitted (head) RMSE with and without. ``with_`` holds the head scorecard (engine = with,
    without = without), ``without`` the raw-rollout one.
    """
    from marketphys.core.theta import PARAM_NAMES
    from marketphys.replay.batch import replay_day

    names = [p.name for p in producers]
    if drop not in names:
        raise ValueError(f"ablate_day: no producer named {drop!r}; producers are {names}")
    frames = list(frames)
    runs = {}
    for label, prods in (("with", list(producers)), ("without", [p for p in producers if p.name != drop])):
        for p in prods:
            p.reset()
        runs[label] = replay_day(frames, producers=prods, config=config, backend=backend, theta0=theta0,
                                 progress=False)
    hw, hwo = runs["with"].histories(baselines=False), runs["without"].histories(baselines=False)
    card = score_histories({"engine": hw["physics"], "without": hwo["physics"]}, primary="engine")
    head = score_histories({"engine": hw["engine"], "without": hwo["engine"]}, primary="engine")
    target = next(p.target for p in producers if p.name == drop)
    wname = TARGET_WEIGHT.get(target)
    w = float(runs["with"].final_theta[PARAM_NAMES.index(wname)]) if wname else float("nan")
    rows = []
    rm, rmh = card.metric("rmse"), head.metric("rmse")
    for h in rm.index:
        d = card.dm[(card.dm["horizon"] == h) & (card.dm["baseline"] == "without")].iloc[0]
        rows.append({"horizon": int(h), "n": int(d["n"]), "rmse_with": rm.loc[h, "engine"],
                     "rmse_without": rm.loc[h, "without"], "rmse_diff": rm.loc[h, "engine"] - rm.loc[h, "without"],
                     "dm_stat": d["stat"], "p_value": d["p_value"], "weight": w,
                     "weight_sign": int(np.sign(w)) if np.isfinite(w) else 0,
                     "head_rmse_with": rmh.loc[h, "engine"], "head_rmse_without": rmh.loc[h, "without"]})
    return Ablation(producer=drop, with_=head, without=card, table=pd.DataFrame(rows))


__all__ = ["Ablation", "ablate", "ablate_day", "diebold_mariano"]
