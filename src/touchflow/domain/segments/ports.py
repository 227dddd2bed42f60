"""What segments need from the store, as Protocols. ``store/segments.py`` implements them on SQL."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from touchflow.domain.conditions.predicates import Condition, EvalContext
from touchflow.domain.segments.model import Direction, MembershipChange

__all__ = ["MembershipStay", "SegmentRecord", "SegmentRepository"]


@dataclass(frozen=True)
class SegmentRecord:
    id: str
    key: str
    name: str
    kind: str  # dynamic | static
    definition: dict[str, Any]  # segment_to_data(...)
    version: int
    status: str  # active | archived
    refresh_every: timedelta
    next_refresh_at: datetime | None
    created_at: datetime
    created_by: str
    updated_at: datetime


@dataclass(frozen=True)
class MembershipStay:
    """One stay of a contact in a segment: when it entered and (once it left) when it left."""

    segment_key: str
    contact_id: str
    entered_at: datetime
    left_at: datetime | None


class SegmentRepository(Protocol):
    def get(self, key: str) -> SegmentRecord | None: ...
    def all(self, status: str | None = "active") -> list[SegmentRecord]: ...
    def save(self, record: SegmentRecord) -> None:
        """Insert, or replace the row with the same id."""
        ...
    def lock(self) -> None:
        """Serialise membership writers until the transaction ends (PostgreSQL; SQLite writers already are)."""
        ...
    def recompute(self, segment: SegmentRecord, condition: Condition, ctx: EvalContext,
                  contact_ids: Collection[str] | None = None, dirty_batch: str | None = None,
                  reactions: Mapping[str, Collection[Direction]] | None = None) -> MembershipChange:
        """Evaluate the condition (for everyone, for ``contact_ids``, or for the contacts of a claimed dirty
        batch), apply the change to members and history, and return it. Only the change is loaded into
        Python, never the whole member set. With ``reactions`` (``domain.segments.reactions``) a dirty batch
        checks non-members only for reasons that can let them enter, members only for those that can push
        them out."""
        ...
    def change_members(self, segment: SegmentRecord, add: Collection[str], remove: Collection[str],
                       now: datetime) -> MembershipChange:
        """A static segment's members by hand; returns who actually entered and left."""
        ...
    def matching(self, condition: Condition, ctx: EvalContext, sample: int) -> tuple[int, list[str]]:
        """How many live contacts match, and the first ``sample`` of them by id (a preview, nothing written)."""
        ...
    def members(self, segment_id: str, after: str | None, limit: int) -> list[tuple[str, datetime]]: ...
    def member_count(self, segment_id: str) -> int: ...
    def segments_of(self, contact_id: str) -> list[str]: ...
    def history_of(self, contact_id: str) -> list[MembershipStay]: ...
    def stays_in(self, segment_id: str, before: int | None, limit: int) -> list[tuple[int, MembershipStay]]:
        """The segment's stays, newest first, with their sequence number; ``before`` pages on from one."""
        ...
    def recompute_everyone(self, items: Sequence[tuple[SegmentRecord, Condition]],
                           ctx: EvalContext, apply: bool = True) -> list[MembershipChange]:
        """Full recomputes of several segments in one pass, in the order given (inner segments first), sharing
        what they read; applied like ``recompute`` (without ``apply``: only computed, e.g. in a read snapshot)."""
        ...

    def end_all(self, segment_id: str, now: datetime) -> int:
        """Remove every member and end every open stay (archiving); how many stays ended."""
        ...

    def mark_dirty(self, touched: Collection[tuple[str, str]], at: datetime, batch: str | None = None) -> None:
        """Queue (contact, reason) pairs whose facts changed, when some dynamic segment could care; the reason
        is the event type, ``*`` for attributes and tags, or ``+key``/``-key`` for entering/leaving a segment.
        With ``batch`` the rows join that claimed batch (the segments nesting one recheck its changes now)."""
        ...
    def claim_dirty(self, batch: str, limit: int) -> int:
        """Mark up to ``limit`` of the oldest unclaimed rows with ``batch``; how many were marked."""
        ...
    def release_dirty(self, batch: str) -> None:
        """Delete the batch's rows (after its contacts were evaluated, in the same transaction)."""
        ...
    def apply_checked(self, segment_id: str, change: MembershipChange, now: datetime,
                      dirtied_after: int | None) -> MembershipChange:
        """Apply a change computed in an earlier snapshot where it still holds (see the SQL repository)."""
        ...
    def dirty_head(self, limit: int) -> list[tuple[int, str]]:
        """The oldest ``limit`` queued rows as (sequence number, reason), oldest first (read, not claimed)."""
        ...
    def evaluate_dirty(self, segment: SegmentRecord, condition: Condition, ctx: EvalContext, upto: int,
                       enter_reasons: Collection[str], leave_reasons: Collection[str]) -> MembershipChange:
        """The change the queued rows up to sequence number ``upto`` call for, computed but not applied (a read
        snapshot): non-members queued for an ``enter_reasons`` reason, members queued for a ``leave_reasons`` one."""
        ...
    def release_rows(self, seqs: Collection[int]) -> None:
        """Delete exactly these queued rows (those a drain round evaluated)."""
        ...
    def dirty_mark(self) -> int:
        """The newest ``segment_dirty`` row's sequence number (0: none): what a snapshot has seen."""
        ...
    def dirty_size(self, at_most: int | None = None) -> int: ...  # counted up to ``at_most``
    def due_for_refresh(self, now: datetime, limit: int) -> list[SegmentRecord]: ...
    def set_next_refresh(self, segment_id: str, at: datetime | None) -> None: ...
