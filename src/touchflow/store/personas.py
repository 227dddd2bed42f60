"""Personas, round-robin cursors for task assignment, and the task rows the timeliness report reads."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update
from sqlalchemy.dialects import postgresql, sqlite

from touchflow.domain.messaging.followup import TimelinessLine
from touchflow.domain.outbox import TaskTiming
from touchflow.domain.scoring.persona_ports import PersonaRecord
from touchflow.store.tables import assignment_cursors, personas, tasks
from touchflow.store.timeliness import timeliness_lines

__all__ = ["SqlAssignmentRepository", "SqlPersonaRepository"]


def _persona(r: Any) -> PersonaRecord:
    return PersonaRecord(r.key, r.name, dict(r.definition), r.created_at, r.updated_at, r.updated_by)


class SqlPersonaRepository:
    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def get(self, key: str) -> PersonaRecord | None:
        row = self._c.execute(select(personas).where(personas.c.key == key)).first()
        return None if row is None else _persona(row)

    def all(self) -> list[PersonaRecord]:
        return [_persona(r) for r in self._c.execute(select(personas).order_by(personas.c.key))]

    def save(self, key: str, name: str, definition: dict[str, Any], by: str, at: datetime) -> bool:
        done = self._c.execute(update(personas).where(personas.c.key == key)
                               .values(name=name, definition=definition, updated_at=at, updated_by=by))
        if done.rowcount:
            return False
        self._c.execute(personas.insert().values(key=key, name=name, definition=definition, created_at=at,
                                                 updated_at=at, updated_by=by))
        return True


class SqlAssignmentRepository:
    def __init__(self, connection: Connection) -> None:
        self._c = connection
        self._pg = connection.dialect.name == "postgresql"

    def advance(self, name: str, count: int, at: datetime) -> int:
        # One upsert: it creates the row or adds to it under the row's lock, and returns the new position,
        # so two workers can never both read the same position (no read-then-write race).
        if count <= 0:
            raise ValueError("count: take at least one turn")
        values = {"name": name, "position": count, "updated_at": at}
        dialect = postgresql if self._pg else sqlite
        upsert: Any = dialect.insert(assignment_cursors).values(values)
        statement = upsert.on_conflict_do_update(index_elements=[assignment_cursors.c.name], set_={
            "position": assignment_cursors.c.position + upsert.excluded.position, "updated_at": at})
        return int(self._c.execute(statement.returning(assignment_cursors.c.position)).scalar_one()) - count

    def cursors(self) -> dict[str, int]:
        return {r.name: int(r.position) for r in self._c.execute(select(assignment_cursors)
                                                                 .order_by(assignment_cursors.c.name))}

    def tasks_since(self, since: datetime) -> list[TaskTiming]:
        t = tasks.c  # the six columns the report reads, not whole records (20k tasks a month at 1M contacts)
        query = (select(t.queue, t.assignee, t.status, t.created_at, t.due_at, t.done_at)
                 .where(t.created_at >= since).order_by(t.created_at, t.id))
        return [TaskTiming(*r) for r in self._c.execute(query)]

    def timeliness(self, since: datetime, now: datetime) -> list[TimelinessLine]:
        return timeliness_lines(self._c, since, now)
