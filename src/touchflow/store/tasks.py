"""Hand-off tasks: listing, completing, and finding the ones whose SLA deadline passed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, case, func, select, update

from touchflow.domain.outbox import TaskRecord
from touchflow.store.tables import tasks

__all__ = ["SqlTaskRepository"]


def _task_from(r: Any) -> TaskRecord:
    return TaskRecord(r.id, r.idempotency_key, r.contact_id, r.run_id, r.journey_id, r.node_id, r.queue, r.title,
                      r.assignee, r.status, r.created_at, r.due_at, r.done_at, r.breached_at)


class SqlTaskRepository:
    def __init__(self, connection: Connection) -> None:
        self._c = connection
        self._pg = connection.dialect.name == "postgresql"

    def get(self, task_id: str) -> TaskRecord | None:
        row = self._c.execute(select(tasks).where(tasks.c.id == task_id)).first()
        return None if row is None else _task_from(row)

    def find(self, queue: str | None, status: str | None, limit: int,
             assignee: str | None = None) -> list[TaskRecord]:
        query = select(tasks).order_by(tasks.c.due_at, tasks.c.id).limit(limit)
        if assignee is not None:
            query = query.where(tasks.c.assignee == assignee)
        if queue is not None:
            query = query.where(tasks.c.queue == queue)
        if status is not None:
            query = query.where(tasks.c.status == status)
        return [_task_from(r) for r in self._c.execute(query)]

    def contacts_assigned(self, assignee: str, limit: int) -> list[str]:
        query = (select(tasks.c.contact_id).where(tasks.c.assignee == assignee, tasks.c.contact_id.is_not(None))
                 .distinct()
                 .order_by(tasks.c.contact_id).limit(limit))
        return [r[0] for r in self._c.execute(query)]

    def overdue(self, now: datetime, limit: int) -> list[TaskRecord]:
        query = (select(tasks).where(tasks.c.status == "open", tasks.c.due_at <= now, tasks.c.breached_at.is_(None))
                 .order_by(tasks.c.due_at).limit(limit))
        if self._pg:
            query = query.with_for_update(skip_locked=True)
        return [_task_from(r) for r in self._c.execute(query)]

    def next_deadline(self) -> datetime | None:
        found: datetime | None = self._c.execute(select(func.min(tasks.c.due_at)).where(
            tasks.c.status == "open", tasks.c.breached_at.is_(None))).scalar_one()
        return found

    def mark_breached(self, task_ids: Sequence[str], at: datetime) -> None:
        if task_ids:
            self._c.execute(update(tasks).where(tasks.c.id.in_(list(task_ids))).values(breached_at=at))

    def complete(self, task_id: str, at: datetime) -> bool:
        done = self._c.execute(update(tasks).where(tasks.c.id == task_id, tasks.c.status == "open")
                               .values(status="done", done_at=at))
        return bool(done.rowcount)

    def stats(self, since: datetime) -> list[tuple[str, str | None, int, int]]:
        in_time = func.sum(case((and_(tasks.c.status == "done", tasks.c.done_at <= tasks.c.due_at), 1), else_=0))
        done = func.sum(case((tasks.c.status == "done", 1), else_=0))
        query = (select(tasks.c.queue, tasks.c.assignee, func.count(), done, in_time)
                 .where(tasks.c.created_at >= since).group_by(tasks.c.queue, tasks.c.assignee)
                 .order_by(tasks.c.queue, tasks.c.assignee))
        return [(q, a, int(d or 0), int(t or 0)) for q, a, _, d, t in self._c.execute(query)]
