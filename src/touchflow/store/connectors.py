"""Connectors and their runs; the run lease is a conditional UPDATE, so it works alike on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, and_, case, func, insert, or_, select, update

from touchflow.domain.connectors import Connector, ConnectorRun
from touchflow.domain.events import JSONValue
from touchflow.store.tables import connector_runs, connectors

__all__ = ["SqlConnectorRepository"]


def _wrap(value: JSONValue) -> dict[str, JSONValue]:
    """A cursor as ``{"v": value}``: SQLite gives a JSON column numeric affinity, so a bare ``3`` would come back
    as an integer the JSON reader refuses."""
    return {"v": value}


def _unwrap(doc: Any) -> JSONValue:
    return doc.get("v") if isinstance(doc, dict) else None


def _connector(r: Any) -> Connector:
    return Connector(r.name, r.kind, dict(r.settings), r.record_kind, r.event_type, dict(r.mapping), r.cursor_field,
                     r.schedule, r.status, r.secret, tuple(r.secret_names), _unwrap(r.cursor_value), r.next_run_at,
                     tuple(r.columns), r.created_at, r.updated_at)


def _run(r: Any) -> ConnectorRun:
    return ConnectorRun(r.id, r.connector, r.started_at, r.trigger, r.actor, r.status, r.finished_at, r.read,
                        r.accepted, r.rejected, r.retried, r.error, tuple(r.warnings), _unwrap(r.cursor_before),
                        _unwrap(r.cursor_after), dict(r.details))


def _run_values(run: ConnectorRun) -> dict[str, Any]:
    return {"id": run.id, "connector": run.connector, "trigger": run.trigger, "actor": run.actor,
            "status": run.status, "started_at": run.started_at, "finished_at": run.finished_at, "read": run.read,
            "accepted": run.accepted, "rejected": run.rejected, "retried": run.retried, "error": run.error,
            "warnings": list(run.warnings), "cursor_before": _wrap(run.cursor_before),
            "cursor_after": _wrap(run.cursor_after), "details": dict(run.details)}


class SqlConnectorRepository:
    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def get(self, name: str) -> Connector | None:
        row = self._c.execute(select(connectors).where(connectors.c.name == name)).first()
        return None if row is None else _connector(row)

    def all(self) -> list[Connector]:
        return [_connector(r) for r in self._c.execute(select(connectors).order_by(connectors.c.name))]

    def save(self, connector: Connector) -> None:
        values = {"kind": connector.kind, "settings": dict(connector.settings), "secret": connector.secret,
                  "secret_names": list(connector.secret_names), "record_kind": connector.record_kind,
                  "event_type": connector.event_type, "mapping": dict(connector.mapping),
                  "cursor_field": connector.cursor, "schedule": connector.schedule, "status": connector.status,
                  "next_run_at": connector.next_run_at, "updated_at": connector.updated_at}
        done = self._c.execute(update(connectors).where(connectors.c.name == connector.name).values(**values))
        if done.rowcount == 0:
            self._c.execute(insert(connectors).values(
                name=connector.name, cursor_value=_wrap(connector.cursor_value), columns=list(connector.columns),
                created_at=connector.created_at or connector.updated_at, **values))

    def due(self, now: datetime, limit: int) -> list[Connector]:
        query = (select(connectors)
                 .where(connectors.c.status == "active", connectors.c.next_run_at.is_not(None),
                        connectors.c.next_run_at <= now,
                        or_(connectors.c.lease_until.is_(None), connectors.c.lease_until < now))
                 .order_by(connectors.c.next_run_at).limit(limit))
        return [_connector(r) for r in self._c.execute(query)]

    def claim(self, name: str, owner: str, now: datetime, until: datetime, *, steal_from: str | None = None
              ) -> bool:
        free = or_(connectors.c.lease_owner.is_(None), connectors.c.lease_until.is_(None),
                   connectors.c.lease_until < now, connectors.c.lease_owner == owner)
        if steal_from is not None:
            free = or_(free, connectors.c.lease_owner == steal_from)
        done = self._c.execute(update(connectors).where(and_(connectors.c.name == name, free))
                               .values(lease_owner=owner, lease_until=until))
        return bool(done.rowcount)

    def lease_owner(self, name: str) -> tuple[str | None, datetime | None]:
        row = self._c.execute(select(connectors.c.lease_owner, connectors.c.lease_until)
                              .where(connectors.c.name == name)).first()
        return (None, None) if row is None else (row.lease_owner, row.lease_until)

    def extend(self, name: str, owner: str, until: datetime) -> bool:
        done = self._c.execute(update(connectors).where(connectors.c.name == name, connectors.c.lease_owner == owner)
                               .values(lease_until=until))
        return bool(done.rowcount)

    def release(self, name: str, owner: str, next_run_at: datetime | None) -> None:
        self._c.execute(update(connectors).where(connectors.c.name == name, connectors.c.lease_owner == owner)
                        .values(lease_owner=None, lease_until=None, next_run_at=next_run_at))

    def commit_cursor(self, name: str, value: JSONValue, columns: Sequence[str] | None) -> None:
        values: dict[str, Any] = {"cursor_value": _wrap(value)}
        if columns is not None:
            values["columns"] = list(columns)
        self._c.execute(update(connectors).where(connectors.c.name == name).values(**values))

    def add_run(self, run: ConnectorRun) -> None:
        self._c.execute(insert(connector_runs).values(**_run_values(run)))

    def update_run(self, run: ConnectorRun) -> None:
        values = _run_values(run)
        del values["id"]
        self._c.execute(update(connector_runs).where(connector_runs.c.id == run.id).values(**values))

    def runs(self, name: str, limit: int) -> list[ConnectorRun]:
        query = (select(connector_runs).where(connector_runs.c.connector == name)
                 .order_by(connector_runs.c.started_at.desc(), connector_runs.c.id.desc()).limit(limit))
        return [_run(r) for r in self._c.execute(query)]

    def running(self, name: str) -> list[ConnectorRun]:
        query = select(connector_runs).where(connector_runs.c.connector == name, connector_runs.c.status == "running")
        return [_run(r) for r in self._c.execute(query)]

    def run_counts(self, since: datetime | None = None) -> dict[str, tuple[int, int]]:
        ok = func.sum(case((connector_runs.c.status == "succeeded", 1), else_=0))
        query = (select(connector_runs.c.connector, func.count(), ok)
                 .where(connector_runs.c.status != "running").group_by(connector_runs.c.connector))
        if since is not None:
            query = query.where(connector_runs.c.started_at >= since)
        return {name: (int(total), int(cast(int, good) or 0)) for name, total, good in self._c.execute(query)}

    def set_status(self, name: str, status: str, next_run_at: datetime | None, at: datetime) -> None:
        self._c.execute(update(connectors).where(connectors.c.name == name)
                        .values(status=status, next_run_at=next_run_at, updated_at=at))
