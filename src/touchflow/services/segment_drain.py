"""The segment drain: contacts queued as changed (``segment_dirty``) are re-evaluated by the segments that read
what changed them, in nesting order (ADR 0062).

On a SQLite file shared with ingest (``ServiceContext.single_writer``) a drain round **reads first, writes
short**: it takes the oldest queued rows (thousands), evaluates every segment for their contacts in a read
snapshot, without the write lock, then writes the membership changes in short transactions sized by their
write holds (``Pacer``), each re-checked (a contact enters only if it is still no member and still a live
contact, leaves only if it is still one), and releases exactly the rows it evaluated with the last of them.
A segment's evaluation reads the whole batch at once, so its fixed cost (two queries) is paid once per round,
not once per chunk of ten contacts.

A change computed in the snapshot is written even when the contact was queued again meanwhile: it was right
for the facts of the snapshot, and the newer row (not released) moves the contact, in the directions the new
change can move it, in the next round. The same holds for nesting: the contacts whose membership of an inner
segment changed are queued (``+key`` / ``-key``) for the segments nesting it, which look at them in the next
round of the same ``update_segments`` call (the old drain looked in the same transaction).

Elsewhere (PostgreSQL, whose row locks block no ingest, and the sandbox's private file) a round claims the
rows and evaluates and writes in one transaction, as before: two workers never evaluate the same rows.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime
from functools import partial

from touchflow.domain.conditions.predicates import EvalContext
from touchflow.domain.governance.privacy import targeting
from touchflow.domain.segments.model import (
    MembershipChange,
    SegmentDefinition,
    evaluation_order,
    membership_events,
    parse_segment,
    reactions,
    segment_reason,
)
from touchflow.domain.segments.ports import SegmentRecord
from touchflow.domain.unit_of_work import UnitOfWork
from touchflow.services.context import ServiceContext, emit_events, in_transaction
from touchflow.services.pacing import Pacer

__all__ = ["ROUND_BUDGET", "definition_of", "drain_round", "drain_rounds", "emit_change", "evaluating_seconds",
           "queue_change"]

# Seconds of evaluating (in a snapshot) a drain round aims at when there is a backlog: long enough that each
# segment's two queries serve thousands of contacts, short enough that routing waits for one round at most.
ROUND_BUDGET = 0.2
_evaluating = threading.local()


def evaluating_seconds() -> float:
    """Seconds this thread has spent evaluating drain rounds in read snapshots: the rounds are sized by it, not
    by their writes (which are chunked and timed by their own write holds)."""
    return float(getattr(_evaluating, "seconds", 0.0))


def drain_rounds(high: int = 50_000) -> Pacer:
    """Sizes the drain's rounds (queued rows per snapshot) by the time spent evaluating them."""
    return Pacer(start=min(2000, high), low=100, high=high, budget=ROUND_BUDGET, held=evaluating_seconds)


def definition_of(record: SegmentRecord) -> SegmentDefinition:
    return parse_segment(record.definition, f"segment.{record.key}")


def emit_change(uow: UnitOfWork, key: str, change: MembershipChange, now: datetime) -> None:
    emit_events(uow, membership_events(key, change, now), now)


def queue_change(uow: UnitOfWork, key: str, change: MembershipChange, now: datetime, batch: str | None) -> None:
    """Queue the contacts that entered or left ``key`` (reasons ``+key`` / ``-key``) for the segments nesting
    it; with ``batch`` they join the batch being drained, so those segments see them on this pass."""
    uow.segments.mark_dirty([*((c, segment_reason(key, True)) for c in change.entered),
                             *((c, segment_reason(key, False)) for c in change.left)], now, batch)


def drain_round(ctx: ServiceContext, limit: int, writes: Pacer) -> tuple[int, bool]:
    """Evaluate and write the oldest ``limit`` queued rows: how many rows were taken (0: the queue is empty),
    and whether more may wait (the round was full, or it queued contacts for nesting segments)."""
    if ctx.single_writer:
        return _read_first(ctx, limit, writes)
    done = _in_one_transaction(ctx, limit)
    return done, done >= limit


def _read_first(ctx: ServiceContext, limit: int, writes: Pacer) -> tuple[int, bool]:
    now = ctx.clock.now()
    planned: list[tuple[SegmentRecord, MembershipChange]] = []
    started = time.perf_counter()
    with ctx.reader() as uow:  # a snapshot: no write lock while every segment is evaluated
        head = uow.segments.dirty_head(limit)
        if not head:
            return 0, False
        upto = head[-1][0]
        present = {reason for _, reason in head}
        records = {r.key: r for r in uow.segments.all()}
        definitions = evaluation_order(definition_of(r) for r in records.values())
        for definition in definitions:
            if definition.condition is None:
                continue
            condition = targeting(definition.condition)  # scores: opted-out contacts excluded (PIPL Art. 24)
            ways = reactions(condition)
            enter = {r for r, d in ways.items() if r in present and "enter" in d}
            leave = {r for r, d in ways.items() if r in present and "leave" in d}
            change = uow.segments.evaluate_dirty(records[definition.key], condition, EvalContext(now), upto,
                                                 enter, leave)
            if not change.empty:
                planned.append((records[definition.key], change))
    _evaluating.seconds = evaluating_seconds() + time.perf_counter() - started
    nested = {inner for d in definitions for inner in d.nested}
    todo = [(i, cid) for i, (_, change) in enumerate(planned) for cid in sorted(change.entered | change.left)]
    seqs = [seq for seq, _ in head]
    requeued = False

    def write(uow: UnitOfWork, chunk: list[tuple[int, str]], last: bool) -> None:
        nonlocal requeued
        uow.segments.lock()
        ids: dict[int, set[str]] = {}
        for i, cid in chunk:  # in nesting order, as planned
            ids.setdefault(i, set()).add(cid)
        versions = {r.id: r.version for r in uow.segments.all()} if ids else {}
        for i, part in ids.items():
            record, change = planned[i]
            if versions.get(record.id) != record.version:
                continue  # archived or saved anew since the snapshot: saving recomputed it for everyone
            done = uow.segments.apply_checked(
                record.id, MembershipChange(change.entered & part, change.left & part), now, None)
            emit_change(uow, record.key, done, now)
            if record.key in nested and not done.empty:
                queue_change(uow, record.key, done, now, None)  # the nesting segments look in the next round
                requeued = True
        if last:
            uow.segments.release_rows(seqs)

    written = 0
    for chunk in writes.chunks(todo):
        written += len(chunk)
        in_transaction(ctx, partial(write, chunk=list(chunk), last=written >= len(todo)))
    if not todo:
        in_transaction(ctx, partial(write, chunk=[], last=True))
    return len(head), requeued or len(head) >= limit


def _in_one_transaction(ctx: ServiceContext, limit: int) -> int:
    now = ctx.clock.now()

    def work(uow: UnitOfWork) -> int:
        uow.segments.lock()
        batch = ctx.ids.new(now)
        claimed = uow.segments.claim_dirty(batch, limit)
        if not claimed:
            return 0
        records = {r.key: r for r in uow.segments.all()}
        definitions = evaluation_order(definition_of(r) for r in records.values())
        nested = {inner for d in definitions for inner in d.nested}
        for definition in definitions:  # nested segments first, so the segments reading them see this batch
            if definition.condition is None:
                continue
            condition = targeting(definition.condition)  # scores: opted-out contacts excluded (PIPL Art. 24)
            change = uow.segments.recompute(records[definition.key], condition, EvalContext(now),
                                            dirty_batch=batch, reactions=reactions(condition))
            emit_change(uow, definition.key, change, now)
            if definition.key in nested and not change.empty:
                queue_change(uow, definition.key, change, now, batch)
        uow.segments.release_dirty(batch)
        return claimed

    return in_transaction(ctx, work)
