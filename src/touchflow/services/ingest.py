"""Ingest use cases shared by file import and the HTTP API: upsert contacts, record events.

Each call is one transaction over one batch. Invalid items are reported by position and reason
and kept in the rejects table; valid items of the same batch are stored.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

import orjson

from touchflow.domain.contacts import Consent, ContactRecord
from touchflow.domain.errors import FieldError, RecordRejected
from touchflow.domain.events import EventInput, JSONValue
from touchflow.domain.governance.privacy import OPT_OUT_EVENTS, OPT_OUT_FIELD, OPTED_OUT
from touchflow.domain.journeys.ports import InboxEvent
from touchflow.domain.limits import clip_json, json_problem
from touchflow.domain.records import contact_record_from, event_input_from
from touchflow.domain.sources import Source, default_source
from touchflow.domain.unit_of_work import UnitOfWork
from touchflow.services.context import ServiceContext, in_transaction
from touchflow.services.guarding import apply_guard_events
from touchflow.services.privacy_index import ERASED_PREFIX, erased_records
from touchflow.services.resolve import resolve_records
from touchflow.services.segments import mark_contacts_changed
from touchflow.services.writeback_capture import capture_events

__all__ = [
    "ContactBatchReport",
    "EventBatchReport",
    "ItemProblem",
    "RawItem",
    "ensure_source",
    "event_batch_work",
    "record_events",
    "upsert_contacts",
]

T = TypeVar("T")


@dataclass(frozen=True)
class RawItem:
    payload: Mapping[str, object]  # canonical keys (after header mapping)
    row: int | None = None  # row number in a file, if any
    original: JSONValue = None  # what arrived, kept with a reject
    file: str | None = None  # digest of the file it came from: its order decides between its rows (ADR 0013)


@dataclass(frozen=True)
class ItemProblem:
    index: int
    row: int | None
    field: str | None
    reason: str

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}" if self.field else self.reason


@dataclass
class ContactBatchReport:
    read: int = 0
    created: int = 0
    updated: int = 0
    merged: int = 0
    rejected: list[ItemProblem] = field(default_factory=list)
    warnings: list[ItemProblem] = field(default_factory=list)
    contact_ids: list[str | None] = field(default_factory=list)


@dataclass
class EventBatchReport:
    accepted: int = 0
    duplicates: int = 0
    contacts_created: int = 0
    merged: int = 0
    rejected: list[ItemProblem] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)  # per item: stored | duplicate | rejected
    event_ids: list[str | None] = field(default_factory=list)


def ensure_source(uow: UnitOfWork, name: str) -> Source:
    source = uow.sources.get(name)
    if source is None:
        source = default_source(name)
        uow.sources.save(source)
    return source


def upsert_contacts(ctx: ServiceContext, source_name: str, items: Sequence[RawItem]) -> ContactBatchReport:
    now = ctx.clock.now()

    def work(uow: UnitOfWork) -> ContactBatchReport:
        source = ensure_source(uow, source_name)
        report = ContactBatchReport(read=len(items), contact_ids=[None] * len(items))
        records: list[ContactRecord] = []
        positions: list[int] = []
        for index, item in enumerate(items):
            try:
                place = (item.file, item.row or 0) if item.file is not None else None
                record = contact_record_from(item.payload, source.name, source.priority, now, place)
            except RecordRejected as exc:
                report.rejected.append(ItemProblem(index, item.row, None, exc.reason))
                continue
            report.warnings.extend(ItemProblem(index, item.row, w.field, w.reason) for w in record.warnings)
            records.append(record)
            positions.append(index)
        erased = erased_records(ctx, uow, records)  # PIPL: an erased person is not imported back
        if erased:
            for at, reason in sorted(erased.items()):
                report.rejected.append(ItemProblem(positions[at], items[positions[at]].row, None, reason))
            records = [r for at, r in enumerate(records) if at not in erased]
            positions = [p for at, p in enumerate(positions) if at not in erased]
            report.rejected.sort(key=lambda p: p.index)
        resolution = resolve_records(uow, records, uow.tag_rules.all(), ctx.ids, source.name, now)
        for position, contact_id in zip(positions, resolution.contact_ids, strict=True):
            report.contact_ids[position] = contact_id
        report.created, report.updated, report.merged = resolution.created, resolution.updated, resolution.merged
        mark_contacts_changed(uow, [cid for cid in resolution.contact_ids if cid], now)
        new_rejects = _keep_rejects(uow, "contact", source.name, items, report.rejected, now)
        accepted = len(records) - resolution.unchanged  # a re-import counts nothing twice (ADR 0013)
        uow.sources.record_sync(source.name, accepted + new_rejects, accepted, new_rejects, now)
        return report

    return in_transaction(ctx, work)


def record_events(ctx: ServiceContext, source_name: str, items: Sequence[RawItem], route: bool = True, *,
                  audit: Callable[[UnitOfWork, datetime], None] | None = None) -> EventBatchReport:
    """Store a batch of events. With ``route`` (the default for live traffic) they also enter the
    event inbox that journey triggers read; history loaded from files usually should not. ``audit``: writes
    the audit row of a person's request in the same transaction (ingest itself writes none)."""
    return in_transaction(ctx, event_batch_work(ctx, source_name, items, route, audit=audit))


def event_batch_work(ctx: ServiceContext, source_name: str, items: Sequence[RawItem], route: bool = True, *,
                     audit: Callable[[UnitOfWork, datetime], None] | None = None
                     ) -> Callable[[UnitOfWork], EventBatchReport]:
    """``record_events`` split in two: the items are validated now (no transaction needed) and the returned
    function writes them in the caller's transaction. It may run again from the start after a conflict, and
    several of them may share one transaction (group commit, services/group_commit.py)."""
    now = ctx.clock.now()
    started = time.perf_counter()  # the acknowledgement time (A1 system response): call → commit
    # Parse before the transaction: validation is most of the CPU and needs no lock.
    rejected: list[ItemProblem] = []
    parsed: list[tuple[int, EventInput]] = []
    for index, item in enumerate(items):
        try:
            parsed.append((index, event_input_from(item.payload, source_name, now)))
        except FieldError as exc:
            rejected.append(ItemProblem(index, item.row, exc.field, exc.reason))

    def work(uow: UnitOfWork) -> EventBatchReport:
        source = ensure_source(uow, source_name)
        report = EventBatchReport(statuses=["rejected"] * len(items), event_ids=[None] * len(items),
                                  rejected=list(rejected))
        for index, event in parsed:
            report.event_ids[index] = event.id
        stored = uow.events.existing_ids([e.id for _, e in parsed])
        fresh: list[tuple[int, EventInput]] = []
        for index, event in parsed:
            if event.id in stored:
                report.statuses[index] = "duplicate"
                report.duplicates += 1
            else:
                stored.add(event.id)  # a repeat inside the same batch is a duplicate too
                fresh.append((index, event))
                report.statuses[index] = "stored"
        records = [_observation(e, source) for _, e in fresh]
        erased = erased_records(ctx, uow, records)  # PIPL: events of an erased person are refused
        if erased:
            for at, reason in sorted(erased.items()):
                index = fresh[at][0]
                report.statuses[index] = "rejected"
                report.rejected.append(ItemProblem(index, items[index].row, None, reason))
            fresh = [f for at, f in enumerate(fresh) if at not in erased]
            records = [r for at, r in enumerate(records) if at not in erased]
            report.rejected.sort(key=lambda p: p.index)
        resolution = resolve_records(uow, records, uow.tag_rules.all(), ctx.ids, source.name, now)
        written = [(e, cid) for (_, e), cid in zip(fresh, resolution.contact_ids, strict=True)]
        uow.events.insert(written, now)
        capture_events(uow, written, now)  # an unsubscribe flows back to the CRMs with a write-back (issue 14)
        apply_guard_events(uow, ctx.ids, written, now)
        # New and merged contacts may enter attribute-only segments ("not tagged vip"): every segment looks.
        reshaped = {m.winner_id for m in resolution.merges} | (
            set(resolution.contact_ids) if resolution.created else set()) | {
            cid for e, cid in written if e.type in OPT_OUT_EVENTS}  # an attribute changed: every segment looks
        mark_contacts_changed(uow, reshaped, now, {(cid, e.type) for e, cid in written})
        if route:
            uow.journeys.add_inbox([InboxEvent(e.id, cid, e.type, e.occurred_at, now) for e, cid in written])
        report.accepted = len(fresh)
        report.contacts_created, report.merged = resolution.created, resolution.merged
        new_rejects = _keep_rejects(uow, "event", source.name, items, report.rejected, now)
        # Events already stored, and rejects already kept, were counted when they first came (ADR 0013).
        uow.sources.record_sync(source.name, len(fresh) + new_rejects, len(fresh), new_rejects, now)
        if audit is not None and report.accepted:
            audit(uow, now)
        if route and items:  # live traffic only: a file import's batches are not acknowledgements
            uow.metrics.add_ingest_timing(now, len(items), time.perf_counter() - started)
        return report

    return work


def _observation(event: EventInput, source: Source) -> ContactRecord:
    """What an event tells about its contact: identities, and for an unsubscribe, withdrawn consent."""
    consents: tuple[Consent, ...] = ()
    if event.type in OPT_OUT_EVENTS:  # PIPL Art. 24 stated by the person on a site or in an app
        return ContactRecord(event.identities, source.name, source.priority, event.occurred_at,
                             values={OPT_OUT_FIELD: OPTED_OUT if event.type == OPT_OUT_EVENTS[0] else "allowed"})
    if event.type == "unsubscribe":
        channel = str(event.properties.get("channel", "all"))
        channels = ("email", "sms", "wecom", "wechat") if channel == "all" else (channel,)
        consents = tuple(Consent(c, "denied", source.name, event.occurred_at) for c in channels)
    return ContactRecord(event.identities, source.name, source.priority, event.occurred_at, consents=consents)


def _keep_rejects(uow: UnitOfWork, kind: str, source: str, items: Sequence[RawItem],
                  problems: Sequence[ItemProblem], now: datetime) -> int:
    """Keep each reject once: a file row rejected before for the same reason is not stored again. Returns how
    many were new."""
    if not problems:
        return 0
    kept = {(row, reason, _key(payload)) for row, reason, payload in
            uow.rejects.existing(kind, source, sorted({p.row for p in problems if p.row is not None}))}
    new = 0
    for problem in problems:
        item = items[problem.index]
        payload: JSONValue = item.original if item.original is not None else {k: _jsonable(v) for k, v in
                                                                    item.payload.items()}
        if json_problem(payload, "item", depth=0) is not None:  # what made it refused cannot be stored either
            payload = clip_json(payload)  # type: ignore[assignment]
        if problem.reason.startswith(ERASED_PREFIX):  # an erased person's identifiers are not kept again here
            payload = None
        if problem.row is not None and (problem.row, str(problem), _key(payload)) in kept:
            continue
        uow.rejects.add(kind, source, problem.row if problem.row is not None else problem.index, payload,
                        str(problem), now)
        new += 1
    return new


def _key(payload: JSONValue) -> bytes:
    return orjson.dumps(payload, option=orjson.OPT_SORT_KEYS, default=str)


def _jsonable(value: object) -> JSONValue:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)
