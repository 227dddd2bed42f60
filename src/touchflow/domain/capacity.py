"""Capacity (A8): how busy each worker is, how far behind each queue is, and how many workers to add.

Every worker reports the share of the last window it spent working (``busy_share``) and the lag of each queue
(seconds the oldest due item has waited). The cluster's utilisation is the mean busy share of the live workers;
when it stays above a rule's limit for the rule's window, the capacity alert says how many workers would bring it
back under the limit (ADR 0047).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Protocol

__all__ = ["CapacityRepository", "CapacitySample", "WorkerLoad", "sustained_above", "utilisation", "workers_to_add"]


@dataclass(frozen=True)
class WorkerLoad:
    worker_id: str
    host: str
    pid: int
    started_at: datetime
    reported_at: datetime
    busy_share: float
    queue_lag: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class CapacitySample:
    """The cluster at one minute: how many workers were live, their mean busy share, and how long the worst
    queue's oldest due item had waited."""

    at: datetime
    workers: int
    busy_share: float
    queue_lag_s: float = 0.0


class CapacityRepository(Protocol):
    def report(self, load: WorkerLoad) -> None: ...
    def loads(self, since: datetime) -> list[WorkerLoad]: ...
    def queue_lag(self, now: datetime) -> dict[str, float]: ...
    def add_sample(self, sample: CapacitySample) -> bool: ...
    def samples(self, since: datetime) -> list[CapacitySample]: ...


def utilisation(loads: Sequence[WorkerLoad]) -> float:
    return sum(w.busy_share for w in loads) / len(loads) if loads else 0.0


def workers_to_add(workers: int, busy_share: float, limit: float) -> int:
    """Workers to add so that the same work spread over more of them keeps each under ``limit``."""
    if workers <= 0 or busy_share <= limit:
        return 0
    needed = math.floor(workers * busy_share / limit) + 1
    return max(1, needed - workers)


def sustained_above(samples: Sequence[CapacitySample], limit: float, window: timedelta, now: datetime,
                    every: timedelta = timedelta(minutes=1), behind: timedelta = timedelta(0)) -> bool:
    """The samples have stayed above ``limit`` — and, with ``behind``, a queue more than ``behind`` late — for at
    least ``window`` up to now: the unbroken run of such samples that ends with the newest began ``window`` ago or
    earlier. A gap longer than two sampling periods breaks the run (a cluster nobody sampled is not known to be
    busy), and so does a newest sample older than that.

    Busy alone is not enough (ADR 0069): under a steady feed a worker that keeps up still finds work every tick
    (its passes are bounded, and new events have always arrived), so it reports near 100 % while every queue is
    seconds old. Adding a worker helps only when the work waits."""
    ordered = sorted(samples, key=lambda s: s.at, reverse=True)
    if not ordered or now - ordered[0].at > 2 * every:
        return False
    start: datetime | None = None
    for newer, older in pairwise([None, *ordered]):
        if older is None or older.busy_share <= limit or older.workers <= 0:
            break
        if behind and older.queue_lag_s <= behind.total_seconds():
            break
        if newer is not None and newer.at - older.at > 2 * every:
            break
        start = older.at
    return start is not None and start <= now - window
