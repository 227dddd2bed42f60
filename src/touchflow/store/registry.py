"""Small repositories: sources, rejects, audit log, API keys, tag rules."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, func, insert, select, update

from touchflow.domain.contacts import Scalar
from touchflow.domain.events import JSONValue
from touchflow.domain.governance.account_ports import ApiKeyRecord
from touchflow.domain.sources import Source
from touchflow.domain.tagging import TagRule
from touchflow.store.audit import SqlAuditRepository
from touchflow.store.tables import api_keys, rejects, sources, tag_rules

__all__ = [
    "SqlApiKeyRepository", "SqlAuditRepository", "SqlRejectRepository", "SqlSourceRepository",
    "SqlTagRuleRepository",
]


class SqlSourceRepository:
    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def get(self, name: str) -> Source | None:
        row = self._c.execute(select(sources).where(sources.c.name == name)).first()
        return None if row is None else Source(row.name, row.kind, row.priority, row.sync_mode, row.received,
                                               row.accepted, row.rejected, row.last_sync_at)

    def save(self, source: Source) -> None:
        values = {"kind": source.kind, "priority": source.priority, "sync_mode": source.sync_mode}
        if self.get(source.name) is None:
            self._c.execute(insert(sources).values(name=source.name, received=0, accepted=0, rejected=0,
                                                   **values))
        else:
            self._c.execute(update(sources).where(sources.c.name == source.name).values(**values))

    def record_sync(self, name: str, received: int, accepted: int, rejected: int, at: datetime) -> None:
        self._c.execute(update(sources).where(sources.c.name == name).values(
            received=sources.c.received + received, accepted=sources.c.accepted + accepted,
            rejected=sources.c.rejected + rejected, last_sync_at=at))

    def all(self) -> list[Source]:
        rows = self._c.execute(select(sources).order_by(sources.c.priority.desc(), sources.c.name))
        return [Source(r.name, r.kind, r.priority, r.sync_mode, r.received, r.accepted, r.rejected,
                       r.last_sync_at) for r in rows]


class SqlRejectRepository:
    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def add(self, kind: str, source: str, row: int | None, payload: JSONValue, reason: str,
            at: datetime) -> None:
        self._c.execute(insert(rejects).values(kind=kind, source=source, row_number=row, payload=payload,
                                               reason=reason, at=at))

    def existing(self, kind: str, source: str, rows: Sequence[int]) -> list[tuple[int, str, JSONValue]]:
        """Rejects already kept for these rows of this source: (row, reason, payload)."""
        found: list[tuple[int, str, JSONValue]] = []
        t = rejects
        for start in range(0, len(rows), 500):
            query = select(t.c.row_number, t.c.reason, t.c.payload).where(
                t.c.kind == kind, t.c.source == source, t.c.row_number.in_(rows[start:start + 500]))
            found.extend((int(r.row_number), str(r.reason), r.payload) for r in self._c.execute(query))
        return found

    def summary(self) -> dict[str, int]:
        rows = self._c.execute(select(rejects.c.reason, func.count()).group_by(rejects.c.reason))
        return {reason: int(n) for reason, n in rows}


class SqlApiKeyRepository:
    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def add(self, record: ApiKeyRecord) -> None:
        self._c.execute(insert(api_keys).values(
            id=record.id, name=record.name, key_hash=record.key_hash, created_at=record.created_at,
            revoked_at=record.revoked_at, role=record.role, scopes=_scopes_out(record.scopes),
            owner_user_id=record.owner_user_id, service_account=record.service_account,
            last_used_at=record.last_used_at))

    def by_hash(self, key_hash: str) -> ApiKeyRecord | None:
        row = self._c.execute(select(api_keys).where(api_keys.c.key_hash == key_hash)).first()
        return None if row is None else _api_key(row)

    def all(self) -> list[ApiKeyRecord]:
        rows = self._c.execute(select(api_keys).order_by(api_keys.c.created_at))
        return [_api_key(r) for r in rows]

    def revoke(self, key_id: str, at: datetime) -> bool:
        result = self._c.execute(update(api_keys).where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
                                 .values(revoked_at=at))
        return bool(result.rowcount)

    def touch(self, key_id: str, at: datetime) -> None:
        self._c.execute(update(api_keys).where(api_keys.c.id == key_id).values(last_used_at=at))

    def revoke_owned_by(self, owner_user_id: str, at: datetime) -> int:
        result = self._c.execute(update(api_keys).where(api_keys.c.owner_user_id == owner_user_id,
                                                        api_keys.c.revoked_at.is_(None)).values(revoked_at=at))
        return int(result.rowcount or 0)

    def set_owner_role(self, owner_user_id: str, role: str) -> int:
        result = self._c.execute(update(api_keys).where(api_keys.c.owner_user_id == owner_user_id)
                                 .values(role=role))
        return int(result.rowcount or 0)


def _scopes_out(scopes: frozenset[str] | None) -> list[str] | None:
    return None if scopes is None else sorted(scopes)


def _api_key(row: Row[Any]) -> ApiKeyRecord:
    scopes = row.scopes
    return ApiKeyRecord(row.id, row.name, row.key_hash, row.created_at, row.revoked_at, role=row.role or "",
                        scopes=None if scopes is None else frozenset(map(str, scopes)),
                        owner_user_id=row.owner_user_id, service_account=row.service_account,
                        last_used_at=row.last_used_at)


class SqlTagRuleRepository:
    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def all(self) -> list[TagRule]:
        rows = self._c.execute(select(tag_rules).order_by(tag_rules.c.name))
        return [TagRule(r.name, r.field, r.op, _rule_value(r.value), r.tag) for r in rows]

    def save(self, rule: TagRule) -> None:
        value = list(rule.value) if isinstance(rule.value, tuple) else rule.value
        self._c.execute(tag_rules.delete().where(tag_rules.c.name == rule.name))
        self._c.execute(insert(tag_rules).values(name=rule.name, field=rule.field, op=rule.op, value=value,
                                                 tag=rule.tag))


def _rule_value(raw: object) -> Scalar | tuple[Scalar, ...] | None:
    if isinstance(raw, list):
        return tuple(raw)
    if raw is None or isinstance(raw, str | int | float | bool):
        return raw
    raise ValueError(f"tag rule value of unsupported type: {raw!r}")
