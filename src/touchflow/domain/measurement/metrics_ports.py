"""What the metric rollups need from storage: raw events and run steps in arrival order, and the rollup table."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, Protocol

__all__ = ["MetricsRepository", "RawEvent", "RawStep", "RollupKey", "StoredRollup"]

Mark = tuple[datetime, str]  # (arrival stamp, id): the order rollups read raw rows in


@dataclass(frozen=True)
class RawEvent:
    id: str
    contact_id: str
    type: str
    occurred_at: datetime
    received_at: datetime
    properties: Mapping[str, Any]


@dataclass(frozen=True)
class RawStep:
    id: int
    journey_id: str
    node_id: str
    kind: str
    at: datetime
    detail: Mapping[str, Any]


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
    def events_after(self, after: Mark | None, horizon: datetime, types: Collection[str], limit: int,
                     occurred_from: datetime | None = None, through: Mark | None = None) -> list[RawEvent]:
        """Events of ``types`` with (received_at, id) past ``after``, received at or before ``horizon`` (and at
        or before ``through`` when given), occurred at or after ``occurred_from``; in (received_at, id) order."""
        ...

    def earlier_events(self, contact_ids: Collection[str], types: Collection[str], before: Mark) -> list[RawEvent]:
        """Those contacts' events of ``types`` that come before ``before`` in (received_at, id) order."""
        ...

    def steps_after(self, after: tuple[datetime, int] | None, horizon: datetime, kinds: Collection[str], limit: int,
                    at_from: datetime | None = None, through: tuple[datetime, int] | None = None) -> list[RawStep]:
        ...

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
