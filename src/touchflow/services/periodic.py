"""The gate of the worker's periodic passes (rollups, approvals, experiments, reports): each runs at most once every
``every`` of the clock's time, so the tick can call them all on every turn and the sandbox's virtual clock drives
them like the real one."""

from __future__ import annotations

from datetime import datetime, timedelta

from touchflow.clock import Clock

__all__ = ["Every"]


class Every:
    def __init__(self, clock: Clock, every: timedelta) -> None:
        self.clock = clock
        self.every = every
        self._next: datetime | None = None

    def due(self) -> datetime | None:
        """The clock's now when the pass is due (and the next one is then ``every`` later), else None."""
        now = self.clock.now()
        if self._next is not None and now < self._next:
            return None
        self._next = now + self.every
        return now
