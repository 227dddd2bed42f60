"""Outbox delivery storage: claiming due messages, applying outcomes, counting touches, the on-site inbox.

Claims follow the runtime's rule (ADR 0005): on PostgreSQL the due rows are picked with ``FOR UPDATE
SKIP LOCKED`` and then take a transaction-scoped advisory lock per contact, so two dispatchers never
decide guardrails for the same contact at the same time — the frequency cap counts what the other
committed. A claimed row becomes ``sending`` with a lease (``next_attempt_at``); a dispatcher that dies
mid-send leaves it to be claimed again when the lease runs out, with the same idempotency key.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, or_, select, update

from touchflow.domain.contacts import STANDARD_FIELDS
from touchflow.domain.messaging.ports import MessageUpdate, OnsiteMessage
from touchflow.domain.outbox import OutboxMessage
from touchflow.security.pii import PiiCodec
from touchflow.store.bulk import bulk_insert, bulk_update
from touchflow.store.claims import locked_claims
from touchflow.store.pii_fields import open_name
from touchflow.store.tables import contact_consents, contact_tags, contacts, events, onsite_messages, outbox

__all__ = ["SqlMessageRepository", "message_from"]

_CHUNK = 500
_TOUCHED = ("sending", "sent")
_UPDATE_COLUMNS = ("status", "next_attempt_at", "reason", "last_error", "address", "sent_at", "provider_id",
                   "attempts", "updated_at")
_UPDATE_EXPRESSIONS = {"address": 'COALESCE({v}, "address")', "provider_id": 'COALESCE({v}, "provider_id")',
                       "attempts": '"attempts" + {v}'}


def message_from(r: Any) -> OutboxMessage:
    return OutboxMessage(r.id, r.idempotency_key, r.run_id, r.contact_id, r.journey_id, r.node_id, r.channel,
                         r.template, r.payload, r.status, r.attempts, r.created_at, r.next_attempt_at,
                         r.address, r.sent_at, r.provider_id, r.reason, r.last_error)


def _onsite_from(r: Any) -> OnsiteMessage:
    return OnsiteMessage(r.id, r.contact_id, r.outbox_id, r.title, r.body, r.url, r.status, r.created_at,
                         r.expires_at)


class SqlMessageRepository:
    def __init__(self, connection: Connection, pii: PiiCodec | None = None) -> None:
        self._c = connection
        self._pg = connection.dialect.name == "postgresql"
        self._pii = pii  # decrypts personal fields when encryption is enabled (ADR 0026)

    def claim(self, now: datetime, limit: int) -> list[OutboxMessage]:
        found: list[OutboxMessage] = []
        # One status at a time: with ``status IN (…)`` SQLite sorts every due row for each batch (a temp
        # B-tree over a million rows in a broadcast); one equality walks the (status, next_attempt_at) index.
        for status in ("sending", "queued"):  # expired leases first: they are the oldest work
            if len(found) >= limit:
                break
            due = (select(outbox.c.id, outbox.c.contact_id)
                   .where(outbox.c.status == status, outbox.c.next_attempt_at <= now)
                   .order_by(outbox.c.next_attempt_at).limit(limit - len(found)))
            if self._pg:
                locked = locked_claims(due.with_for_update(skip_locked=True, of=outbox))
                query = select(outbox).join(locked, locked.c.id == outbox.c.id)
            else:
                query = select(outbox).where(outbox.c.id.in_(due.with_only_columns(outbox.c.id).scalar_subquery()))
            found.extend(message_from(r) for r in self._c.execute(query.order_by(outbox.c.next_attempt_at,
                                                                                outbox.c.id)))
        return found

    def next_attempt_at(self) -> datetime | None:
        found: list[datetime] = []
        for status in ("sending", "queued"):  # one equality each: the (status, next_attempt_at) index
            at = self._c.execute(select(func.min(outbox.c.next_attempt_at)).where(outbox.c.status == status)
                                 ).scalar_one()
            if at is not None:
                found.append(at)
        return min(found, default=None)

    def apply(self, updates: Sequence[MessageUpdate], now: datetime) -> None:
        bulk_update(self._c, outbox, "id", _UPDATE_COLUMNS,
                    [(u.status, u.next_attempt_at, u.reason, u.last_error, u.address, u.sent_at, u.provider_id,
                      1 if u.attempted else 0, now, u.id) for u in updates], _UPDATE_EXPRESSIONS)

    def get(self, message_id: str) -> OutboxMessage | None:
        row = self._c.execute(select(outbox).where(outbox.c.id == message_id)).first()
        return None if row is None else message_from(row)

    def by_provider_id(self, provider_id: str) -> OutboxMessage | None:
        row = self._c.execute(select(outbox).where(outbox.c.provider_id == provider_id).limit(1)).first()
        return None if row is None else message_from(row)

    def enqueue(self, messages: Sequence[OutboxMessage]) -> None:
        bulk_insert(self._c, outbox, ("id", "idempotency_key", "run_id", "contact_id", "journey_id", "node_id",
                                      "channel", "template", "payload", "status", "attempts", "created_at",
                                      "updated_at", "next_attempt_at", "last_error", "address", "reason"),
                    [(m.id, m.idempotency_key, m.run_id, m.contact_id, m.journey_id, m.node_id, m.channel,
                      m.template, m.payload, m.status, m.attempts, m.created_at, m.created_at, m.next_attempt_at,
                      m.last_error, m.address, m.reason) for m in messages], ignore_conflicts=True)

    def _sent_since(self, contact_ids: Collection[str], since: datetime,
                    channel: str | None) -> dict[str, list[tuple[str, str, datetime]]]:
        """Only contact and time go to SQL: with ``status IN (…)`` too, SQLite (no statistics) walks the
        (status, next_attempt_at) index over every sent message instead of each contact's few rows."""
        found: dict[str, list[tuple[str, str, datetime]]] = defaultdict(list)
        ids = sorted(set(contact_ids))
        for start in range(0, len(ids), _CHUNK):
            query = (select(outbox.c.contact_id, outbox.c.id, outbox.c.channel, outbox.c.sent_at, outbox.c.status)
                     .where(outbox.c.contact_id.in_(ids[start:start + _CHUNK]), outbox.c.sent_at >= since))
            for contact_id, message_id, message_channel, sent_at, status in self._c.execute(query):
                if status in _TOUCHED and (channel is None or message_channel == channel):
                    found[contact_id].append((message_id, message_channel, sent_at))
        return dict(found)

    def touches_since(self, contact_ids: Collection[str], since: datetime
                      ) -> dict[str, list[tuple[str, str, datetime]]]:
        return self._sent_since(contact_ids, since, None)

    def emails_since(self, contact_ids: Collection[str], since: datetime
                     ) -> dict[str, list[tuple[str, str, datetime]]]:
        """(message id, purpose, sent_at) of emails handed over since ``since``; purpose from the payload."""
        found: dict[str, list[tuple[str, str, datetime]]] = defaultdict(list)
        ids = sorted(set(contact_ids))
        for start in range(0, len(ids), _CHUNK):
            query = (select(outbox.c.contact_id, outbox.c.id, outbox.c.channel, outbox.c.sent_at, outbox.c.status,
                            outbox.c.payload)
                     .where(outbox.c.contact_id.in_(ids[start:start + _CHUNK]), outbox.c.sent_at >= since))
            for contact_id, message_id, channel, sent_at, status, payload in self._c.execute(query):
                if status in _TOUCHED and channel == "email":
                    purpose = "transactional" if (payload or {}).get("purpose") == "transactional" else "marketing"
                    found[contact_id].append((message_id, purpose, sent_at))
        return dict(found)

    def engagement_since(self, contact_ids: Collection[str], since: datetime
                         ) -> dict[str, tuple[datetime | None, bool]]:
        """Per message id: when it was first opened, and whether it was clicked (from message_* events)."""
        seen: dict[str, tuple[datetime | None, bool]] = {}
        ids = sorted(set(contact_ids))
        for start in range(0, len(ids), _CHUNK):
            query = (select(events.c.type, events.c.occurred_at, events.c.properties)
                     .where(events.c.contact_id.in_(ids[start:start + _CHUNK]),
                            events.c.type.in_(("message_opened", "message_clicked")), events.c.occurred_at >= since))
            for event_type, at, properties in self._c.execute(query):
                message_id = (properties or {}).get("message_id")
                if not isinstance(message_id, str):
                    continue
                opened, clicked = seen.get(message_id, (None, False))
                if event_type == "message_clicked":
                    clicked = True
                opened = at if opened is None or at < opened else opened  # a click implies an open
                seen[message_id] = (opened, clicked)
        return seen

    def recent_events(self, contact_ids: Collection[str], types: Collection[str], since: datetime
                      ) -> dict[str, list[dict[str, Any]]]:
        """Events of these types since ``since`` by contact, newest first, as plain data for templates."""
        found: dict[str, list[dict[str, Any]]] = defaultdict(list)
        ids = sorted(set(contact_ids))
        for start in range(0, len(ids), _CHUNK):
            query = (select(events.c.contact_id, events.c.type, events.c.occurred_at, events.c.properties)
                     .where(events.c.contact_id.in_(ids[start:start + _CHUNK]), events.c.type.in_(sorted(types)),
                            events.c.occurred_at >= since)
                     .order_by(events.c.occurred_at.desc()))
            for contact_id, event_type, at, properties in self._c.execute(query):
                found[contact_id].append({"type": event_type, "occurred_at": at.isoformat(),
                                          "properties": properties or {}})
        return dict(found)

    def audience(self, contact_ids: Collection[str]) -> dict[str, dict[str, Any]]:
        """What dispatch needs of each contact, lighter than a full load (no lineage): attributes, custom,
        stage, tags and consent, in the shape of ``state_document`` (templates read it)."""
        found: dict[str, dict[str, Any]] = {}
        ids = sorted(set(contact_ids))
        columns = [contacts.c[name] for name in STANDARD_FIELDS]
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start:start + _CHUNK]
            for row in self._c.execute(select(contacts.c.id, contacts.c.custom, *columns, contacts.c.name_ct)
                                       .where(contacts.c.id.in_(chunk))):
                attributes = {name: row[2 + i] for i, name in enumerate(STANDARD_FIELDS) if row[2 + i] is not None}
                if row.name_ct is not None:  # encrypted (ADR 0026): templates render the name
                    attributes["name"] = open_name(self._pii, row.id, None, row.name_ct)
                found[row.id] = {"id": row.id, "attributes": attributes, "custom": dict(row.custom or {}),
                                 "lifecycle_stage": attributes.get("lifecycle_stage"), "tags": [], "consent": {}}
            for contact_id, tag in self._c.execute(select(contact_tags.c.contact_id, contact_tags.c.tag)
                                                   .where(contact_tags.c.contact_id.in_(chunk))):
                if contact_id in found:
                    found[contact_id]["tags"].append(tag)
            for contact_id, channel, status in self._c.execute(
                    select(contact_consents.c.contact_id, contact_consents.c.channel, contact_consents.c.status)
                    .where(contact_consents.c.contact_id.in_(chunk))):
                if contact_id in found:
                    found[contact_id]["consent"][channel] = status
        return found

    def outcome_counts(self) -> list[tuple[str, str | None, int]]:
        """(status, reason, messages): what became of every message, by the guardrail or failure that decided."""
        query = select(outbox.c.status, outbox.c.reason, func.count()).group_by(outbox.c.status, outbox.c.reason)
        return [(status, reason, int(n)) for status, reason, n in self._c.execute(query)]

    def pending_of(self, contact_id: str) -> list[OutboxMessage]:
        query = (select(outbox).where(outbox.c.contact_id == contact_id, outbox.c.status.in_(("queued", "sending")))
                 .order_by(outbox.c.created_at, outbox.c.id))
        return [message_from(r) for r in self._c.execute(query)]

    # --- on-site inbox (官网弹窗) -------------------------------------------------------------------

    def add_onsite(self, messages: Sequence[OnsiteMessage]) -> None:
        """A pop-up for a contact merged away since its message was queued goes to the survivor."""
        survivors: dict[str, str] = {}
        ids = sorted({m.contact_id for m in messages})
        for start in range(0, len(ids), _CHUNK):
            survivors.update({r.id: r.merged_into for r in self._c.execute(
                select(contacts.c.id, contacts.c.merged_into).where(contacts.c.id.in_(ids[start:start + _CHUNK]),
                                                                    contacts.c.merged_into.is_not(None)))})
        bulk_insert(self._c, onsite_messages, ("id", "contact_id", "outbox_id", "title", "body", "url", "status",
                                               "created_at", "expires_at"),
                    [(m.id, survivors.get(m.contact_id, m.contact_id), m.outbox_id, m.title, m.body, m.url,
                      m.status, m.created_at, m.expires_at) for m in messages], ignore_conflicts=True)

    def onsite_pending(self, contact_id: str, now: datetime, limit: int) -> list[OnsiteMessage]:
        query = (select(onsite_messages)
                 .where(onsite_messages.c.contact_id == contact_id, onsite_messages.c.status.in_(("pending", "shown")),
                        or_(onsite_messages.c.expires_at.is_(None), onsite_messages.c.expires_at > now))
                 .order_by(onsite_messages.c.created_at, onsite_messages.c.id).limit(limit))
        return [_onsite_from(r) for r in self._c.execute(query)]

    def onsite_get(self, message_id: str) -> OnsiteMessage | None:
        row = self._c.execute(select(onsite_messages).where(onsite_messages.c.id == message_id)).first()
        return None if row is None else _onsite_from(row)

    def onsite_mark(self, message_id: str, status: str, at: datetime) -> bool:
        values: dict[str, Any] = {"status": status}
        values["shown_at" if status == "shown" else "acted_at"] = at
        done = self._c.execute(update(onsite_messages).where(onsite_messages.c.id == message_id).values(**values))
        return bool(done.rowcount)
