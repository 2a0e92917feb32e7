"""The build's stages, in run order: an explicit list, so what ``build`` runs is read here, not
assembled by imports. A stage runs on every day whose inputs include all the kinds it ``needs``;
later stages read what earlier ones noted in the day's ``ctx`` (definitions before the books, the
futures book before the options stage, which takes its spot from the futures snaps)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .futures_stage import (bronze_definition_stage, bronze_option_mbo_stage, bronze_statistics_stage,
                            silver_futures_stage)
from .options_stage import options_stage


@dataclass(frozen=True)
class Stage:
    name: str
    needs: frozenset
    run: Callable  # (day: DayInputs, staged: StagedLake, settings: Settings, ctx: dict) -> dict (summary)


STAGES: tuple[Stage, ...] = (
    Stage("bronze.definition", frozenset({"definition"}), bronze_definition_stage),
    Stage("bronze.statistics", frozenset({"statistics"}), bronze_statistics_stage),
    Stage("bronze.future_option_mbo", frozenset({"option_mbo"}), bronze_option_mbo_stage),
    Stage("silver.future_mbo", frozenset({"future_mbo"}), silver_futures_stage),
    Stage("silver.future_option_mbo", frozenset({"option_mbo", "definition", "statistics"}), options_stage),
)
