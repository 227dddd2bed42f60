"""What the metric rollups need from storage: raw events and run steps counted by group, and the rollup table."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, Protocol

__all__ = ["EventGroup", "MetricsRepository", "RollupKey", "StepGroup", "StoredRollup"]

@dataclass(frozen=True)
class EventGroup:
    """Counts of message events that share a UTC hour (or quarter hour) and the message columns."""

    bucket: datetime
    journey_id: str
    node_id: str
    template: str
    channel: str
    reason: str
    events: int
    counts: dict[str, int]


@dataclass(frozen=True)
class StepGroup:
    """Entries and goals (with their revenue) of run steps that share a UTC hour (or quarter) and a node."""

    bucket: datetime
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
    def events_high(self, low: int, horizon: datetime) -> int:
        """The commit sequence (exclusive) up to which events are settled: committed for good (no transaction
        still open below it) and none received after ``horizon`` before it."""
        ...

    def steps_high(self, low: int, horizon: datetime) -> int: ...

    def count_events(self, low: int, high: int, *, quarter: bool = False,
                     occurred_from: datetime | None = None) -> list[EventGroup]:
        """Counts of message events with sequence in [low, high) (occurred at or after ``occurred_from``), by
        UTC hour (quarter hour) and message columns; opens and clicks also counted once per message."""
        ...

    def count_steps(self, low: int, high: int, *, quarter: bool = False,
                    at_from: datetime | None = None) -> list[StepGroup]: ...

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
    def entry_lags(self, since: datetime, limit: int) -> list[float]:
        """Seconds from a triggering event's arrival to its run's entry, for runs entered since ``since``."""
        ...
    def survey_scores(self, start: datetime, end: datetime) -> list[tuple[str, Any]]:
        """(contact id, ``score`` property) of ``survey_response`` events that occurred in [start, end)."""
        ...
