"""Segment definitions and memberships on SQL: set-based recompute, history, the dirty-contact queue.

A recompute runs the compiled condition (``store/compile.py``) twice, each time as one statement:
*who is in but not yet a member* over the candidates, and *which members no longer match* over the
current members. Only that difference comes back to Python; the member set itself stays in SQL.

Candidates are narrowed before the condition runs: a conjunct that needs a matching event, a tag
or another segment's membership turns into ``contacts.id IN (…)`` over its index, so "≥ 2 downloads
in 30 days" starts from last month's downloads instead of from every contact.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Connection,
    Select,
    and_,
    delete,
    exists,
    func,
    insert,
    select,
    union,
    update,
)

from touchflow.domain.conditions.predicates import (
    And,
    AttrCompare,
    Condition,
    EvalContext,
    EventCount,
    EventSum,
    HasTag,
    InSegment,
    Or,
    evaluate,
    needs_events,
    segments_used,
    walk,
)
from touchflow.domain.segments.model import Direction, MembershipChange
from touchflow.domain.segments.ports import MembershipStay, SegmentRecord
from touchflow.security.pii import PiiCodec
from touchflow.store.bulk import bulk_insert
from touchflow.store.compile import CompiledCondition, compile_condition
from touchflow.store.segment_queue import SegmentQueue
from touchflow.store.segment_sets import RANGE_CONTACTS, SetEvaluator, contact_ranges
from touchflow.store.tables import (
    contact_tags,
    contacts,
    events,
    segment_dirty,
    segment_history,
    segment_members,
    segments,
)

__all__ = ["SqlSegmentRepository", "narrowing"]

_CHUNK = 500
# which contacts to evaluate: ids, a subquery of ids (or a union of two), or everyone
_Scope = Sequence[str] | Select[str] | CompoundSelect[str] | None
_LOCK_KEY = 0x5E6_0001  # one advisory lock for every membership writer


def _record(r: Any) -> SegmentRecord:
    return SegmentRecord(r.id, r.key, r.name, r.kind, dict(r.definition or {}), r.version, r.status,
                         timedelta(seconds=r.refresh_every_s), r.next_refresh_at, r.created_at, r.created_by,
                         r.updated_at)


def _nobody(scope: _Scope) -> bool:
    """An empty list of contacts (not None, which means everyone): that direction has nothing to check."""
    return isinstance(scope, Sequence) and not scope


def _positive_event(cond: EventCount | EventSum) -> bool:
    """Whether a contact must have at least one matching event for the leaf to hold."""
    if isinstance(cond, EventSum):
        # with no events the sum is 0: only a comparison that 0 fails needs one
        return ((cond.op == "gt" and cond.value >= 0) or (cond.op == "gte" and cond.value > 0)
                or (cond.op == "eq" and cond.value != 0))
    return (cond.op == "gte" and cond.count >= 1) or (cond.op == "gt") or (cond.op == "eq" and cond.count >= 1)


def narrowing(cond: Condition, ctx: EvalContext) -> list[ColumnElement[bool]]:
    """``contacts.id IN (…)`` clauses implied by the top-level conjuncts: each is a superset of the
    matches, so adding them changes nothing but the plan (the database drives from the index)."""
    conjuncts = list(cond.items) if isinstance(cond, And) else [cond]
    found: list[ColumnElement[bool]] = []
    for item in conjuncts:
        if isinstance(item, And):
            found.extend(narrowing(item, ctx))
        elif isinstance(item, EventCount | EventSum) and _positive_event(item):
            query = select(events.c.contact_id).where(events.c.type == item.event_type,
                                                      events.c.occurred_at <= ctx.now)
            if item.within is not None:
                query = query.where(events.c.occurred_at > ctx.now - item.within)
            found.append(contacts.c.id.in_(query))
        elif isinstance(item, HasTag):
            found.append(contacts.c.id.in_(select(contact_tags.c.contact_id).where(contact_tags.c.tag == item.tag)))
        elif isinstance(item, InSegment):
            found.append(contacts.c.id.in_(
                select(segment_members.c.contact_id).join(segments, segments.c.id == segment_members.c.segment_id)
                .where(segments.c.key == item.segment)))
    return found[:1]  # one driver is enough; more IN lists only add work


class SqlSegmentRepository(SegmentQueue):
    def __init__(self, connection: Connection, pii: PiiCodec | None = None) -> None:
        self._c = connection
        self._pg = connection.dialect.name == "postgresql"
        self._pii = pii  # decrypts personal fields when encryption is enabled (ADR 0026)

    # --- definitions ----------------------------------------------------------------------------

    def get(self, key: str) -> SegmentRecord | None:
        row = self._c.execute(select(segments).where(segments.c.key == key)).first()
        return None if row is None else _record(row)

    def all(self, status: str | None = "active") -> list[SegmentRecord]:
        query = select(segments).order_by(segments.c.key)
        if status is not None:
            query = query.where(segments.c.status == status)
        return [_record(r) for r in self._c.execute(query)]

    def save(self, record: SegmentRecord) -> None:
        values = {"key": record.key, "name": record.name, "kind": record.kind, "definition": record.definition,
                  "version": record.version, "status": record.status,
                  "refresh_every_s": int(record.refresh_every.total_seconds()),
                  "next_refresh_at": record.next_refresh_at, "created_at": record.created_at,
                  "created_by": record.created_by, "updated_at": record.updated_at}
        done = self._c.execute(update(segments).where(segments.c.id == record.id).values(**values))
        if not done.rowcount:
            self._c.execute(insert(segments).values(id=record.id, **values))

    def lock(self) -> None:
        if self._pg:
            self._c.execute(select(func.pg_advisory_xact_lock(_LOCK_KEY)))

    # --- membership -----------------------------------------------------------------------------

    def _candidates(self, condition: Condition, ctx: EvalContext, scope: _Scope,
                    compiled: CompiledCondition | None = None) -> tuple[Select[str], Condition | None]:
        compiled = compiled or compile_condition(condition, ctx)  # building it is most of a small batch's cost
        query = select(contacts.c.id).where(contacts.c.merged_into.is_(None), compiled.where)
        # the scope drives when there is one (a batch of dirty contacts); otherwise the narrowest index
        return query.where(*([contacts.c.id.in_(scope)] if scope is not None else narrowing(condition, ctx))), \
            compiled.residual

    def _residual(self, ids: list[str], residual: Condition, ctx: EvalContext) -> list[str]:
        from touchflow.store.journeys import SqlJourneyRepository  # facts loading lives with the journeys

        needed = needs_events(residual)
        facts = SqlJourneyRepository(self._c, self._pii).load_facts(ids, needed or (), None)
        if segments_used(residual):
            keys: dict[str, set[str]] = {}
            for start in range(0, len(ids), _CHUNK):
                for cid, key in self._c.execute(
                        select(segment_members.c.contact_id, segments.c.key)
                        .join(segments, segments.c.id == segment_members.c.segment_id)
                        .where(segment_members.c.contact_id.in_(ids[start:start + _CHUNK]))):
                    keys.setdefault(cid, set()).add(key)
            facts = {cid: replace(f, segments=frozenset(keys.get(cid, ()))) for cid, f in facts.items()}
        return [cid for cid in ids if evaluate(residual, facts[cid], ctx)]

    def recompute(self, segment: SegmentRecord, condition: Condition, ctx: EvalContext,
                  contact_ids: Collection[str] | None = None, dirty_batch: str | None = None,
                  reactions: Mapping[str, Collection[Direction]] | None = None) -> MembershipChange:
        if dirty_batch is not None:
            def scope(direction: Direction) -> Select[str]:
                query = select(segment_dirty.c.contact_id).where(segment_dirty.c.batch == dirty_batch)
                if reactions is not None:  # only contacts touched by what can move them this way
                    query = query.where(segment_dirty.c.reason.in_(
                        sorted(r for r, d in reactions.items() if direction in d)))
                return query.distinct()

            return self._recompute(segment, condition, ctx, scope("enter"), scope("leave"))
        if contact_ids is None:
            if SetEvaluator.supports(condition):
                return self.recompute_everyone([(segment, condition)], ctx)[0]
            return self._recompute(segment, condition, ctx, None, None)
        entered: set[str] = set()
        left: set[str] = set()
        ids = sorted(set(contact_ids))
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start:start + _CHUNK]
            change = self._recompute(segment, condition, ctx, chunk, chunk)
            entered |= change.entered
            left |= change.left
        return MembershipChange(frozenset(entered), frozenset(left))

    def evaluate_dirty(self, segment: SegmentRecord, condition: Condition, ctx: EvalContext, upto: int,
                       enter_reasons: Collection[str], leave_reasons: Collection[str]) -> MembershipChange:
        """The change the queued rows up to ``upto`` call for, computed but not applied (a read snapshot): non-members
        queued for one of ``enter_reasons`` that now match, members queued for one of ``leave_reasons`` that no
        longer do. A direction without reasons is not queried."""
        def scope(reasons: Collection[str]) -> _Scope:
            if not reasons:
                return ()
            return (select(segment_dirty.c.contact_id)
                    .where(segment_dirty.c.seq <= upto, segment_dirty.c.reason.in_(sorted(reasons))).distinct())

        if not enter_reasons and not leave_reasons:
            return MembershipChange(frozenset(), frozenset())
        return self._recompute(segment, condition, ctx, scope(enter_reasons), scope(leave_reasons), apply=False)

    def recompute_everyone(self, items: Sequence[tuple[SegmentRecord, Condition]],
                           ctx: EvalContext, apply: bool = True) -> list[MembershipChange]:
        """Full recomputes in the given order (inner segments first), set-wise where the condition allows:
        leaves shared between the segments are queried once, and a nesting segment reads the members its
        inner segment got in this pass. Without ``apply`` only the changes are returned (a read snapshot).

        Set-wise, the pass goes ``RANGE_CONTACTS`` contacts at a time (every leaf is about one contact, so
        ranges are independent): its memory follows the range, not the population (ADR 0068)."""
        wise = [(segment, c) for segment, c in items if SetEvaluator.supports(c)]
        entered: dict[str, set[str]] = {segment.id: set() for segment, _ in wise}
        left: dict[str, set[str]] = {segment.id: set() for segment, _ in wise}
        nested = {key for _, c in items for key in segments_used(c)}
        for between in contact_ranges(self._c, RANGE_CONTACTS) if wise else ():
            evaluator = SetEvaluator(self._c, ctx, between)
            evaluator.plan(c for _, c in wise)
            for segment, condition in wise:
                now_in = evaluator.members(condition)
                current = evaluator.current(segment.id)
                entered[segment.id] |= now_in - current
                left[segment.id] |= current - now_in
                if segment.key in nested:
                    evaluator.remember(segment.key, now_in)
        changes: list[MembershipChange] = []
        for segment, condition in items:
            if not SetEvaluator.supports(condition):
                changes.append(self._recompute(segment, condition, ctx, None, None, apply))
                continue
            change = MembershipChange(frozenset(entered[segment.id]), frozenset(left[segment.id]))
            if apply:
                self._apply(segment.id, change, ctx.now)
            changes.append(change)
        return changes

    def _recompute(self, segment: SegmentRecord, condition: Condition, ctx: EvalContext,
                   enter_scope: _Scope, leave_scope: _Scope, apply: bool = True) -> MembershipChange:
        """Non-members in ``enter_scope`` that now match enter; members in ``leave_scope`` that no longer
        match leave (a scope of None: everyone)."""
        sm = segment_members
        member_of = and_(sm.c.segment_id == segment.id)
        compiled = compile_condition(condition, ctx)
        if compiled.residual is not None:  # a random split: finish the candidates in Python, then diff
            scope: _Scope = None  # both ways at once: every contact of either scope
            if _nobody(enter_scope) or _nobody(leave_scope):
                scope = leave_scope if _nobody(enter_scope) else enter_scope
            elif isinstance(enter_scope, Select) and isinstance(leave_scope, Select):
                scope = union(enter_scope, leave_scope)
            elif enter_scope is not None and leave_scope is not None:
                scope = sorted({*cast(Sequence[str], enter_scope), *cast(Sequence[str], leave_scope)})
            query, residual = self._candidates(condition, ctx, scope, compiled)
            assert residual is not None
            now_in = set(self._residual([r[0] for r in self._c.execute(query)], residual, ctx))
            current_q = select(sm.c.contact_id).where(member_of)
            if scope is not None:
                current_q = current_q.where(sm.c.contact_id.in_(scope))
            current = {r[0] for r in self._c.execute(current_q)}
            change = MembershipChange(frozenset(now_in - current), frozenset(current - now_in))
        else:
            entered: list[str] = []
            left: list[str] = []
            if not _nobody(enter_scope):
                query, _ = self._candidates(condition, ctx, enter_scope, compiled)
                is_member = exists(select(sm.c.contact_id).where(member_of, sm.c.contact_id == contacts.c.id))
                entered = [r[0] for r in self._c.execute(query.where(~is_member))]
            if not _nobody(leave_scope):
                still = exists(select(contacts.c.id).where(contacts.c.id == sm.c.contact_id,
                                                           contacts.c.merged_into.is_(None), compiled.where))
                left_q = select(sm.c.contact_id).where(member_of, ~still)
                if leave_scope is not None:
                    left_q = left_q.where(sm.c.contact_id.in_(leave_scope))
                left = [r[0] for r in self._c.execute(left_q)]
            change = MembershipChange(frozenset(entered), frozenset(left))
        if apply:
            self._apply(segment.id, change, ctx.now)
        return change

    def apply_checked(self, segment_id: str, change: MembershipChange, now: datetime,
                      dirtied_after: int | None) -> MembershipChange:
        """Apply a change computed in an earlier snapshot, re-checked now: a contact enters only if still not a
        member and still a live contact (not merged away or erased meanwhile), leaves only if still a member,
        and, with ``dirtied_after``, neither when its facts changed since (a ``segment_dirty`` row past it: the
        drain decides it on fresh facts). Returns what was applied."""
        ids = sorted(change.entered | change.left)
        entering = sorted(change.entered)
        members: set[str] = set()
        dirtied: set[str] = set()
        live: set[str] = set()
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start:start + _CHUNK]
            members.update(self._c.execute(select(segment_members.c.contact_id).where(
                segment_members.c.segment_id == segment_id, segment_members.c.contact_id.in_(chunk))).scalars())
            if dirtied_after is not None:
                dirtied.update(self._c.execute(select(segment_dirty.c.contact_id).where(
                    segment_dirty.c.seq > dirtied_after, segment_dirty.c.contact_id.in_(chunk))).scalars())
        for start in range(0, len(entering), _CHUNK):
            live.update(self._c.execute(select(contacts.c.id).where(
                contacts.c.id.in_(entering[start:start + _CHUNK]), contacts.c.merged_into.is_(None))).scalars())
        checked = MembershipChange(frozenset((change.entered & live) - members - dirtied),
                                   frozenset((change.left & members) - dirtied))
        self._apply(segment_id, checked, now)
        return checked

    def _apply(self, segment_id: str, change: MembershipChange, now: datetime) -> None:
        entered = sorted(change.entered)
        if entered:
            bulk_insert(self._c, segment_members, ("segment_id", "contact_id", "since"),
                        [(segment_id, cid, now) for cid in entered])
            bulk_insert(self._c, segment_history, ("segment_id", "contact_id", "entered_at"),
                        [(segment_id, cid, now) for cid in entered])
        left = sorted(change.left)
        for start in range(0, len(left), _CHUNK):
            chunk = left[start:start + _CHUNK]
            self._c.execute(delete(segment_members).where(segment_members.c.segment_id == segment_id,
                                                          segment_members.c.contact_id.in_(chunk)))
            self._c.execute(update(segment_history).where(  # found through (contact_id, segment_id, left_at)
                segment_history.c.segment_id == segment_id, segment_history.c.contact_id.in_(chunk),
                segment_history.c.left_at.is_(None)).values(left_at=now))

    def change_members(self, segment: SegmentRecord, add: Collection[str], remove: Collection[str],
                       now: datetime) -> MembershipChange:
        wanted = set(add) - set(remove)
        touched = sorted(wanted | set(remove))
        current: set[str] = set()
        for start in range(0, len(touched), _CHUNK):
            current.update(r[0] for r in self._c.execute(select(segment_members.c.contact_id).where(
                segment_members.c.segment_id == segment.id,
                segment_members.c.contact_id.in_(touched[start:start + _CHUNK]))))
        change = MembershipChange(frozenset(wanted - current), frozenset(set(remove) & current))
        self._apply(segment.id, change, now)
        return change

    def end_all(self, segment_id: str, now: datetime) -> int:
        self._c.execute(delete(segment_members).where(segment_members.c.segment_id == segment_id))
        ended = self._c.execute(update(segment_history).where(
            segment_history.c.segment_id == segment_id, segment_history.c.left_at.is_(None)).values(left_at=now))
        return int(ended.rowcount)

    def matching(self, condition: Condition, ctx: EvalContext, sample: int) -> tuple[int, list[str]]:
        if all(isinstance(node, And | Or | AttrCompare | HasTag) for node in walk(condition)):
            # attributes and tags only: counted by the database on the narrowest index, not by loading every
            # live contact's id as the set-wise pass does (5 s at a million contacts); the incremental updates
            # already trust this compiled form to agree with the set-wise one
            query, residual = self._candidates(condition, ctx, None)
            if residual is None:
                count = int(self._c.execute(select(func.count()).select_from(query.subquery())).scalar_one())
                return count, [r[0] for r in self._c.execute(query.order_by(contacts.c.id).limit(sample))]
        if SetEvaluator.supports(condition):  # a range at a time, in id order, as the full recompute goes
            count, first = 0, list[str]()
            for between in contact_ranges(self._c, RANGE_CONTACTS):
                found = SetEvaluator(self._c, ctx, between).members(condition)
                count += len(found)
                if len(first) < sample:  # the sample is the first ids: later ranges only count
                    first.extend(sorted(found)[:sample - len(first)])
            return count, first
        query, residual = self._candidates(condition, ctx, None)
        if residual is None:
            count = int(self._c.execute(select(func.count()).select_from(query.subquery())).scalar_one())
            return count, [r[0] for r in self._c.execute(query.order_by(contacts.c.id).limit(sample))]
        ids = sorted(self._residual([r[0] for r in self._c.execute(query)], residual, ctx))
        return len(ids), ids[:sample]

    def members(self, segment_id: str, after: str | None, limit: int) -> list[tuple[str, datetime]]:
        query = (select(segment_members.c.contact_id, segment_members.c.since)
                 .where(segment_members.c.segment_id == segment_id)
                 .order_by(segment_members.c.contact_id).limit(limit))
        if after is not None:
            query = query.where(segment_members.c.contact_id > after)
        return [(r[0], r[1]) for r in self._c.execute(query)]

    def member_count(self, segment_id: str) -> int:
        return int(self._c.execute(select(func.count()).select_from(segment_members)
                                   .where(segment_members.c.segment_id == segment_id)).scalar_one())

    def segments_of(self, contact_id: str) -> list[str]:
        query = (select(segments.c.key).join(segment_members, segment_members.c.segment_id == segments.c.id)
                 .where(segment_members.c.contact_id == contact_id).order_by(segments.c.key))
        return [r[0] for r in self._c.execute(query)]

    def history_of(self, contact_id: str) -> list[MembershipStay]:
        query = (select(segments.c.key, segment_history.c.contact_id, segment_history.c.entered_at,
                        segment_history.c.left_at)
                 .join(segments, segments.c.id == segment_history.c.segment_id)
                 .where(segment_history.c.contact_id == contact_id)
                 .order_by(segment_history.c.entered_at, segment_history.c.id))
        return [MembershipStay(*r) for r in self._c.execute(query)]

    def stays_in(self, segment_id: str, before: int | None, limit: int) -> list[tuple[int, MembershipStay]]:
        query = (select(segment_history.c.id, segments.c.key, segment_history.c.contact_id,
                        segment_history.c.entered_at, segment_history.c.left_at)
                 .join(segments, segments.c.id == segment_history.c.segment_id)
                 .where(segment_history.c.segment_id == segment_id)
                 .order_by(segment_history.c.id.desc()).limit(limit))
        if before is not None:
            query = query.where(segment_history.c.id < before)
        return [(int(r[0]), MembershipStay(*r[1:])) for r in self._c.execute(query)]

    def due_for_refresh(self, now: datetime, limit: int) -> list[SegmentRecord]:
        query = (select(segments).where(segments.c.status == "active", segments.c.kind == "dynamic",
                                        segments.c.next_refresh_at.is_not(None), segments.c.next_refresh_at <= now)
                 .order_by(segments.c.next_refresh_at).limit(limit))
        return [_record(r) for r in self._c.execute(query)]

    def set_next_refresh(self, segment_id: str, at: datetime | None) -> None:
        self._c.execute(update(segments).where(segments.c.id == segment_id).values(next_refresh_at=at))
