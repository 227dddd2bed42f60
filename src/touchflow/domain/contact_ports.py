"""What contacts, identities, events, sources, rejects and tag rules need from storage, as Protocols.
``store`` implements them on SQL."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from touchflow.domain.contacts import ContactState, FieldConflict
from touchflow.domain.duplicates import DuplicateCandidate
from touchflow.domain.events import EventInput, JSONValue
from touchflow.domain.identities import Identity
from touchflow.domain.sources import Source
from touchflow.domain.tagging import TagRule
from touchflow.domain.unmerge import MergeUndo

__all__ = [
    "ContactRepository",
    "EventRepository",
    "IdentityLink",
    "MergeRecord",
    "MergeToUndo",
    "RejectRepository",
    "SourceRepository",
    "StoredEvent",
    "TagRuleRepository",
    "UnmergeCounts",
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
    undone_at: datetime | None = None  # unmerged by a person (see ``unmerge``)
    undone_by: str | None = None



@dataclass(frozen=True)
class MergeToUndo:
    id: int
    record: MergeRecord
    undo: Mapping[str, Any] | None  # ``MergeUndo.document()``; None for merges made before it was kept



@dataclass(frozen=True)
class UnmergeCounts:
    identities: int
    events: int



@dataclass(frozen=True)
class StoredEvent:
    id: str
    contact_id: str
    type: str
    occurred_at: datetime
    received_at: datetime
    source: str
    properties: dict[str, JSONValue]



class ContactRepository(Protocol):
    def lookup(self, identities: Collection[Identity]) -> dict[Identity, str]: ...
    def refresh_statistics(self) -> None: ...
    def load(self, ids: Collection[str]) -> dict[str, ContactState]: ...
    def insert(self, states: Sequence[ContactState], at: datetime) -> None: ...
    def update(self, states: Sequence[ContactState], at: datetime,
               children: Collection[str] | None = None) -> None: ...
    def add(self, states: Sequence[ContactState], links: Sequence[IdentityLink], at: datetime) -> bool:
        """New contacts and identities new to the store, all or none: False (nothing written) when a concurrent
        transaction committed one of the identities first; look them up again (ADR 0060)."""
        ...
    def merge(self, merges: Sequence[MergeRecord]) -> None: ...
    def resolve_id(self, contact_id: str) -> str | None: ...
    def identities_of(self, contact_id: str) -> list[IdentityLink]: ...
    def merges_of(self, contact_id: str) -> list[MergeRecord]: ...

    def merge_to_undo(self, loser_id: str) -> MergeToUndo | None: ...

    def unmerge(self, merge_id: int, survivor_id: str, loser: ContactState, undo: MergeUndo, merged_at: datetime,
                by: str, now: datetime) -> UnmergeCounts: ...
    def search(self, text: str | None, tag: str | None, limit: int, offset: int) -> list[str]: ...
    def duplicate_candidates(self) -> Iterator[DuplicateCandidate]: ...
    def count(self) -> int: ...
    def completeness(self, fields: Sequence[str]) -> dict[str, int]: ...



class EventRepository(Protocol):
    def existing_ids(self, ids: Collection[str]) -> set[str]: ...
    def insert(self, events: Sequence[tuple[EventInput, str]], received_at: datetime) -> None: ...
    def properties_of(self, ids: Collection[str]) -> dict[str, dict[str, Any]]: ...
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
    def existing(self, kind: str, source: str, rows: Sequence[int]) -> list[tuple[int, str, JSONValue]]: ...
    def summary(self) -> dict[str, int]: ...



class TagRuleRepository(Protocol):
    def all(self) -> list[TagRule]: ...
    def save(self, rule: TagRule) -> None: ...
