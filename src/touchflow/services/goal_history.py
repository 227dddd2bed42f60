"""The recorded daily values of key results (what ``goals.assess`` draws its trend from), for the goal table's
sparklines. Reads only; ``record_goal_values`` in ``services/goals.py`` writes them once a day."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from touchflow.services.context import ServiceContext

__all__ = ["goal_histories"]


def goal_histories(ctx: ServiceContext, keys: Iterable[str]) -> dict[str, list[tuple[date, float]]]:
    with ctx.reader() as uow:
        return {key: uow.reports.goal_history(key) for key in keys}
