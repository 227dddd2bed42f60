"""The audit log on SQL: rows appended to a hash chain (``domain/governance/audit_chain.py``, ADR 0024).

Appending reads the last row and writes the next one with ``id = last id + 1`` and ``prev_hash = last hash``.
Writers must not interleave there: PostgreSQL takes a transaction-scoped advisory lock first (held to commit,
so concurrent writers queue and the chain stays linear); SQLite writers already hold the database's only write
lock from BEGIN IMMEDIATE. Ids are given, not drawn from a sequence, so they stay dense.

On PostgreSQL a trigger refuses UPDATE and DELETE on ``audit_log`` unless the transaction said it is the purge
(``purge_before`` sets ``touchflow.audit_purge``); on SQLite one refuses UPDATE. A guard against mistakes and
careless tools, not against an owner of the database — that is what the chain and the anchors outside it are
for.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, Select, delete, func, insert, select, text

from touchflow.domain.events import JSONValue
from touchflow.domain.governance.audit_chain import (
    GENESIS,
    PURGE_ACTION,
    AuditRow,
    Checkpoint,
    normalise_json,
    row_hash,
    state_digest,
)
from touchflow.domain.governance.audit_ports import NOT_GIVEN, AuditQuery
from touchflow.security.request_context import current_request
from touchflow.store.tables import audit_log

__all__ = ["AUDIT_LOCK_KEY", "GUARD_FUNCTION", "GUARD_TRIGGER", "PURGE_SETTING", "SQLITE_GUARD_TRIGGER",
           "SqlAuditRepository"]

AUDIT_LOCK_KEY = 0x7475636866_00A7  # "touchf" · audit: the advisory lock every audit writer takes (PostgreSQL)
PURGE_SETTING = "touchflow.audit_purge"


def _row(r: Row[Any]) -> AuditRow:
    return AuditRow(r.id, r.at, r.actor, r.action, r.subject, r.details, r.before_digest, r.after_digest,
                    r.request_id, r.ip, r.user_agent, r.prev_hash, r.hash)


class SqlAuditRepository:
    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def _lock(self) -> None:
        if self._c.dialect.name == "postgresql":
            self._c.execute(select(func.pg_advisory_xact_lock(AUDIT_LOCK_KEY)))

    def record(self, actor: str, action: str, subject: str, details: dict[str, JSONValue], at: datetime, *,
               before: Any = NOT_GIVEN, after: Any = NOT_GIVEN) -> None:
        self._lock()
        last = self._c.execute(select(audit_log.c.id, audit_log.c.hash)
                               .order_by(audit_log.c.id.desc()).limit(1)).first()
        context = current_request()
        row = AuditRow(
            id=(last.id if last else 0) + 1, at=at, actor=actor, action=action, subject=subject,
            details=normalise_json(details),
            before_digest=None if before is NOT_GIVEN else state_digest(before),
            after_digest=None if after is NOT_GIVEN else state_digest(after),
            request_id=context.request_id if context else None, ip=context.ip if context else None,
            user_agent=context.user_agent if context else None,
            prev_hash=last.hash if last else GENESIS)  # empty: a purge always leaves its own row
        values = {**row.__dict__, "hash": row_hash(row.prev_hash, row)}
        self._c.execute(insert(audit_log).values(**values))

    def rows_after(self, after_id: int, limit: int) -> list[AuditRow]:
        query = select(audit_log).where(audit_log.c.id > after_id).order_by(audit_log.c.id).limit(limit)
        return [_row(r) for r in self._c.execute(query)]

    def last(self) -> AuditRow | None:
        r = self._c.execute(select(audit_log).order_by(audit_log.c.id.desc()).limit(1)).first()
        return None if r is None else _row(r)

    def checkpoint(self) -> Checkpoint | None:
        r = self._c.execute(select(audit_log.c.details).where(audit_log.c.action == PURGE_ACTION)
                            .order_by(audit_log.c.id.desc()).limit(1)).first()
        if r is None:
            return None
        details = r.details
        return Checkpoint(int(details["through_id"]), str(details["through_hash"]))

    def search(self, query: AuditQuery, limit: int) -> list[AuditRow]:
        return [_row(r) for r in self._c.execute(_where(select(audit_log), query)
                                                 .order_by(audit_log.c.id).limit(limit))]

    def purge_before(self, cutoff: datetime, actor: str, at: datetime) -> tuple[int, Checkpoint] | None:
        self._lock()
        first_kept = self._c.execute(select(func.min(audit_log.c.id)).where(audit_log.c.at >= cutoff)).scalar()
        through_query = select(audit_log.c.id, audit_log.c.hash).order_by(audit_log.c.id.desc()).limit(1)
        if first_kept is not None:
            through_query = through_query.where(audit_log.c.id < first_kept)
        through = self._c.execute(through_query).first()
        if through is None:
            return None
        checkpoint = Checkpoint(through.id, through.hash)
        count = int(self._c.execute(select(func.count()).select_from(audit_log)
                                    .where(audit_log.c.id <= through.id)).scalar_one())
        # the purge row first: it is newer than every purged row, so it stays and names where the chain starts
        self.record(actor, PURGE_ACTION, "audit_log", {
            "before": cutoff.isoformat(), "through_id": checkpoint.through_id,
            "through_hash": checkpoint.through_hash, "deleted": count}, at)
        if self._c.dialect.name == "postgresql":
            self._c.execute(select(func.set_config(PURGE_SETTING, "on", True)))
        self._c.execute(delete(audit_log).where(audit_log.c.id <= through.id))
        if self._c.dialect.name == "postgresql":
            self._c.execute(select(func.set_config(PURGE_SETTING, "off", True)))
        return count, checkpoint


def _where(query: Select[Any], q: AuditQuery) -> Select[Any]:
    c = audit_log.c
    if q.after_id:
        query = query.where(c.id > q.after_id)
    if q.actor is not None:
        query = query.where(c.actor == q.actor)
    if q.action is not None:
        query = query.where(c.action.startswith(q.action, autoescape=True) if q.action.endswith(".")
                            else c.action == q.action)
    if q.subject is not None:
        query = query.where(c.subject == q.subject)
    if q.since is not None:
        query = query.where(c.at >= q.since)
    if q.until is not None:
        query = query.where(c.at < q.until)
    if q.request_id is not None:
        query = query.where(c.request_id == q.request_id)
    return query


GUARD_FUNCTION = text(f"""
CREATE OR REPLACE FUNCTION touchflow_audit_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('{PURGE_SETTING}', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only (% refused; rows older than two years leave only through '
                    '`touchflow audit purge`)', TG_OP;
END
$$ LANGUAGE plpgsql
""")
GUARD_TRIGGER = text("""
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
FOR EACH ROW EXECUTE FUNCTION touchflow_audit_append_only()
""")
# SQLite: no per-transaction setting a trigger could read, so only UPDATE is refused (the purge deletes). A
# later batch migration that recreates audit_log must create it again.
SQLITE_GUARD_TRIGGER = text("""
CREATE TRIGGER audit_log_append_only BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only (UPDATE refused)'); END
""")
