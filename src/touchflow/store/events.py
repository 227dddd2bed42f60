"""EventRepository on SQL: append-only, idempotent by event id."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, column, func, select, table

from touchflow.domain.contact_ports import StoredEvent
from touchflow.domain.events import EventInput
from touchflow.domain.measurement.rollup_columns import (
    AFTER_SEND,
    MessageColumns,
    message_columns,
    message_id_of,
    sent_event_id,
)
from touchflow.security.pii import PiiCodec
from touchflow.store.bulk import bulk_insert
from touchflow.store.pii_fields import identity_label
from touchflow.store.routing_reads import stored_properties
from touchflow.store.tables import events

__all__ = ["SqlEventRepository"]

_INSERT_COLUMNS = ("id", "contact_id", "type", "occurred_at", "received_at", "source", "properties", "identity",
                   *MessageColumns._fields)
_NO_COLUMNS = (None,) * len(MessageColumns._fields)
# PostgreSQL: the ids of stored events, one primary key across the monthly partitions (store/partitions.py)
_event_ids = table("event_ids", column("id"))


class SqlEventRepository:
    def __init__(self, connection: Connection, pii: PiiCodec | None = None) -> None:
        self._c = connection
        self._pii = pii  # encryption on: the identifier an event arrived with is kept as its blind index

    def _label(self, event: EventInput) -> str | None:
        if not event.identities:
            return None
        first = event.identities[0]
        return identity_label(self._pii, first)[:300]

    def existing_ids(self, ids: Collection[str]) -> set[str]:
        found: set[str] = set()
        id_list = list(set(ids))
        # PostgreSQL: one index instead of a probe into every month's partition
        key = _event_ids.c.id if self._c.dialect.name == "postgresql" else events.c.id
        for start in range(0, len(id_list), 500):
            chunk = id_list[start:start + 500]
            found.update(r[0] for r in self._c.execute(select(key).where(key.in_(chunk))))
        return found

    def insert(self, batch: Sequence[tuple[EventInput, str]], received_at: datetime) -> None:
        if not batch:
            return
        versions = self._sent_versions([e for e, _ in batch])
        rows = []
        for e, contact_id in batch:
            dims = message_columns(e.id, e.type, e.properties, e.occurred_at,
                                   versions.get(message_id_of(e.id, e.properties)) if e.type in AFTER_SEND else None)
            rows.append((e.id, contact_id, e.type, e.occurred_at, received_at, e.source, e.properties,
                         self._label(e), *(dims or _NO_COLUMNS)))
        # A concurrent duplicate (same id, other transaction) is ignored rather than failing the batch.
        if self._c.dialect.name != "postgresql":
            bulk_insert(self._c, events, _INSERT_COLUMNS, rows, ignore_conflicts=True)
            return
        # PostgreSQL (ADR 0054, migration 0036): the batch's ids are claimed in event_ids by one statement, in
        # key order, and only the rows that won their id are written, with the per-row dedupe trigger skipped.
        claimed = self._claim_ids(sorted({row[0] for row in rows}))
        first: dict[str, tuple[Any, ...]] = {}
        for row in rows:
            if row[0] in claimed:
                first.setdefault(row[0], row)  # a repeated id in the batch: the first one written stays
        if not first:
            return
        self._c.exec_driver_sql("SELECT set_config('touchflow.event_ids_claimed', 'on', true)")
        bulk_insert(self._c, events, _INSERT_COLUMNS, list(first.values()), ignore_conflicts=True)
        self._c.exec_driver_sql("SELECT set_config('touchflow.event_ids_claimed', 'off', true)")

    def _claim_ids(self, ids: Sequence[str]) -> set[str]:
        """Insert ``ids`` into event_ids; those that were not there yet (a concurrent writer's wait on the key)."""
        claimed: set[str] = set()
        for start in range(0, len(ids), 2000):
            claimed.update(self._c.exec_driver_sql(
                "INSERT INTO event_ids (id) SELECT unnest(%(ids)s::varchar[]) ORDER BY 1 "
                "ON CONFLICT DO NOTHING RETURNING id", {"ids": list(ids[start:start + 2000])}).scalars())
        return claimed

    def _sent_versions(self, batch: Sequence[EventInput]) -> dict[str, Any]:
        """Template versions of the sends that later events of ``batch`` inherit (rollup columns, ADR 0033): the
        stored ``message_sent`` event's, else the first one in the batch (a repeated id is not stored)."""
        wanted = {message_id_of(e.id, e.properties) for e in batch
                  if e.type in AFTER_SEND and "template_version" not in e.properties}
        if not wanted:
            return {}
        stored = self.properties_of([sent_event_id(m) for m in wanted])
        versions: dict[str, Any] = {}
        for e in batch:
            mid = message_id_of(e.id, e.properties)
            if e.type == "message_sent" and e.id == sent_event_id(mid) and mid in wanted and e.id not in stored:
                stored[e.id] = dict(e.properties)
        for key, props in stored.items():
            if "template_version" in props:
                versions[key[2:-5]] = props["template_version"]
        return versions

    def properties_of(self, ids: Collection[str]) -> dict[str, dict[str, Any]]:
        return stored_properties(self._c, sorted(set(ids)))  # through the driver: a routing batch's events

    def recent(self, contact_id: str, limit: int) -> list[StoredEvent]:
        rows = self._c.execute(select(events).where(events.c.contact_id == contact_id)
                               .order_by(events.c.occurred_at.desc(), events.c.id).limit(limit))
        return [StoredEvent(r.id, r.contact_id, r.type, r.occurred_at, r.received_at, r.source, r.properties)
                for r in rows]

    def count_for(self, contact_id: str) -> int:
        return int(self._c.execute(select(func.count()).select_from(events)
                                   .where(events.c.contact_id == contact_id)).scalar_one())

    def count(self) -> int:
        return int(self._c.execute(select(func.count()).select_from(events)).scalar_one())
