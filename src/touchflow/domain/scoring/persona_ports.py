"""What the persona and assignment use cases need from storage. ``store/personas.py`` implements it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from touchflow.domain.messaging.followup import TimelinessLine
from touchflow.domain.outbox import TaskTiming

__all__ = ["AssignmentRepository", "PersonaRecord", "PersonaRepository"]


@dataclass(frozen=True)
class PersonaRecord:
    key: str
    name: str
    definition: dict[str, Any]  # domain.personas.persona_to_data
    created_at: datetime
    updated_at: datetime
    updated_by: str


class PersonaRepository(Protocol):
    def get(self, key: str) -> PersonaRecord | None: ...
    def all(self) -> list[PersonaRecord]: ...

    def save(self, key: str, name: str, definition: dict[str, Any], by: str, at: datetime) -> bool:
        """Insert or replace; True when the persona is new."""
        ...


class AssignmentRepository(Protocol):
    def advance(self, name: str, count: int, at: datetime) -> int:
        """Take ``count`` turns of the round-robin ``name``; returns how many were taken before. The row stays
        locked until the transaction ends, so concurrent writers take consecutive, never the same, turns."""
        ...

    def cursors(self) -> dict[str, int]: ...
    def tasks_since(self, since: datetime) -> list[TaskTiming]:
        """What the timeliness report reads of every task created at or after ``since``."""
        ...

    def timeliness(self, since: datetime, now: datetime) -> list[TimelinessLine]:
        """``followup.timeliness(tasks_since(since), now)`` computed by the database (counts and percentiles in
        SQL): what the console's task page shows."""
        ...
