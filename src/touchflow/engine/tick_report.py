"""What one tick of the runtime did, and where its time went.

``spent`` is wall-clock seconds per part of the tick (routing, timers, each periodic pass …). A worker's tick is
one number to its capacity report; the parts say which of them grows when a tick's tail grows (issue 17's
soak), without a profiler attached to a production worker.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

__all__ = ["TickReport", "part_name"]


@dataclass
class TickReport:
    events: int = 0
    entered: int = 0
    advanced: int = 0
    timers: int = 0
    scanned: int = 0
    dispatched: int = 0
    errors: list[str] = field(default_factory=list)
    spent: dict[str, float] = field(default_factory=dict)  # seconds by part of the tick

    @property
    def work(self) -> int:
        return self.events + self.timers + self.scanned + self.dispatched

    def add(self, other: TickReport) -> None:
        self.events += other.events
        self.entered += other.entered
        self.advanced += other.advanced
        self.timers += other.timers
        self.scanned += other.scanned
        self.dispatched += other.dispatched
        self.errors.extend(other.errors)
        for part, seconds in other.spent.items():
            self.spent[part] = self.spent.get(part, 0.0) + seconds

    @contextmanager
    def timed(self, part: str) -> Iterator[None]:
        """Add the block's wall-clock seconds to ``spent[part]`` (also when it raises)."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.spent[part] = self.spent.get(part, 0.0) + time.perf_counter() - started


def part_name(chore: Callable[[], object]) -> str:
    """A periodic pass's name in ``TickReport.spent``: its function's name, else its class's (``ReportPass``)."""
    target = getattr(chore, "func", chore)  # a functools.partial: the function it wraps
    return str(getattr(target, "__name__", None) or type(target).__name__)
