"""What the metric rollups need from storage: raw events and run steps counted by group, and the rollup table."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, Protocol
from zoneinfo import ZoneInfo

__all__ = ["EventGroup", "MetricsRepository", "RollupKey", "StepGroup", "StoredRollup", "Window"]

@dataclass(frozen=True)
class Window:
    """Which rows of a commit sequence a pass counts: [low, high) except ``skip`` (transactions still open), plus
    ``extra`` (transactions that were open at the last pass and have finished). ``counted_low`` and
    ``uncounted`` say what was counted before it (sequence < counted_low, except ``uncounted``), which decides
    a message's first open. ``carry``: the open transactions the next pass must look at again. SQLite has one
    writer at a time, so there ``skip``, ``extra`` and ``carry`` stay empty."""

    low: int
    high: int
    skip: tuple[int, ...] = ()
    extra: tuple[int, ...] = ()
    counted_low: int = 0
    uncounted: tuple[int, ...] = ()
    carry: tuple[int, ...] = ()

    @property
    def empty(self) -> bool:
        return self.high <= self.low and not self.extra


@dataclass(frozen=True)
class EventGroup:
    """Counts of message events that share a local day and the message columns."""

    day: str  # YYYY-MM-DD, workspace zone
    journey_id: str
    node_id: str
    template: str
    channel: str
    reason: str
    events: int
    counts: dict[str, int]


@dataclass(frozen=True)
class StepGroup:
    """Entries and goals (with their revenue) of run steps that share a local day and a node."""

    day: str
    journey_id: str
    node_id: str
    steps: int
    entered: int
    converted: int
    revenue: float


class RollupKey(NamedTuple):  # a tuple: hashed millions of times by a full rollup
    day: str  # YYYY-MM-DD, workspace zone
    journey_id: str
    node_id: str
    template: str
    channel: str
    segment: str
    reason: str  # "" except for guardrail-skip rows


@dataclass(frozen=True)
class StoredRollup:
    key: RollupKey
    counts: Mapping[str, int]
    revenue: float


class MetricsRepository(Protocol):
    def events_window(self, low: int, pending: Sequence[int], horizon: datetime) -> Window:
        """The events to count after ``low`` (and the ``pending`` transactions of the last pass): those committed
        for good, up to the first one received after ``horizon``."""
        ...

    def steps_window(self, low: int, pending: Sequence[int], horizon: datetime) -> Window: ...

    def count_events(self, window: Window, zone: ZoneInfo, *,
                     occurred_from: datetime | None = None) -> list[EventGroup]:
        """Counts of the message events in ``window`` (occurred at or after ``occurred_from``), by local day of
        ``zone`` and message columns; opens and clicks also counted once per message."""
        ...

    def count_steps(self, window: Window, zone: ZoneInfo, *, at_from: datetime | None = None) -> list[StepGroup]: ...

    def add(self, deltas: Mapping[RollupKey, tuple[Mapping[str, int], float]]) -> None:
        """Add counts (and revenue) to rollup rows, creating missing rows."""
        ...

    def delete_from(self, day: str) -> None: ...
    def rows(self, start: str, end: str, journey_ids: Sequence[str] | None,
             group: Sequence[str] | None = None) -> list[StoredRollup]:
        """Rollup rows of days ``start``..``end``; with ``group`` (key columns), summed in the database over the
        other columns, which come back as ``""`` (``reason`` is always kept)."""
        ...
    def add_ingest_timing(self, at: datetime, events: int, seconds: float) -> None: ...
    def ingest_timings(self, since: datetime) -> list[float]: ...
    def prune_ingest_timings(self, before: datetime) -> int:
        """Forget acknowledgement timings older than ``before``; returns how many."""
        ...
    def entry_lags(self, since: datetime, limit: int) -> list[float]:
        """Seconds from a triggering event's arrival to its run's entry, for runs entered since ``since``."""
        ...
    def survey_scores(self, start: datetime, end: datetime) -> list[tuple[str, Any]]:
        """(contact id, ``score`` property) of ``survey_response`` events that occurred in [start, end)."""
        ...
