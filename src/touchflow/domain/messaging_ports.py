"""What the dispatcher and the guardrail use cases need from storage: outbox delivery and guard state."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from touchflow.domain.ports import OutboxMessage, TaskRecord

__all__ = [
    "ChannelConfig",
    "Freeze",
    "GuardRepository",
    "MessageRepository",
    "MessageUpdate",
    "OnsiteMessage",
    "Suppression",
    "TaskRepository",
]


@dataclass(frozen=True)
class MessageUpdate:
    """A change to one outbox row. ``attempted`` adds one to its attempt count."""

    id: str
    status: str  # queued | sending | sent | failed | dead | skipped
    next_attempt_at: datetime
    reason: str | None = None
    last_error: str | None = None
    address: str | None = None
    sent_at: datetime | None = None
    provider_id: str | None = None
    attempted: bool = False


@dataclass(frozen=True)
class Freeze:
    id: str
    contact_id: str
    frozen_at: datetime
    reason: str
    event_id: str | None
    task_id: str | None
    lifted_at: datetime | None = None
    lifted_by: str | None = None
    lift_reason: str | None = None


@dataclass(frozen=True)
class Suppression:
    channel: str
    address: str
    reason: str  # unsubscribed | hard_bounce | complaint | manual
    source: str
    at: datetime


@dataclass(frozen=True)
class ChannelConfig:
    name: str
    kind: str
    settings: Mapping[str, Any]
    secret: str | None  # sealed; only the channel registry opens it
    rate_per_s: float | None
    concurrency: int
    enabled: bool
    updated_at: datetime


@dataclass(frozen=True)
class OnsiteMessage:
    id: str
    contact_id: str
    outbox_id: str
    title: str
    body: str
    url: str | None
    status: str  # pending | shown | clicked | dismissed | expired
    created_at: datetime
    expires_at: datetime | None = None


class MessageRepository(Protocol):
    def claim(self, now: datetime, limit: int) -> list[OutboxMessage]:
        """Queued messages that are due, and ``sending`` ones whose lease ran out; locked for this transaction."""
        ...

    def next_attempt_at(self) -> datetime | None:
        """The earliest time ``claim`` will find a message (a deferred send, a retry, a lease that runs out)."""
        ...

    def apply(self, updates: Sequence[MessageUpdate], now: datetime) -> None: ...
    def get(self, message_id: str) -> OutboxMessage | None: ...
    def by_provider_id(self, provider_id: str) -> OutboxMessage | None: ...
    def enqueue(self, messages: Sequence[OutboxMessage]) -> None: ...

    def touches_since(self, contact_ids: Collection[str], since: datetime
                      ) -> dict[str, list[tuple[str, str, datetime]]]:
        """(message id, channel, sent_at) of messages handed over (or being handed over) since ``since``."""
        ...

    def emails_since(self, contact_ids: Collection[str], since: datetime
                     ) -> dict[str, list[tuple[str, str, datetime]]]:
        """(message id, purpose: marketing | transactional, sent_at) of emails handed over since ``since``."""
        ...

    def engagement_since(self, contact_ids: Collection[str], since: datetime
                         ) -> dict[str, tuple[datetime | None, bool]]:
        """Per message id: first open (a click counts as one) and whether it was clicked."""
        ...

    def recent_events(self, contact_ids: Collection[str], types: Collection[str], since: datetime
                      ) -> dict[str, list[dict[str, Any]]]:
        """Events of these types since ``since`` by contact (newest first), as plain data for templates."""
        ...

    def audience(self, contact_ids: Collection[str]) -> dict[str, dict[str, Any]]:
        """Attributes, custom, stage, tags and consent per contact (the ``state_document`` shape, no lineage)."""
        ...

    def outcome_counts(self) -> list[tuple[str, str | None, int]]:
        """(status, reason, messages) over the whole outbox."""
        ...

    def pending_of(self, contact_id: str) -> list[OutboxMessage]:
        """Messages of one contact not yet handed over (queued, sending)."""
        ...

    def add_onsite(self, messages: Sequence[OnsiteMessage]) -> None: ...
    def onsite_pending(self, contact_id: str, now: datetime, limit: int) -> list[OnsiteMessage]: ...
    def onsite_get(self, message_id: str) -> OnsiteMessage | None: ...
    def onsite_mark(self, message_id: str, status: str, at: datetime) -> bool: ...


class GuardRepository(Protocol):
    def addresses(self, contact_ids: Collection[str]) -> dict[str, dict[str, str]]:
        """Identity kind -> value per contact (the first of each kind)."""
        ...

    def frozen_among(self, contact_ids: Collection[str]) -> set[str]: ...
    def freeze(self, freeze: Freeze) -> None: ...
    def active_freeze(self, contact_id: str) -> Freeze | None: ...
    def lift(self, contact_id: str, by: str, reason: str, at: datetime) -> Freeze | None: ...
    def freezes_of(self, contact_id: str) -> list[Freeze]: ...

    def suppressed(self, pairs: Collection[tuple[str, str]]) -> set[tuple[str, str]]: ...
    def suppress(self, rows: Sequence[Suppression]) -> None: ...
    def unsuppress(self, channel: str, address: str) -> bool: ...
    def suppressions(self, channel: str | None, limit: int) -> list[Suppression]: ...

    def setting(self, key: str) -> dict[str, Any] | None: ...
    def set_setting(self, key: str, value: Mapping[str, Any], by: str, at: datetime) -> None: ...
    def lock_setting(self, key: str) -> dict[str, Any] | None:
        """The setting, locked until the transaction ends (cursors, "who runs the daily pass" claims)."""
        ...

    def channel_configs(self) -> list[ChannelConfig]: ...
    def save_channel_config(self, config: ChannelConfig) -> None: ...

    def hold_send_gate(self, contact_ids: Collection[str], exclusive: bool) -> None:
        """Serialise sends and freezes per contact until this transaction ends.

        Senders hold it shared around a provider call (after re-reading freezes); a freeze takes it
        exclusively, so a freeze commits only once no send to that contact is in flight, and every
        send that starts after it sees the freeze.
        """
        ...


class TaskRepository(Protocol):
    """Hand-offs to people (sales, customer service) with an SLA deadline (J11, G3)."""

    def get(self, task_id: str) -> TaskRecord | None: ...
    def find(self, queue: str | None, status: str | None, limit: int,
             assignee: str | None = None) -> list[TaskRecord]: ...

    def contacts_assigned(self, assignee: str, limit: int) -> list[str]:
        """Ids of the contacts with a task (open or done) assigned to ``assignee``, as the tasks recorded them."""
        ...

    def overdue(self, now: datetime, limit: int) -> list[TaskRecord]:
        """Open tasks past their deadline whose breach has not been reported yet; locked for this transaction."""
        ...

    def next_deadline(self) -> datetime | None:
        """The earliest deadline of an open task whose breach is not reported yet (when ``overdue`` finds it)."""
        ...

    def mark_breached(self, task_ids: Sequence[str], at: datetime) -> None: ...
    def complete(self, task_id: str, at: datetime) -> bool: ...
    def stats(self, since: datetime) -> list[tuple[str, str | None, int, int]]:
        """(queue, assignee, tasks done, of them within their deadline) for tasks created since ``since``."""
        ...
