"""Ports of the privacy (PIPL) and incident (P7) repositories; the SQL adapters are store/privacy.py and
store/incidents.py."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

__all__ = [
    "ConsentEntry",
    "ErasureCounts",
    "IncidentRecord",
    "IncidentRepository",
    "IncidentStepRecord",
    "PersonData",
    "PrivacyRepository",
]


@dataclass(frozen=True)
class ConsentEntry:
    contact_id: str
    channel: str
    status: str  # granted | denied
    source: str
    at: datetime
    recorded_at: datetime | None = None


@dataclass
class PersonData:
    """What the store holds about one person beyond the profile: every event, message, task and score."""

    events: list[dict[str, Any]] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    tasks: list[dict[str, Any]] = field(default_factory=list)
    scores: list[dict[str, Any]] = field(default_factory=list)
    journeys: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class ErasureCounts:
    identities: int
    events: int
    messages: int
    tasks: int
    runs: int


class PrivacyRepository(Protocol):
    def consent_history(self, contact_ids: Collection[str]) -> list[ConsentEntry]: ...
    def record_consents(self, entries: Sequence[ConsentEntry]) -> None: ...
    def person_data(self, contact_ids: Collection[str]) -> PersonData: ...
    def has_tombstones(self) -> bool: ...
    def tombstoned(self, digests: Collection[str]) -> dict[str, str]: ...  # digest -> request id
    def add_tombstones(self, entries: Sequence[tuple[str, str]], request_id: str, at: datetime) -> None: ...
    def merged_into(self, contact_id: str) -> list[str]: ...
    def erase(self, contact_ids: Collection[str], marker: dict[str, Any], at: datetime) -> ErasureCounts: ...


@dataclass(frozen=True)
class IncidentRecord:
    id: str
    summary: str
    status: str  # open | closed
    drill: bool
    opened_at: datetime
    opened_by: str
    window_start: datetime
    segment: str | None
    details: dict[str, Any]
    closed_at: datetime | None = None
    closed_by: str | None = None


@dataclass(frozen=True)
class IncidentStepRecord:
    incident_id: str
    step: str
    due_at: datetime
    done_at: datetime | None = None
    done_by: str | None = None
    note: str | None = None


class IncidentRepository(Protocol):
    def add(self, incident: IncidentRecord, steps: Sequence[IncidentStepRecord]) -> None: ...
    def get(self, incident_id: str) -> IncidentRecord | None: ...
    def all(self, status: str | None = None) -> list[IncidentRecord]: ...
    def steps(self, incident_ids: Collection[str]) -> list[IncidentStepRecord]: ...
    def mark_step(self, incident_id: str, step: str, at: datetime, by: str, note: str | None) -> bool: ...
    def close(self, incident_id: str, at: datetime, by: str) -> bool: ...
    def update_details(self, incident_id: str, details: dict[str, Any]) -> None: ...
    def revoke_api_keys(self, at: datetime) -> int: ...
    def revoke_sessions(self, at: datetime) -> int: ...
    def touched_contacts(self, since: datetime, until: datetime, segment: str | None) -> list[str]: ...
    def timeline(self, incident_id: str) -> list[tuple[datetime, str, str, dict[str, Any]]]: ...
