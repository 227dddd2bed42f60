"""What waits to be sent (an outbox message) or done (a task): plain records shared by the journey, messaging
and assignment ports, kept out of any port module so no port imports another."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

__all__ = ["OutboxMessage", "TaskRecord", "TaskTiming"]


@dataclass(frozen=True)
class OutboxMessage:
    id: str
    idempotency_key: str
    run_id: str | None
    contact_id: str
    journey_id: str | None
    node_id: str | None
    channel: str
    template: str | None
    payload: dict[str, Any]
    status: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    address: str | None = None
    sent_at: datetime | None = None
    provider_id: str | None = None
    reason: str | None = None
    last_error: str | None = None



@dataclass(frozen=True)
class TaskRecord:
    id: str
    idempotency_key: str
    contact_id: str | None  # None: a task about a journey (an alert's), not a contact (0022)
    run_id: str | None
    journey_id: str | None
    node_id: str | None
    queue: str
    title: str
    assignee: str | None
    status: str
    created_at: datetime
    due_at: datetime
    done_at: datetime | None = None
    breached_at: datetime | None = None


class TaskTiming(NamedTuple):
    """The six columns the timeliness report reads of a task (the store reads only these)."""

    queue: str
    assignee: str | None
    status: str
    created_at: datetime
    due_at: datetime
    done_at: datetime | None
