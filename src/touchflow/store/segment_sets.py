"""Full recomputes, set-wise: each leaf of a segment's condition is one indexed query for *who* it holds for.

``SqlSegmentRepository.recompute`` for everyone used to ask, per contact, "does the condition hold?"
(an anti-join in each direction). Here a leaf such as "≥ 2 downloads in 30 days" is one ``GROUP BY``
over the (type, occurred_at, contact_id) index, "has tag vip" one read of the tag index, an attribute
one scan of ``contacts``; ``domain.contact_sets`` combines them, and the result is diffed with the
current members in Python. Leaves are cached for the pass, so twenty segments that read "orders in
365 days" run that query once, and a nested segment reads the members its inner segment just got.

Leaves that hold when a contact has no events ("no purchase in 90 days", "fewer than 3 visits") are
queried as their complement — the contacts with events for whom the leaf fails — so the set stays small.
Conditions with a random bucket (no SQL form) or message engagement (needs a journey run) are not
evaluated here; ``supports`` says so and the caller takes the row-by-row path.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence, Set
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, func, not_, select

from touchflow.domain.conditions.predicates import (
    Always,
    And,
    AttrCompare,
    Condition,
    EvalContext,
    EventCount,
    EventSum,
    HasTag,
    InSegment,
    MessageEngagement,
    Not,
    Or,
    RandomBucket,
    walk,
)
from touchflow.domain.contacts import PERSONAL_FIELDS
from touchflow.domain.segments.contact_sets import ContactSet, evaluate_sets
from touchflow.store.compile import compile_condition, event_clauses, event_sum_test
from touchflow.store.event_groups import OPS, EventGroup, GroupKey, group_key, single
from touchflow.store.tables import contact_tags, contacts, events, segment_members, segments

__all__ = ["RANGE_CONTACTS", "SetEvaluator", "contact_ranges"]

Range = tuple[str | None, str | None]  # contact ids from (inclusive) .. to (exclusive); None: unbounded
RANGE_CONTACTS = 50_000  # contacts a pass holds sets for at once (each is tens of bytes a contact a set)

_EXISTS = {("gte", 1), ("gt", 0), ("ne", 0)}  # "at least one": no count needed
_ABSENT = {("eq", 0), ("lt", 1), ("lte", 0)}  # "none"


_RESTRICT_AT_MOST = 20_000  # a leaf asked about this few contacts looks them up instead of listing everyone
_CHUNK = 5_000


def contact_ranges(connection: Connection, size: int = RANGE_CONTACTS) -> list[Range]:
    """Contiguous ranges of contact ids, ``size`` contacts each (the last one open-ended): a full recompute
    evaluates one range at a time, so what it holds follows ``size``, not the population (ADR 0068)."""
    bounds: list[str | None] = [None]
    while True:
        query = select(contacts.c.id).order_by(contacts.c.id).offset(size).limit(1)
        if bounds[-1] is not None:
            query = query.where(contacts.c.id >= bounds[-1])
        following = connection.execute(query).scalar()
        if following is None:
            break
        bounds.append(following)
    return list(zip(bounds, [*bounds[1:], None], strict=True))


class SetEvaluator:
    """One pass of full recomputes at ``ctx.now`` over one connection; leaves and fresh memberships cached.
    With ``between``, only the contacts of that id range are evaluated (every query is bounded by it)."""

    def __init__(self, connection: Connection, ctx: EvalContext, between: Range = (None, None)) -> None:
        self._c = connection
        self._ctx = ctx
        self._between = between
        self._leaves: dict[Condition, ContactSet] = {}
        self._uses: Counter[Condition] = Counter()  # planned reads left per leaf: a set is dropped after its last
        self._groups: dict[GroupKey, EventGroup] = {}
        self._fresh: dict[str, Set[str]] = {}
        self._universe: Set[str] | None = None
        self._gone: Set[str] | None = None

    @staticmethod
    def supports(condition: Condition) -> bool:
        return not any(isinstance(node, RandomBucket | MessageEngagement)
                       or (isinstance(node, AttrCompare) and node.field in PERSONAL_FIELDS)  # encrypted: Python
                       for node in walk(condition))

    def plan(self, conditions: Iterable[Condition]) -> None:
        """Say which conditions the pass will evaluate, so a leaf read by several is queried once and its set
        freed after its last use (at a million contacts a set is tens of megabytes), and window leaves over
        one event type share one scan."""
        for condition in conditions:
            leaves = [node for node in walk(condition) if not isinstance(node, And | Or | Not | Always)]
            self._uses.update(leaves)
            for leaf in leaves:
                if isinstance(leaf, EventCount | EventSum):
                    key = group_key(leaf)
                    self._groups.setdefault(key, EventGroup(key, set())).leaves.add(leaf)

    def members(self, condition: Condition) -> set[str]:
        """Every live contact the condition holds for now."""
        return evaluate_sets(condition, self._leaf).within(self.universe, self.gone())

    def remember(self, key: str, members: Set[str]) -> None:
        """``key``'s members as just computed in this pass: segments nesting it read these."""
        self._fresh[key] = members

    def current(self, segment_id: str) -> set[str]:
        return self._ids(select(segment_members.c.contact_id).where(
            segment_members.c.segment_id == segment_id, *self._in_range(segment_members.c.contact_id)))

    def universe(self) -> Set[str]:
        if self._universe is None:
            self._universe = self._ids(select(contacts.c.id).where(
                contacts.c.merged_into.is_(None), *self._in_range(contacts.c.id)))
        return self._universe

    def gone(self) -> Set[str]:
        if self._gone is None:
            self._gone = self._ids(select(contacts.c.id).where(
                contacts.c.merged_into.is_not(None), *self._in_range(contacts.c.id)))
        return self._gone

    def _in_range(self, contact_id: ColumnElement[str]) -> list[ColumnElement[bool]]:
        low, high = self._between
        return [*(() if low is None else (contact_id >= low,)), *(() if high is None else (contact_id < high,))]

    # --- leaves ---------------------------------------------------------------------------------------

    def _ids(self, query: Select[Any]) -> set[str]:
        """Ids straight from the driver's cursor: text needs no type processing, and at a million rows
        SQLAlchemy's row objects would cost more than the query."""
        result = self._c.execute(query)
        try:
            return {row[0] for row in result.cursor.fetchall()}
        finally:
            result.close()

    def _leaf(self, cond: Condition, among: Set[str] | None) -> ContactSet:
        self._uses[cond] -= 1
        found = self._leaves.get(cond)
        if found is None and among is not None and len(among) <= _RESTRICT_AT_MOST and not self._shared(cond):
            found = self._restricted(cond, sorted(among))
        elif found is None:
            found = self._query_leaf(cond)
            if self._uses[cond] > 0:
                self._leaves[cond] = found
        if self._uses[cond] <= 0:
            self._leaves.pop(cond, None)
        return found

    def _shared(self, cond: Condition) -> bool:
        """Whether answering for everyone pays off: another condition of the pass reads the same scan."""
        if self._uses[cond] > 0:
            return True
        group = self._groups.get(group_key(cond)) if isinstance(cond, EventCount | EventSum) else None
        return group is not None and (group.loaded or any(self._uses[leaf] > 0 for leaf in group.leaves))

    def _query_leaf(self, cond: Condition, ids: Sequence[str] | None = None) -> ContactSet:
        """The leaf for everyone, or — with ``ids`` — right at least for those contacts."""
        if isinstance(cond, HasTag):
            query = select(contact_tags.c.contact_id).where(contact_tags.c.tag == cond.tag,
                                                            *self._in_range(contact_tags.c.contact_id))
            return ContactSet(self._ids(query if ids is None else query.where(contact_tags.c.contact_id.in_(ids))))
        if isinstance(cond, InSegment):
            fresh = self._fresh.get(cond.segment)
            if fresh is not None:
                return ContactSet(fresh)
            query = (select(segment_members.c.contact_id)
                     .join(segments, segments.c.id == segment_members.c.segment_id)
                     .where(segments.c.key == cond.segment, *self._in_range(segment_members.c.contact_id)))
            return ContactSet(self._ids(query if ids is None else query.where(segment_members.c.contact_id.in_(ids))))
        if isinstance(cond, EventCount | EventSum):
            if ids is None:  # for everyone: one time-ordered scan, counted in Python (event_groups.py)
                return self._from_group(self._groups.get(group_key(cond)) or single(cond), cond)
            return self._counted(cond, ids) if isinstance(cond, EventCount) else self._summed(cond, ids)
        # attributes, first/last and anything else: the row-by-row expression, once over every contact
        query = select(contacts.c.id).where(compile_condition(cond, self._ctx).where, *self._in_range(contacts.c.id))
        return ContactSet(self._ids(query if ids is None else query.where(contacts.c.id.in_(ids))))

    def _restricted(self, cond: Condition, ids: list[str]) -> ContactSet:
        parts = [self._query_leaf(cond, ids[start:start + _CHUNK]) for start in range(0, len(ids), _CHUNK)]
        complement = parts[0].complement  # the same leaf answers the same way for every chunk
        return ContactSet(set().union(*(p.ids for p in parts)), complement)

    def _from_group(self, group: EventGroup, leaf: EventCount | EventSum) -> ContactSet:
        if not group.loaded:
            group.load(self._c, self._ctx, self._in_range(events.c.contact_id))
        found = group.leaf_set(leaf)
        if not any(self._uses[other] > 0 for other in group.leaves):
            group.release()  # the last leaf of the scan has been read
        return found

    def _events(self, cond: EventCount | EventSum, ids: Sequence[str] | None) -> Select[Any]:
        query = select(events.c.contact_id).where(
            *event_clauses(events, cond.event_type, self._ctx, cond.within, cond.where),
            *self._in_range(events.c.contact_id))
        return query if ids is None else query.where(events.c.contact_id.in_(ids))

    def _grouped(self, cond: EventCount | EventSum, test: ColumnElement[bool], holds_at_zero: bool,
                 ids: Sequence[str] | None) -> ContactSet:
        """Contacts with matching events for whom ``test`` holds — or, when the leaf holds for a contact
        with no events, the complement of those for whom it fails."""
        query = self._events(cond, ids).group_by(events.c.contact_id).having(not_(test) if holds_at_zero else test)
        return ContactSet(self._ids(query), holds_at_zero)

    def _counted(self, cond: EventCount, ids: Sequence[str] | None) -> ContactSet:
        if (cond.op, cond.count) in _EXISTS | _ABSENT:
            return ContactSet(self._ids(self._events(cond, ids).distinct()), (cond.op, cond.count) in _ABSENT)
        return self._grouped(cond, OPS[cond.op](func.count(), cond.count), bool(OPS[cond.op](0, cond.count)), ids)

    def _summed(self, cond: EventSum, ids: Sequence[str] | None) -> ContactSet:
        test = event_sum_test(events, cond.prop, cond.op, cond.value)
        return self._grouped(cond, test, bool(OPS[cond.op](0, cond.value)), ids)
