"""Dataset contracts: one schema + invariants per lake dataset, in one registry.

Every stage writes, and every reader (serving, sessions) reads, through these.
Futures contracts live in ``contracts_futures``, options in ``contracts_options``;
both register here. ``docs/frontend_data.json`` is checked against this registry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import pyarrow as pa

SCHEMA_VERSION = "1.0.0"


class ContractError(ValueError):
    """A table broke its dataset's contract; names the dataset, the rule and a bad value."""


@dataclass(frozen=True)
class Contract:
    name: str                         # e.g. "silver.future_option_mbo.gex_surface_1s"
    schema: pa.Schema
    surface: str | None = None        # stream key when served (snap, wall, ..., gex, gex_flow)
    window_ms: int | None = None      # cadence of window_end_ts_ns
    rows_per_window: int | None = None
    description: str = ""
    invariants: tuple[Callable[[pa.Table], None], ...] = field(default=())

    def validate(self, table: pa.Table) -> pa.Table:
        """Check schema (names + types) and every invariant; return the table cast to the schema order."""
        present = set(table.column_names)  # built once: ``column_names`` makes a new list per call
        missing = [f.name for f in self.schema if f.name not in present]
        if missing:
            raise ContractError(f"{self.name}: missing columns {missing}")
        table = table.select(self.schema.names)
        for f, got in zip(self.schema, table.schema.types):  # select put the columns in schema order
            if got != f.type:
                raise ContractError(f"{self.name}: column {f.name!r} has type {got}, contract says {f.type}")
        for inv in self.invariants:
            inv(table)
        return table


REGISTRY: dict[str, Contract] = {}


def register(contract: Contract) -> Contract:
    if contract.name in REGISTRY:
        raise ValueError(f"contract {contract.name!r} registered twice")
    REGISTRY[contract.name] = contract
    return contract


def by_surface() -> dict[str, Contract]:
    """Served surface key -> contract (loads every contracts module)."""
    load_all()
    return {c.surface: c for c in REGISTRY.values() if c.surface}


def load_all() -> dict[str, Contract]:
    import importlib

    for mod in ("marketphys.pipeline.contracts_futures", "marketphys.pipeline.contracts_options"):
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as err:
            if err.name != mod:
                raise
    return REGISTRY
