"""Fan ``build`` out over many days on Dask: a LocalCluster by default, a scheduler by address.

Each day is one task running ``build.build_day`` (a pure function of the day's inputs and
the lake; it stages its writes and moves them into place only when the whole day
succeeded), so days are independent and a failed day leaves the lake untouched. Gold
normalisation looks at earlier days only, so once all days are in, ``gold.settle`` gives each
day the calibration it would have had built in date order (a day may finish before an earlier one).
No scheduling logic lives here: Dask distributes, retries and reports.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from .build import Settings, build_day, group_days, usable_inputs


@contextmanager
def dask_client(scheduler: str | None = None, n_workers: int = 2, threads_per_worker: int = 1,
                processes: bool = True):
    """A distributed Client: connected to ``scheduler`` (e.g. 'tcp://host:8786') or to a new LocalCluster."""
    from dask.distributed import Client, LocalCluster

    if scheduler:
        client = Client(scheduler)
        try:
            yield client
        finally:
            client.close()
        return
    if n_workers < 1:
        raise ValueError(f"n_workers must be >= 1, got {n_workers}")
    with LocalCluster(n_workers=n_workers, threads_per_worker=threads_per_worker, processes=processes,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        yield client


def plan_days(inputs, strict: bool = False) -> tuple[list, list[str]]:
    """Group input files into days; returns (days, skipped-input notes)."""
    infos, skipped = usable_inputs(inputs, strict)
    return group_days(infos), skipped


def build_days(days, lake, scheduler: str | None = None, *, n_workers: int = 2, processes: bool = True,
               settings: Settings | None = None, progress: bool = True) -> list[dict]:
    """Build every day (``DayInputs`` from ``plan_days``, or paths) as one Dask task each.

    Returns one summary per day, in date order. A failing day raises after the others finish,
    naming the date.
    """
    if days and not hasattr(days[0], "date"):
        days, _ = plan_days(days)
    lake = Path(lake)
    lake.mkdir(parents=True, exist_ok=True)
    settings = settings or Settings(progress=False, carry_book=False)  # parallel days: no carried book
    with dask_client(scheduler, n_workers=n_workers, processes=processes) as client:
        futures = client.map(build_day, days, lake=lake, settings=settings, key=[f"build-{d.date}" for d in days],
                             pure=False)
        if progress:
            from dask.distributed import progress as dprogress
            try:
                dprogress(futures, notebook=False)
            except Exception:       # progress is cosmetic; never fail a build on it
                pass
        results, errors = [], []
        for day, fut in zip(days, futures):
            try:
                results.append(fut.result())
            except Exception as err:    # noqa: BLE001 - reported with the date below
                errors.append(f"{day.date}: {type(err).__name__}: {err}")
    if errors:
        raise RuntimeError("build failed for " + "; ".join(errors))
    from .gold import settle
    settle(lake, [r["date"] for r in results])  # days built side by side: each normalised by its earlier days
    return sorted(results, key=lambda r: r["date"])
