"""Write-back (P1): which changes flow back to a CRM, their idempotency keys and the outbox row's life.

A connector opts in with ``settings.writeback``: ``{"preset": "hubspot" | "salesforce" | "webhook", "fields":
[...]}`` where fields are ``score``, ``mql``, ``sql``, ``stage``, ``tasks``, ``consent``. A change is captured as
an outbox row in the transaction that made it, so nothing changed is forgotten and nothing forgotten was
changed; the sender ships rows later, in batches, each carrying its idempotency key (the receiver dedupes a
retried change). Pure: no storage, no HTTP.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from touchflow.domain.errors import FieldError
from touchflow.domain.events import JSONValue

__all__ = [
    "EVENT_FIELDS",
    "WRITEBACK_FIELDS",
    "WRITEBACK_PRESETS",
    "Change",
    "OutboxRow",
    "WritebackConfig",
    "backoff",
    "batch_key",
    "change_key",
    "parse_writeback",
]

WRITEBACK_PRESETS = ("hubspot", "salesforce", "webhook")
WRITEBACK_FIELDS = ("score", "mql", "sql", "stage", "tasks", "consent")
# event type -> the write-back field it feeds (the engine's own events, captured where they are emitted)
EVENT_FIELDS: dict[str, str] = {"lead_mql": "mql", "lead_sql": "sql", "stage_changed": "stage",
                                "task_completed": "tasks", "unsubscribe": "consent",
                                "consent_changed": "consent"}
OutboxStatus = Literal["pending", "sent", "dead", "discarded"]
MAX_ATTEMPTS = 8


@dataclass(frozen=True)
class WritebackConfig:
    connector: str
    preset: str
    fields: frozenset[str]
    batch_size: int = 100


def parse_writeback(connector: str, settings: Mapping[str, JSONValue]) -> WritebackConfig | None:
    """The connector's write-back, or None when it has none; FieldError names the bad part."""
    raw = settings.get("writeback")
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise FieldError("settings.writeback", "an object with preset and fields")
    preset = raw.get("preset")
    if preset not in WRITEBACK_PRESETS:
        raise FieldError("settings.writeback.preset", f"one of {', '.join(WRITEBACK_PRESETS)}")
    fields = raw.get("fields", list(WRITEBACK_FIELDS))
    if not isinstance(fields, list) or not fields or any(f not in WRITEBACK_FIELDS for f in fields):
        raise FieldError("settings.writeback.fields", f"a list from {', '.join(WRITEBACK_FIELDS)}")
    size = raw.get("batch_size", 100)
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= 100:
        raise FieldError("settings.writeback.batch_size", "a whole number from 1 to 100")
    return WritebackConfig(connector, str(preset), frozenset(str(f) for f in fields), size)


@dataclass(frozen=True)
class Change:
    """One change to tell the CRM: ``field`` of contact ``contact_id`` became ``value`` at ``at``."""

    contact_id: str
    field: str
    value: JSONValue
    at: datetime
    origin: str  # what made it: an event id, or "score:<version>:<value>"


@dataclass(frozen=True)
class OutboxRow:
    id: int
    connector: str
    contact_id: str
    field: str
    value: JSONValue
    idempotency_key: str
    status: OutboxStatus
    attempts: int
    created_at: datetime
    next_attempt_at: datetime | None = None
    last_error: str | None = None
    sent_at: datetime | None = None


def change_key(connector: str, change: Change) -> str:
    """Stable per connector and change: the same change captured twice (a replayed event) is one row."""
    text = "\x1f".join((connector, change.contact_id, change.field, change.origin))
    return "tfwb-" + hashlib.sha256(text.encode()).hexdigest()[:40]


def batch_key(keys: Sequence[str]) -> str:
    """A batch's key: the same rows retried give the same key (the receiver answers its first reply again)."""
    return "tfwb-batch-" + hashlib.sha256("\x1f".join(sorted(keys)).encode()).hexdigest()[:40]


def backoff(attempts: int, retry_after: float | None = None) -> timedelta:
    """30 s, 1 min, 2 min … capped at 1 h; a receiver's Retry-After wins when longer."""
    seconds = min(3600.0, 30.0 * 2 ** max(0, attempts - 1))
    return timedelta(seconds=max(seconds, retry_after or 0.0))
