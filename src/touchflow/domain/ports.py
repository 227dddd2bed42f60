"""What the core needs from the outside world, as Protocols. ``store`` implements them on SQL."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self

from touchflow.domain.contacts import ContactState, FieldConflict
from touchflow.domain.duplicates import DuplicateCandidate
from touchflow.domain.events import EventInput, JSONValue
from touchflow.domain.identities import Identity
from touchflow.domain.sources import Source
from touchflow.domain.tagging import TagRule

__all__ = [
    "ApiKeyRecord",
    "ApiKeyRepository",
    "AuditRepository",
    "ContactRepository",
    "EventRepository",
    "IdentityLink",
    "MergeRecord",
    "RejectRepository",
    "SourceRepository",
    "StoredEvent",
    "TagRuleRepository",
    "UnitOfWork",
]


@dataclass(frozen=True)
class IdentityLink:
    identity: Identity
    contact_id: str
    source: str
    at: datetime


@dataclass(frozen=True)
class MergeRecord:
    winner_id: str
    loser_id: str
    linked_by: str  # the identifier (or "manual") that showed the two are one person
    source: str
    at: datetime
    conflicts: tuple[FieldConflict, ...] = ()


@dataclass(frozen=True)
class StoredEvent:
    id: str
    contact_id: str
    type: str
    occurred_at: datetime
    received_at: datetime
    source: str
    properties: dict[str, JSONValue]


@dataclass(frozen=True)
class ApiKeyRecord:
    id: str
    name: str
    key_hash: str
    created_at: datetime
    revoked_at: datetime | None


class ContactRepository(Protocol):
    def lookup(self, identities: Collection[Identity]) -> dict[Identity, str]: ...
    def load(self, ids: Collection[str]) -> dict[str, ContactState]: ...
    def insert(self, states: Sequence[ContactState], at: datetime) -> None: ...
    def update(self, states: Sequence[ContactState], at: datetime) -> None: ...
    def add_identities(self, links: Sequence[IdentityLink]) -> None: ...
    def merge(self, merges: Sequence[MergeRecord]) -> None: ...
    def resolve_id(self, contact_id: str) -> str | None: ...
    def identities_of(self, contact_id: str) -> list[IdentityLink]: ...
    def merges_of(self, contact_id: str) -> list[MergeRecord]: ...
    def search(self, text: str | None, tag: str | None, limit: int, offset: int) -> list[str]: ...
    def duplicate_candidates(self) -> Iterator[DuplicateCandidate]: ...
    def count(self) -> int: ...
    def completeness(self, fields: Sequence[str]) -> dict[str, int]: ...


class EventRepository(Protocol):
    def existing_ids(self, ids: Collection[str]) -> set[str]: ...
    def insert(self, events: Sequence[tuple[EventInput, str]], received_at: datetime) -> None: ...
    def recent(self, contact_id: str, limit: int) -> list[StoredEvent]: ...
    def count_for(self, contact_id: str) -> int: ...
    def count(self) -> int: ...


class SourceRepository(Protocol):
    def get(self, name: str) -> Source | None: ...
    def save(self, source: Source) -> None: ...
    def record_sync(self, name: str, received: int, accepted: int, rejected: int, at: datetime) -> None: ...
    def all(self) -> list[Source]: ...


class RejectRepository(Protocol):
    def add(self, kind: str, source: str, row: int | None, payload: JSONValue, reason: str,
            at: datetime) -> None: ...
    def summary(self) -> dict[str, int]: ...


class AuditRepository(Protocol):
    def record(self, actor: str, action: str, subject: str, details: dict[str, JSONValue],
               at: datetime) -> None: ...


class ApiKeyRepository(Protocol):
    def add(self, record: ApiKeyRecord) -> None: ...
    def by_hash(self, key_hash: str) -> ApiKeyRecord | None: ...
    def all(self) -> list[ApiKeyRecord]: ...
    def revoke(self, key_id: str, at: datetime) -> bool: ...


class TagRuleRepository(Protocol):
    def all(self) -> list[TagRule]: ...
    def save(self, rule: TagRule) -> None: ...


class UnitOfWork(Protocol):
    """One transaction. Leaving the ``with`` block without ``commit()`` rolls back."""

    contacts: ContactRepository
    events: EventRepository
    sources: SourceRepository
    rejects: RejectRepository
    audit: AuditRepository
    api_keys: ApiKeyRepository
    tag_rules: TagRuleRepository

    def __enter__(self) -> Self: ...
    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...
    def is_conflict(self, exc: BaseException) -> bool:
        """True for a clash with a concurrent transaction (unique key, deadlock): retry the whole unit."""
        ...
