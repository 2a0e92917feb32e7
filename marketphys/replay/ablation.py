"""Ablation in one call: does a producer add skill? Same frames, with and without it.

Both runs use the same frames, θ0, settings and baselines; the result has both
scorecards, the per-horizon RMSE difference and a Diebold-Mariano test of the engine
with the producer against the engine without it (negative: the producer helps).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

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


__all__ = ["Ablation", "ablate", "diebold_mariano"]
