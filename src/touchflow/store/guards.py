"""Guard state: complaint freezes, suppressions, workspace settings, channel configs, and the send gate.

The send gate (ADR 0007) makes "no message is sent after a freeze commits" hold across processes:
PostgreSQL uses transaction-scoped advisory locks per contact (senders shared, a freeze exclusive);
SQLite, which lives on one machine, uses ``flock`` on a file beside the database (one lock for all
contacts: freezes are rare and wait at most one provider call).
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from touchflow.domain.guardrails.ports import ChannelConfig, Freeze, Suppression
from touchflow.security.pii import PiiCodec
from touchflow.store.bulk import bulk_insert
from touchflow.store.pii_fields import identity_value
from touchflow.store.tables import (
    channel_configs,
    contact_freezes,
    contact_identities,
    suppressions,
    workspace_settings,
)

__all__ = ["SqlGuardRepository"]

_CHUNK = 500
_GATE_NAMESPACE = 7_402_117  # first key of the two-key advisory lock form; the runtime uses the one-key form
_MEMORY_GATE = threading.Lock()


def _freeze_from(r: Any) -> Freeze:
    return Freeze(r.id, r.contact_id, r.frozen_at, r.reason, r.event_id, r.task_id, r.lifted_at, r.lifted_by,
                  r.lift_reason)


class SqlGuardRepository:
    def __init__(self, connection: Connection, on_end: list[Callable[[], None]],
                 pii: PiiCodec | None = None) -> None:
        self._c = connection
        self._pii = pii
        self._pg = connection.dialect.name == "postgresql"
        self._on_end = on_end  # run by the unit of work when the transaction ends

    def addresses(self, contact_ids: Collection[str]) -> dict[str, dict[str, str]]:
        """Each contact's first identifier of each kind (the oldest; then the smallest value): where to send."""
        found: dict[str, dict[str, str]] = {}
        ids = sorted(set(contact_ids))
        t = contact_identities
        for start in range(0, len(ids), _CHUNK):
            query = (select(t.c.contact_id, t.c.kind, t.c.value, t.c.value_ct, t.c.created_at)
                     .where(t.c.contact_id.in_(ids[start:start + _CHUNK])))
            rows = [(created_at, identity_value(self._pii, kind, value, sealed), contact_id, kind)
                    for contact_id, kind, value, sealed, created_at in self._c.execute(query)]
            for _, value, contact_id, kind in sorted(rows):
                found.setdefault(contact_id, {}).setdefault(kind, value)
        return found

    # --- complaint freezes ---------------------------------------------------------------------

    def frozen_among(self, contact_ids: Collection[str]) -> set[str]:
        frozen: set[str] = set()
        ids = sorted(set(contact_ids))
        for start in range(0, len(ids), _CHUNK):
            frozen.update(self._c.execute(select(contact_freezes.c.contact_id).where(
                contact_freezes.c.contact_id.in_(ids[start:start + _CHUNK]),
                contact_freezes.c.lifted_at.is_(None))).scalars())
        return frozen

    def freeze(self, freeze: Freeze) -> None:
        self._c.execute(insert(contact_freezes).values(
            id=freeze.id, contact_id=freeze.contact_id, frozen_at=freeze.frozen_at, reason=freeze.reason,
            event_id=freeze.event_id, task_id=freeze.task_id))

    def active_freeze(self, contact_id: str) -> Freeze | None:
        row = self._c.execute(select(contact_freezes).where(contact_freezes.c.contact_id == contact_id,
                                                            contact_freezes.c.lifted_at.is_(None))
                              .order_by(contact_freezes.c.frozen_at).limit(1)).first()
        return None if row is None else _freeze_from(row)

    def lift(self, contact_id: str, by: str, reason: str, at: datetime) -> Freeze | None:
        current = self.active_freeze(contact_id)
        if current is None:
            return None
        self._c.execute(update(contact_freezes).where(contact_freezes.c.contact_id == contact_id,
                                                      contact_freezes.c.lifted_at.is_(None))
                        .values(lifted_at=at, lifted_by=by, lift_reason=reason))
        return Freeze(current.id, contact_id, current.frozen_at, current.reason, current.event_id, current.task_id,
                      at, by, reason)

    def freezes_of(self, contact_id: str) -> list[Freeze]:
        query = select(contact_freezes).where(contact_freezes.c.contact_id == contact_id).order_by(
            contact_freezes.c.frozen_at)
        return [_freeze_from(r) for r in self._c.execute(query)]

    # --- suppressions --------------------------------------------------------------------------

    def suppressed(self, pairs: Collection[tuple[str, str]]) -> set[tuple[str, str]]:
        found: set[tuple[str, str]] = set()
        by_channel: dict[str, list[str]] = {}
        for channel, address in pairs:
            by_channel.setdefault(channel, []).append(address)
        for channel, addresses in by_channel.items():
            for start in range(0, len(addresses), _CHUNK):
                rows = self._c.execute(select(suppressions.c.address).where(
                    suppressions.c.channel == channel, suppressions.c.address.in_(addresses[start:start + _CHUNK])))
                found.update((channel, a) for a in rows.scalars())
        return found

    def suppress(self, rows: Sequence[Suppression]) -> None:
        bulk_insert(self._c, suppressions, ("channel", "address", "reason", "source", "at"),
                    [(s.channel, s.address, s.reason, s.source, s.at) for s in rows], ignore_conflicts=True)

    def unsuppress(self, channel: str, address: str) -> bool:
        done = self._c.execute(delete(suppressions).where(suppressions.c.channel == channel,
                                                          suppressions.c.address == address))
        return bool(done.rowcount)

    def suppressions(self, channel: str | None, limit: int) -> list[Suppression]:
        query = select(suppressions).order_by(suppressions.c.at.desc()).limit(limit)
        if channel is not None:
            query = query.where(suppressions.c.channel == channel)
        return [Suppression(r.channel, r.address, r.reason, r.source, r.at) for r in self._c.execute(query)]

    # --- settings and channel configs ----------------------------------------------------------

    def setting(self, key: str) -> dict[str, Any] | None:
        value = self._c.execute(select(workspace_settings.c.value).where(workspace_settings.c.key == key)).scalar()
        return None if value is None else dict(value)

    def set_setting(self, key: str, value: Mapping[str, Any], by: str, at: datetime) -> None:
        """Insert or replace in one statement (two workers writing a new key at once do not clash)."""
        dialect_insert = pg_insert if self._pg else sqlite_insert
        statement = dialect_insert(workspace_settings).values(key=key, value=dict(value), updated_at=at,
                                                              updated_by=by)
        self._c.execute(statement.on_conflict_do_update(
            index_elements=[workspace_settings.c.key],
            set_={"value": statement.excluded.value, "updated_at": statement.excluded.updated_at,
                  "updated_by": statement.excluded.updated_by}))

    def lock_setting(self, key: str) -> dict[str, Any] | None:
        """The setting, locked until this transaction ends (PostgreSQL: the row, created empty if missing;
        SQLite's writer lock already serialises): for cursors and "who runs the daily pass" claims."""
        if not self._pg:
            return self.setting(key)
        self._c.execute(pg_insert(workspace_settings).values(key=key, value={}, updated_at=func.now(),
                                                             updated_by="touchflow").on_conflict_do_nothing())
        value = self._c.execute(select(workspace_settings.c.value).where(workspace_settings.c.key == key)
                                .with_for_update()).scalar()
        return dict(value) if value else None

    def channel_configs(self) -> list[ChannelConfig]:
        return [ChannelConfig(r.name, r.kind, dict(r.settings), r.secret, r.rate_per_s, r.concurrency, r.enabled,
                              r.updated_at)
                for r in self._c.execute(select(channel_configs).order_by(channel_configs.c.name))]

    def save_channel_config(self, config: ChannelConfig) -> None:
        values = {"kind": config.kind, "settings": dict(config.settings), "secret": config.secret,
                  "rate_per_s": config.rate_per_s, "concurrency": config.concurrency, "enabled": config.enabled,
                  "updated_at": config.updated_at}
        done = self._c.execute(update(channel_configs).where(channel_configs.c.name == config.name).values(**values))
        if not done.rowcount:
            self._c.execute(insert(channel_configs).values(name=config.name, **values))

    # --- the send gate -------------------------------------------------------------------------

    def hold_send_gate(self, contact_ids: Collection[str], exclusive: bool) -> None:
        if not contact_ids:
            return
        if self._pg:
            lock = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
            # Keys in ascending order, so two gates never wait on each other in a cycle.
            self._c.exec_driver_sql(
                f"SELECT count({lock}(%s, k)) FROM (SELECT DISTINCT hashtext(x) AS k "
                "FROM unnest(%s::text[]) AS x ORDER BY 1) AS keys", (_GATE_NAMESPACE, sorted(set(contact_ids))))
            return
        release = _flock(self._c, exclusive)
        self._on_end.append(release)


def _flock(connection: Connection, exclusive: bool) -> Callable[[], None]:
    database = connection.engine.url.database
    if not database or database == ":memory:":
        _MEMORY_GATE.acquire()
        return _MEMORY_GATE.release
    fd = os.open(f"{database}.sendgate", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)

    def release() -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    return release
