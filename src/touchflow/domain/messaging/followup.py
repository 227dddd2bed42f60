"""Follow-up timeliness (A6, target ≥ 90%) and lead response time, per person and per team (queue).

A task counts once its outcome is known: done (within its deadline or late) or still open past its
deadline (late). Open tasks not yet due are pending and left out, so an ignored lead cannot flatter the
share by simply staying open. Response time is created → done, for done tasks.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Protocol

__all__ = ["TIMELINESS_TARGET", "TimelinessLine", "percentile", "timeliness"]

TIMELINESS_TARGET = 0.9


class Timed(Protocol):
    """What the report reads of a task (a ``TaskRecord`` has it; the store reads only these columns)."""

    @property
    def queue(self) -> str: ...
    @property
    def assignee(self) -> str | None: ...
    @property
    def status(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def due_at(self) -> datetime: ...
    @property
    def done_at(self) -> datetime | None: ...


@dataclass(frozen=True)
class TimelinessLine:
    scope: Literal["person", "team"]
    queue: str
    assignee: str | None  # None: unassigned tasks (person scope) or the whole queue (team scope)
    within_sla: int  # done by the deadline
    done_late: int
    open_late: int  # still open, deadline passed
    pending: int  # open, not due yet: not counted
    p50_response: timedelta | None
    p90_response: timedelta | None

    @property
    def counted(self) -> int:
        return self.within_sla + self.done_late + self.open_late

    @property
    def share(self) -> float | None:
        return None if self.counted == 0 else self.within_sla / self.counted

    @property
    def meets_target(self) -> bool:
        return self.share is not None and self.share >= TIMELINESS_TARGET


def percentile(values: Sequence[timedelta], q: float) -> timedelta | None:
    """Nearest-rank percentile (the smallest value with at least ``q`` of the values at or below it)."""
    if not values:
        return None
    if not 0 < q <= 1:
        raise ValueError("q must be in (0, 1]")
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


def _line(scope: Literal["person", "team"], queue: str, assignee: str | None, tasks: Iterable[Timed],
          now: datetime) -> TimelinessLine:
    within = late = open_late = pending = 0
    responses: list[timedelta] = []
    for t in tasks:
        if t.status == "done" and t.done_at is not None:
            responses.append(t.done_at - t.created_at)
            if t.done_at <= t.due_at:
                within += 1
            else:
                late += 1
        elif t.due_at < now:
            open_late += 1
        else:
            pending += 1
    return TimelinessLine(scope, queue, assignee, within, late, open_late, pending,
                          percentile(responses, 0.5), percentile(responses, 0.9))


def timeliness(tasks: Iterable[Timed], now: datetime) -> list[TimelinessLine]:
    """One line per (queue, person), then one per queue for the whole team; sorted, unassigned last."""
    by_person: dict[tuple[str, str | None], list[Timed]] = defaultdict(list)
    by_queue: dict[str, list[Timed]] = defaultdict(list)
    for t in tasks:
        by_person[(t.queue, t.assignee)].append(t)
        by_queue[t.queue].append(t)
    order = sorted(by_person, key=lambda qa: (qa[0], qa[1] is None, qa[1] or ""))
    lines = [_line("person", q, a, by_person[(q, a)], now) for q, a in order]
    lines += [_line("team", q, None, items, now) for q, items in sorted(by_queue.items())]
    return lines
