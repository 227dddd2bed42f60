"""What the dispatcher and the task board need from storage: outbox delivery, on-site messages and tasks."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from touchflow.domain.outbox import OutboxMessage, TaskRecord

__all__ = ["MessageRepository", "MessageUpdate", "OnsiteMessage", "TaskRepository"]


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
