"""The write-back outbox: insert-once by idempotency key, claim due rows with a lease, settle them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from touchflow.domain.connectors.writeback import Change, OutboxRow
from touchflow.store.tables import writeback_outbox as t

__all__ = ["SqlWritebackRepository"]


def _row(r: Any) -> OutboxRow:
    value = r.value.get("v") if isinstance(r.value, dict) else None
    return OutboxRow(r.id, r.connector, r.contact_id, r.field, value, r.idempotency_key, r.status, r.attempts,
                     r.created_at, r.next_attempt_at, r.last_error, r.sent_at)


class SqlWritebackRepository:
    def __init__(self, connection: Connection) -> None:
        self.c = connection

    def add(self, rows: Sequence[tuple[str, Change, str]], now: datetime) -> int:
        """Insert (connector, change, key) rows; a key already there is skipped. Returns how many were new."""
        if not rows:
            return 0
        values = [{"connector": connector, "contact_id": ch.contact_id, "field": ch.field, "value": {"v": ch.value},
                   "idempotency_key": key, "status": "pending", "attempts": 0, "next_attempt_at": now,
                   "created_at": now} for connector, ch, key in rows]
        dialect = postgresql if self.c.dialect.name == "postgresql" else sqlite
        stmt = dialect.insert(t).on_conflict_do_nothing(index_elements=["idempotency_key"])
        return int(self.c.execute(stmt, values).rowcount or 0)

    def claim_due(self, now: datetime, limit: int, lease: timedelta) -> list[OutboxRow]:
        """Due pending rows, oldest first; each is leased (moved ``lease`` ahead) so a second worker skips it."""
        due = select(t.c.id).where(t.c.status == "pending", t.c.next_attempt_at <= now).order_by(t.c.id).limit(limit)
        if self.c.dialect.name == "postgresql":
            due = due.with_for_update(skip_locked=True)
        ids = list(self.c.execute(due).scalars())
        if not ids:
            return []
        self.c.execute(update(t).where(t.c.id.in_(ids)).values(next_attempt_at=now + lease))
        return [_row(r) for r in self.c.execute(select(t).where(t.c.id.in_(ids)).order_by(t.c.id))]

    def mark_sent(self, ids: Sequence[int], now: datetime) -> None:
        if ids:
            self.c.execute(update(t).where(t.c.id.in_(ids)).values(status="sent", sent_at=now, last_error=None,
                                                                     attempts=t.c.attempts + 1))

    def mark_failed(self, ids: Sequence[int], error: str, next_at: datetime | None) -> None:
        """One more failed attempt; ``next_at`` None makes the rows dead letters."""
        if ids:
            values: dict[str, Any] = {"attempts": t.c.attempts + 1, "last_error": error[:2000]}
            values.update({"status": "dead", "next_attempt_at": None} if next_at is None
                          else {"next_attempt_at": next_at})
            self.c.execute(update(t).where(t.c.id.in_(ids)).values(**values))

    def rows(self, connector: str, status: str | None, limit: int) -> list[OutboxRow]:
        query = select(t).where(t.c.connector == connector)
        if status is not None:
            query = query.where(t.c.status == status)
        return [_row(r) for r in self.c.execute(query.order_by(t.c.id.desc()).limit(limit))]

    def counts(self, connector: str) -> dict[str, int]:
        query = select(t.c.status, func.count()).where(t.c.connector == connector).group_by(t.c.status)
        return {str(status): int(n) for status, n in self.c.execute(query)}

    def requeue(self, connector: str, ids: Sequence[int] | None, now: datetime) -> int:
        """Dead letters back to pending with a fresh attempt count (all of the connector's, or ``ids``)."""
        query = update(t).where(t.c.connector == connector, t.c.status == "dead")
        if ids is not None:
            query = query.where(t.c.id.in_(ids))
        return int(self.c.execute(query.values(status="pending", attempts=0, next_attempt_at=now)).rowcount or 0)

    def discard(self, connector: str, ids: Sequence[int] | None) -> int:
        query = update(t).where(t.c.connector == connector, t.c.status == "dead")
        if ids is not None:
            query = query.where(t.c.id.in_(ids))
        return int(self.c.execute(query.values(status="discarded")).rowcount or 0)
