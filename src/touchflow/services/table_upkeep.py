"""The worker's pass that keeps the store's queue tables compact (``store/table_upkeep.py`` does the work)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta

from touchflow.services.context import ServiceContext
from touchflow.services.periodic import Every

__all__ = ["EVERY", "TableUpkeepPass"]

EVERY = timedelta(minutes=1)


class TableUpkeepPass:
    """Every ``EVERY`` of the clock's time, ``vacuum()`` (the store's); returns how many tables it vacuumed."""

    def __init__(self, ctx: ServiceContext, vacuum: Callable[[], Sequence[str]], every: timedelta = EVERY) -> None:
        self.gate = Every(ctx.clock, every)
        self.vacuum = vacuum

    def __call__(self) -> int:
        if self.gate.due() is None:
            return 0
        return len(self.vacuum())
