"""Segments as use cases: create, preview, refresh, list, members, static edits, a contact's history.

Freshness (S-requirements, D4) has two paths, both here:

* **incremental** — ingest marks the contacts it touched (``mark_contacts_changed``, in the ingest
  transaction); ``update_segments`` (called by the worker on every tick) drains that queue in
  rounds (``services/segment_drain.py``: on SQLite evaluated in a read snapshot, written short, ADR 0062)
  and re-evaluates only those contacts, segment by segment in nesting order;
* **scheduled** — every dynamic segment is fully recomputed every ``refresh_every`` (1 h by
  default), which also catches what only time changes ("no purchase in 90 days" becomes true
  on the 91st day without any new event). A worker runs it in its background thread
  (``refresh_scheduled``), the sandbox in its tick.

Entering and leaving write ``segment_entered`` / ``segment_left`` events (property ``segment``)
into the event store and the journey inbox in the same transaction, so segment-triggered journeys
react on the same tick.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from touchflow.domain.conditions.predicates import Condition, EvalContext
from touchflow.domain.governance.privacy import targeting
from touchflow.domain.journeys.parse import parse_journey
from touchflow.domain.segments.model import (
    MembershipChange,
    SegmentError,
    evaluation_order,
    parse_segment,
    segment_to_data,
)
from touchflow.domain.segments.ports import MembershipStay, SegmentRecord
from touchflow.domain.unit_of_work import UnitOfWork
from touchflow.services.contacts import ContactNotFound, resolve_contact_id
from touchflow.services.context import ServiceContext, in_transaction
from touchflow.services.pacing import Pacer, store_pacer
from touchflow.services.segment_drain import definition_of, drain_round, drain_rounds, emit_change, queue_change

__all__ = [
    "SegmentExists",
    "SegmentInUse",
    "SegmentNotFound",
    "SegmentPreview",
    "SegmentSummary",
    "StaticChange",
    "add_members",
    "archive_segment",
    "contact_segment_history",
    "create_segment",
    "list_segments",
    "mark_contacts_changed",
    "preview_segment",
    "refresh_scheduled",
    "refresh_segment",
    "refresh_segments",
    "remove_members",
    "segment_members",
    "segments_due_at",
    "update_segments",
]


class SegmentNotFound(LookupError):
    def __init__(self, key: str) -> None:
        super().__init__(f"no segment {key!r}")
        self.key = key


class SegmentInUse(ValueError):
    def __init__(self, key: str, users: Sequence[str]) -> None:
        super().__init__(f"segment {key!r} is used by {', '.join(users)}; change those first")
        self.key = key
        self.users = list(users)


class SegmentExists(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(f"segment {key!r} exists already; pass replace to save a new version")
        self.key = key


@dataclass(frozen=True)
class SegmentPreview:
    count: int
    sample: list[str]


@dataclass(frozen=True)
class SegmentSummary:
    record: SegmentRecord
    members: int


@dataclass(frozen=True)
class StaticChange:
    entered: int
    left: int
    unknown: list[str]  # identifiers that match no contact


def _recompute(uow: UnitOfWork, record: SegmentRecord, condition: Condition, now: datetime,
               contact_ids: Collection[str] | None = None) -> MembershipChange:
    change = uow.segments.recompute(record, condition, EvalContext(now), contact_ids)
    emit_change(uow, record.key, change, now)
    return change


def _get(uow: UnitOfWork, key: str) -> SegmentRecord:
    record = uow.segments.get(key)
    if record is None or record.status != "active":
        raise SegmentNotFound(key)
    return record


# --- use cases ----------------------------------------------------------------------------------------------


def create_segment(ctx: ServiceContext, data: Mapping[str, object], *, actor: str,
                   replace: bool = False) -> SegmentSummary:
    """Save a segment (a new version with ``replace``) and compute its members now."""
    now = ctx.clock.now()

    def work(uow: UnitOfWork) -> SegmentSummary:
        uow.segments.lock()
        known = {s.key for s in uow.segments.all()}
        definition = parse_segment(data, known=known)
        existing = uow.segments.get(definition.key)
        if existing is not None and existing.status == "active" and not replace:
            raise SegmentExists(definition.key)
        if existing is not None and existing.kind != definition.kind:
            raise SegmentError("segment.kind", f"{definition.key!r} is {existing.kind}; a new version keeps the kind")
        others = [definition_of(s) for s in uow.segments.all() if s.key != definition.key]
        evaluation_order([*others, definition])  # refuses a nesting cycle
        record = SegmentRecord(
            existing.id if existing is not None else ctx.ids.new(now), definition.key, definition.name,
            definition.kind, segment_to_data(definition), (existing.version + 1) if existing is not None else 1,
            "active", definition.refresh_every,
            now + definition.refresh_every if definition.condition is not None else None,
            existing.created_at if existing is not None else now, existing.created_by if existing else actor, now)
        uow.segments.save(record)
        if definition.condition is not None:
            _recompute(uow, record, targeting(definition.condition), now)
        uow.audit.record(actor, "segment.save", definition.key, {"version": record.version, "kind": record.kind}, now)
        return SegmentSummary(record, uow.segments.member_count(record.id))

    return in_transaction(ctx, work)


def preview_segment(ctx: ServiceContext, data: Mapping[str, object], sample: int = 10) -> SegmentPreview:
    """How many contacts a dynamic definition selects now, and a sample of them — nothing is saved."""
    now = ctx.clock.now()
    with ctx.reader() as uow:
        definition = parse_segment(data, known={s.key for s in uow.segments.all()})
        if definition.condition is None:
            raise SegmentError("segment.kind", "a static segment has no condition to preview")
        count, ids = uow.segments.matching(targeting(definition.condition), EvalContext(now), sample)
    return SegmentPreview(count, ids)


def list_segments(ctx: ServiceContext) -> list[SegmentSummary]:
    with ctx.reader() as uow:
        return [SegmentSummary(r, uow.segments.member_count(r.id)) for r in uow.segments.all()]


def segment_members(ctx: ServiceContext, key: str, after: str | None = None,
                    limit: int = 100) -> list[tuple[str, datetime]]:
    """A page of members, ordered by contact id; pass the last id as ``after`` for the next page."""
    with ctx.reader() as uow:
        return uow.segments.members(_get(uow, key).id, after, limit)


def refresh_segment(ctx: ServiceContext, key: str) -> MembershipChange:
    """Recompute a dynamic segment for everyone now (what the schedule does every ``refresh_every``)."""
    return refresh_segments(ctx, [key])[key]


def refresh_segments(ctx: ServiceContext, keys: Collection[str] | None = None) -> dict[str, MembershipChange]:
    """Recompute several dynamic segments (all of them by default) for everyone, in one pass: inner segments
    first, leaves the segments share read once (``store/segment_sets.py``).

    The pass reads in a snapshot, without the write lock; the changes are then written in short transactions
    (ADR 0021), each re-checked: a contact whose membership or facts changed since the snapshot is left to
    the drain. Returns what was written."""
    now = ctx.clock.now()
    with ctx.reader() as uow:
        records = {r.key: r for r in uow.segments.all()}
        definitions = evaluation_order(definition_of(r) for r in records.values())
        wanted = [d for d in definitions if d.condition is not None and (keys is None or d.key in keys)]
        unknown = sorted(set(keys or ()) - records.keys())
        if unknown:
            raise SegmentNotFound(unknown[0])
        static = sorted(set(keys or ()) - {d.key for d in wanted})
        if static:
            raise SegmentError("segment.kind", f"{static[0]!r} is static: its members change only by hand")
        mark = uow.segments.dirty_mark()
        planned = uow.segments.recompute_everyone(
            [(records[d.key], targeting(d.condition)) for d in wanted if d.condition is not None], EvalContext(now),
            apply=False)
    pacer = store_pacer(ctx, start=500, high=20_000)
    applied: dict[str, MembershipChange] = {}
    for definition, change in zip(wanted, planned, strict=True):
        record = records[definition.key]
        entered: set[str] = set()
        left: set[str] = set()
        for chunk in pacer.chunks(sorted(change.entered | change.left)):
            part = MembershipChange(change.entered.intersection(chunk), change.left.intersection(chunk))

            def write(uow: UnitOfWork, part: MembershipChange = part, record: SegmentRecord = record
                      ) -> MembershipChange:
                uow.segments.lock()
                done = uow.segments.apply_checked(record.id, part, now, mark)
                emit_change(uow, record.key, done, now)
                return done

            done = in_transaction(ctx, write)
            entered |= done.entered
            left |= done.left
        applied[definition.key] = MembershipChange(frozenset(entered), frozenset(left))
    in_pass = {d.key for d in wanted}
    outside = [d for d in definitions if d.key not in in_pass]

    def finish(uow: UnitOfWork) -> None:
        for definition in wanted:
            change = applied[definition.key]
            uow.segments.set_next_refresh(records[definition.key].id, now + records[definition.key].refresh_every)
            if not change.empty and any(definition.key in d.nested for d in outside):
                queue_change(uow, definition.key, change, now, None)  # nesting segments outside the pass follow

    in_transaction(ctx, finish)
    return applied


def archive_segment(ctx: ServiceContext, key: str, *, actor: str) -> int:
    """Retire a segment: its members' stays end now (no events — nobody entered or left anything), it no
    longer refreshes or lists. Refused while an active segment nests it or an active journey reads it.
    Saving a definition under the key again brings it back as a new version. Returns the stays ended."""
    now = ctx.clock.now()

    def work(uow: UnitOfWork) -> int:
        uow.segments.lock()
        record = _get(uow, key)
        users = [f"segment {s.key}" for s in uow.segments.all() if s.key != key and key in definition_of(s).nested]
        for journey in uow.journeys.all():
            data = (uow.journeys.version(journey.id, journey.current_version)
                    if journey.status == "active" and journey.current_version is not None else None)
            if data is not None and key in parse_journey(data).segments_read():
                users.append(f"journey {journey.key}")
        if users:
            raise SegmentInUse(key, users)
        ended = uow.segments.end_all(record.id, now)
        uow.segments.save(dataclasses.replace(record, status="archived", next_refresh_at=None, updated_at=now))
        uow.audit.record(actor, "segment.archive", key, {"stays_ended": ended}, now)
        return ended

    return in_transaction(ctx, work)


def _static_change(ctx: ServiceContext, key: str, identifiers: Sequence[str], *, actor: str,
                   adding: bool) -> StaticChange:
    now = ctx.clock.now()

    def work(uow: UnitOfWork) -> StaticChange:
        uow.segments.lock()
        record = _get(uow, key)
        if record.kind != "static":
            raise SegmentError("segment.kind", f"{key!r} is dynamic: its condition decides who is in")
        ids: set[str] = set()
        unknown: list[str] = []
        for identifier in identifiers:
            try:
                ids.add(resolve_contact_id(uow, identifier))
            except ContactNotFound:
                unknown.append(identifier)
        change = uow.segments.change_members(record, ids if adding else (), () if adding else ids, now)
        emit_change(uow, key, change, now)
        _mark_nesting(uow, key, change, now)
        uow.audit.record(actor, "segment.add" if adding else "segment.remove", key,
                         {"entered": len(change.entered), "left": len(change.left), "unknown": len(unknown)}, now)
        return StaticChange(len(change.entered), len(change.left), unknown)

    return in_transaction(ctx, work)


def add_members(ctx: ServiceContext, key: str, identifiers: Sequence[str], *, actor: str) -> StaticChange:
    """Hand-pick or import members of a static segment (``email:…``, ``phone:…``, ids)."""
    return _static_change(ctx, key, identifiers, actor=actor, adding=True)


def remove_members(ctx: ServiceContext, key: str, identifiers: Sequence[str], *, actor: str) -> StaticChange:
    return _static_change(ctx, key, identifiers, actor=actor, adding=False)


def contact_segment_history(ctx: ServiceContext, identifier: str) -> list[MembershipStay]:
    """Every stay of the contact in every segment, oldest first (open stays have no ``left_at``)."""
    with ctx.reader() as uow:
        return uow.segments.history_of(resolve_contact_id(uow, identifier))


# --- freshness ----------------------------------------------------------------------------------------------


def mark_contacts_changed(uow: UnitOfWork, contact_ids: Collection[str], now: datetime,
                          event_types: Collection[tuple[str, str]] = ()) -> None:
    """Called in the transaction that changed them: these contacts' memberships need a look. ``contact_ids``
    changed attributes or tags (every segment rechecks them); ``event_types`` are (contact, event type)
    pairs (only segments that read that type recheck them)."""
    uow.segments.mark_dirty([*((cid, "*") for cid in contact_ids), *event_types], now)


def _mark_nesting(uow: UnitOfWork, key: str, change: MembershipChange, now: datetime) -> None:
    if not change.empty and any(key in definition_of(s).nested for s in uow.segments.all()):
        queue_change(uow, key, change, now, None)


def update_segments(ctx: ServiceContext, batch_size: int = 50_000, max_refreshes: int = 20,
                    pacer: Pacer | None = None, deadline: float | None = None, rounds: Pacer | None = None,
                    scheduled: bool = True) -> int:
    """The tick's step: drain the dirty-contact queue, then (``scheduled``) fully recompute up to
    ``max_refreshes`` segments whose scheduled refresh is due, in one pass. Returns how much work it did (0 when
    idle). A worker leaves the scheduled recomputes to its background thread (``refresh_scheduled``, ADR 0066):
    one takes as long as the population is big, and the tick would wait for it.

    The queue drains in rounds of at most ``batch_size`` rows, sized by ``rounds`` so that a round takes about
    ``ROUND_BUDGET``; on a shared SQLite file a round evaluates in a read snapshot and writes in short
    transactions sized by ``pacer`` (ADR 0021, 0062). Past ``deadline`` (``time.perf_counter()``) the rest
    waits in the queue for the next tick."""
    work = 0
    with ctx.reader() as probe:  # an idle worker looks without taking the write lock
        queued = probe.segments.dirty_size(1)
    if ctx.single_writer:
        writes = pacer or store_pacer(ctx, start=200, high=batch_size)
        rounds = rounds or drain_rounds(batch_size)
    else:  # one transaction a round: the round is the write chunk
        writes = rounds = pacer or store_pacer(ctx, start=min(200, batch_size), high=batch_size)
    if queued:
        work, finished = rounds.drive(lambda size: drain_round(ctx, size, writes), deadline)
        if not finished:
            return work
    return work + (refresh_scheduled(ctx, max_refreshes) if scheduled else 0)


def refresh_scheduled(ctx: ServiceContext, max_refreshes: int = 20) -> int:
    """Fully recompute up to ``max_refreshes`` dynamic segments whose scheduled refresh is due; how many."""
    with ctx.reader() as uow:
        due = [r.key for r in uow.segments.due_for_refresh(ctx.clock.now(), max_refreshes)]
    return len(refresh_segments(ctx, due)) if due else 0


def segments_due_at(ctx: ServiceContext, scheduled: bool = True) -> datetime | None:
    """When ``update_segments`` next has work: now while changed contacts wait, else (``scheduled``) the next
    scheduled refresh."""
    now = ctx.clock.now()
    with ctx.reader() as uow:
        if uow.segments.dirty_size(1):
            return now
        if not scheduled:
            return None
        due = uow.segments.due_for_refresh(now + timedelta(days=36500), 1)
    return due[0].next_refresh_at if due else None
