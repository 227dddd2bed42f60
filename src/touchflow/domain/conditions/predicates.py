"""The one condition language: a typed AST and its in-Python evaluator (DESIGN principle 7).

Segments, journey branches, triggers and goals all use these nodes. ``predicate_parse`` turns
marketer-written YAML/JSON data into them; ``touchflow.store.compile`` turns them into SQL for
batches. Both paths must agree on every contact, and a test checks that they do.

Semantics that both paths share (docs/subsystems/conditions.md is the reference):

* A value is *missing* when the field is absent or null. On a missing value every comparison is
  false except ``ne``, ``not_in`` and ``not_exists``, which are the negations of ``eq``, ``in``
  and ``exists`` and so are true.
* Values compare only within one kind: numbers with numbers (``True`` is not a number), text
  with text (code-point order), true/false with true/false. ``eq`` across kinds is false.
* An event window ``within`` covers ``now - within < occurred_at <= now``; events after ``now``
  never count, which keeps the virtual-clock simulator honest.
* ``first`` / ``last`` pick one matching event; ties on ``occurred_at`` break by event id (first: the
  smallest, last: the largest, in code-point order), so Python and SQL pick the same event.
"""

from __future__ import annotations

import hashlib
import operator
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from touchflow.domain.contacts import Scalar
from touchflow.domain.errors import PathError

__all__ = [
    "ATTR_OPS",
    "COUNT_OPS",
    "ENGAGEMENT_EVENTS",
    "PROP_OPS",
    "Always",
    "And",
    "AttrCompare",
    "AttrOp",
    "Condition",
    "ConditionError",
    "ContactFacts",
    "CountOp",
    "EvalContext",
    "EventCount",
    "EventFact",
    "EventFirstLast",
    "EventSum",
    "HasTag",
    "InSegment",
    "MessageEngagement",
    "MissingRunContext",
    "Not",
    "Or",
    "PropFilter",
    "PropOp",
    "RandomBucket",
    "TimeBound",
    "compare_value",
    "evaluate",
    "first_or_last_event",
    "in_window",
    "max_window",
    "needs_events",
    "random_bucket",
    "segments_used",
    "uses_run_context",
    "walk",
]

AttrOp = Literal["eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "contains", "exists", "not_exists"]
PropOp = Literal["eq", "ne", "gt", "gte", "lt", "lte", "in"]
CountOp = Literal["eq", "ne", "gt", "gte", "lt", "lte"]
ATTR_OPS: tuple[AttrOp, ...] = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "contains", "exists",
                                "not_exists")
PROP_OPS: tuple[PropOp, ...] = ("eq", "ne", "gt", "gte", "lt", "lte", "in")
COUNT_OPS: tuple[CountOp, ...] = ("eq", "ne", "gt", "gte", "lt", "lte")
ENGAGEMENT_EVENTS: Mapping[str, str] = {"opened": "message_opened", "clicked": "message_clicked"}

Operand = Scalar | tuple[Scalar, ...] | None


class ConditionError(PathError):
    """A condition cannot be used; ``path`` names the offending element (``nodes[3].if.all[1].within``)."""


class MissingRunContext(ValueError):
    """A message-engagement condition was evaluated outside a journey run (no journey or entry time)."""


def _check_operand(op: str, value: Operand, allowed: Sequence[str]) -> None:
    if op not in allowed:
        raise ValueError(f"unknown operator {op!r}")
    if op in ("in", "not_in"):
        if not isinstance(value, tuple):
            raise ValueError(f"{op} needs a tuple of values")
    elif op in ("exists", "not_exists"):
        if value is not None:
            raise ValueError(f"{op} takes no value")
    elif value is None or isinstance(value, tuple):
        raise ValueError(f"{op} needs one value")


# --- the AST ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AttrCompare:
    """A contact attribute: a standard field (``industry``, ``lifecycle_stage``…) or ``custom.<name>``."""

    field: str
    op: AttrOp
    value: Operand = None

    def __post_init__(self) -> None:
        _check_operand(self.op, self.value, ATTR_OPS)


@dataclass(frozen=True, slots=True)
class HasTag:
    tag: str


@dataclass(frozen=True, slots=True)
class PropFilter:
    """A filter on one event property, with the same value semantics as ``AttrCompare``."""

    prop: str
    op: PropOp
    value: Scalar | tuple[Scalar, ...]

    def __post_init__(self) -> None:
        _check_operand(self.op, self.value, PROP_OPS)


@dataclass(frozen=True, slots=True)
class EventCount:
    """How many events of a type (matching ``where``) occurred in the window, compared with ``count``."""

    event_type: str
    op: CountOp
    count: int
    within: timedelta | None = None
    where: tuple[PropFilter, ...] = ()


@dataclass(frozen=True, slots=True)
class EventSum:
    """The sum of a numeric property over matching events in the window (0 when none), compared."""

    event_type: str
    prop: str
    op: CountOp
    value: int | float
    within: timedelta | None = None
    where: tuple[PropFilter, ...] = ()


@dataclass(frozen=True, slots=True)
class TimeBound:
    """When the picked event occurred: ``before`` = at or before ``now - ago``, ``after`` = later than that."""

    side: Literal["before", "after"]
    ago: timedelta

    def __post_init__(self) -> None:
        if self.side not in ("before", "after") or self.ago <= timedelta(0):
            raise ValueError(f"a time bound is before/after a positive duration, got {self.side} {self.ago}")


@dataclass(frozen=True, slots=True)
class EventFirstLast:
    """The first or last matching event in the window, tested on one property or on when it occurred.

    With no matching event the property is missing (only ``ne`` holds) and a time bound is false.
    """

    which: Literal["first", "last"]
    event_type: str
    test: PropFilter | TimeBound
    within: timedelta | None = None
    where: tuple[PropFilter, ...] = ()

    def __post_init__(self) -> None:
        if self.which not in ("first", "last"):
            raise ValueError(f"which is first or last, got {self.which!r}")
        if isinstance(self.test, TimeBound) and self.test.side == "before" and self.within is not None \
                and self.test.ago >= self.within:
            raise ValueError("never true: an event in the window cannot be that long ago")


@dataclass(frozen=True, slots=True)
class MessageEngagement:
    """The contact opened/clicked the message sent by ``node_id`` of the current journey run."""

    node_id: str
    action: Literal["opened", "clicked"]
    within: timedelta | None = None


@dataclass(frozen=True, slots=True)
class RandomBucket:
    """A deterministic split: the same contact and salt always land in the same bucket."""

    salt: str
    below_percent: float


@dataclass(frozen=True, slots=True)
class InSegment:
    """The contact is a member of another segment, as its membership was last computed (nesting)."""

    segment: str


@dataclass(frozen=True, slots=True)
class And:
    items: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class Not:
    item: Condition


@dataclass(frozen=True, slots=True)
class Always:
    pass


Condition = (AttrCompare | HasTag | EventCount | EventSum | EventFirstLast | MessageEngagement | RandomBucket
             | InSegment | And | Or | Not | Always)


# --- what a condition is evaluated on ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EvalContext:
    now: datetime
    journey_id: str | None = None
    run_entered_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class EventFact:
    """``event_id`` breaks ties between events at one instant for first/last (the store's loader fills it);
    without ids, ties break by position in ``ContactFacts.events``."""

    type: str
    occurred_at: datetime
    properties: Mapping[str, object] = field(default_factory=dict)
    event_id: str | None = None


@dataclass(frozen=True, slots=True)
class ContactFacts:
    """One contact as the evaluator sees it. ``values`` uses ``ContactState.values`` keys (``custom.x``)."""

    contact_id: str
    values: Mapping[str, Scalar | None] = field(default_factory=dict)
    tags: Collection[str] = frozenset()
    events: Sequence[EventFact] = ()
    segments: Collection[str] = frozenset()  # keys of the segments the contact is a member of


# --- evaluation -----------------------------------------------------------------------------------------


def _kind(value: object) -> str:
    if value is None:
        return "missing"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "text"
    return "other"  # lists and objects inside event properties: only ne/not_in/exists see them


def _eq(actual: object, expected: Scalar) -> bool:
    return _kind(actual) == _kind(expected) and actual == expected


_ORDER: Mapping[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq, "ne": operator.ne, "gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le,
}


def _order(actual: object, op: str, expected: Scalar) -> bool:
    kind = _kind(actual)
    return kind == _kind(expected) and kind in ("number", "text") and _ORDER[op](actual, expected)


def compare_value(actual: object, op: str, expected: Operand) -> bool:
    """One comparison with the language's missing-value and kind rules (shared by attributes and props)."""
    if op == "exists":
        return actual is not None
    if op == "not_exists":
        return actual is None
    if op in ("in", "not_in"):
        assert isinstance(expected, tuple)
        hit = any(_eq(actual, v) for v in expected)
        return hit if op == "in" else not hit
    assert expected is not None and not isinstance(expected, tuple)
    if op == "eq":
        return _eq(actual, expected)
    if op == "ne":
        return not _eq(actual, expected)
    if op == "contains":
        return isinstance(actual, str) and isinstance(expected, str) and expected in actual
    return _order(actual, op, expected)


def _count_matches(actual: int | float, op: CountOp, expected: int | float) -> bool:
    return _ORDER[op](actual, expected)


def in_window(at: datetime, now: datetime, within: timedelta | None, since: datetime | None = None) -> bool:
    """``now - within < at <= now`` (and ``at >= since`` when given)."""
    if at > now:
        return False
    if within is not None and at <= now - within:
        return False
    return since is None or at >= since


def _matching(facts: ContactFacts, event_type: str, within: timedelta | None,
              where: tuple[PropFilter, ...], now: datetime) -> Iterator[EventFact]:
    for event in facts.events:
        if (event.type == event_type and in_window(event.occurred_at, now, within)
                and all(compare_value(event.properties.get(f.prop), f.op, f.value) for f in where)):
            yield event


def first_or_last_event(facts: ContactFacts, cond: EventFirstLast, now: datetime) -> EventFact | None:
    """The event ``cond`` picks: the earliest or latest matching one in its window, ties by event id."""
    picked: tuple[tuple[datetime, str, int], EventFact] | None = None
    for position, event in enumerate(_matching(facts, cond.event_type, cond.within, cond.where, now)):
        key = (event.occurred_at, event.event_id or "", position)
        if picked is None or (key < picked[0] if cond.which == "first" else key > picked[0]):
            picked = (key, event)
    return None if picked is None else picked[1]


def random_bucket(salt: str, contact_id: str) -> int:
    """The contact's bucket in 0..9999 for this salt."""
    return int(hashlib.sha256(f"{salt}:{contact_id}".encode()).hexdigest()[:8], 16) % 10000


def evaluate(cond: Condition, facts: ContactFacts, ctx: EvalContext) -> bool:
    """Whether the contact satisfies the condition at ``ctx.now``."""
    match cond:
        case AttrCompare(field=name, op=op, value=value):
            return compare_value(facts.values.get(name), op, value)
        case HasTag(tag=tag):
            return tag in facts.tags
        case InSegment(segment=key):
            return key in facts.segments
        case EventCount(event_type=t, op=op, count=count, within=within, where=where):
            n = sum(1 for _ in _matching(facts, t, within, where, ctx.now))
            return _count_matches(n, op, count)
        case EventSum(event_type=t, prop=prop, op=op, value=value, within=within, where=where):
            total: int | float = 0
            for event in _matching(facts, t, within, where, ctx.now):
                amount = event.properties.get(prop)
                if _kind(amount) == "number":
                    assert isinstance(amount, int | float)
                    total += amount
            return _count_matches(total, op, value)
        case EventFirstLast(test=test):
            picked = first_or_last_event(facts, cond, ctx.now)
            if isinstance(test, TimeBound):
                return picked is not None and (picked.occurred_at <= ctx.now - test.ago) == (test.side == "before")
            return compare_value(None if picked is None else picked.properties.get(test.prop), test.op, test.value)
        case MessageEngagement(node_id=node_id, action=action, within=within):
            if ctx.journey_id is None or ctx.run_entered_at is None:
                raise MissingRunContext(f"{action}: {node_id} needs a journey run (journey id and entry time)")
            event_type = ENGAGEMENT_EVENTS[action]
            return any(
                e.type == event_type and in_window(e.occurred_at, ctx.now, within, ctx.run_entered_at)
                and _eq(e.properties.get("journey_id"), ctx.journey_id) and _eq(e.properties.get("node_id"), node_id)
                for e in facts.events)
        case RandomBucket(salt=salt, below_percent=below):
            return random_bucket(salt, facts.contact_id) < below * 100
        case And(items=items):
            return all(evaluate(c, facts, ctx) for c in items)
        case Or(items=items):
            return any(evaluate(c, facts, ctx) for c in items)
        case Not(item=item):
            return not evaluate(item, facts, ctx)
        case Always():
            return True
    raise TypeError(f"not a condition: {cond!r}")


# --- analysis ----------------------------------------------------------------------------------------


def walk(cond: Condition) -> Iterator[Condition]:
    """Every node of the tree, depth first, the root first."""
    yield cond
    if isinstance(cond, And | Or):
        for item in cond.items:
            yield from walk(item)
    elif isinstance(cond, Not):
        yield from walk(cond.item)


def needs_events(cond: Condition) -> frozenset[str] | None:
    """The event types the condition reads, so the engine loads only those; None when it reads none."""
    types: set[str] = set()
    for node in walk(cond):
        if isinstance(node, EventCount | EventSum | EventFirstLast):
            types.add(node.event_type)
        elif isinstance(node, MessageEngagement):
            types.add(ENGAGEMENT_EVENTS[node.action])
    return frozenset(types) if types else None


def max_window(cond: Condition) -> timedelta | None:
    """How far back before ``now`` the condition reads events: None means all history, 0 means none."""
    widest = timedelta(0)
    for node in walk(cond):
        if isinstance(node, EventCount | EventSum | EventFirstLast | MessageEngagement):
            if node.within is None:
                return None
            widest = max(widest, node.within)
    return widest


def segments_used(cond: Condition) -> frozenset[str]:
    """The keys of the segments the condition reads memberships of (``in_segment``)."""
    return frozenset(node.segment for node in walk(cond) if isinstance(node, InSegment))


def uses_run_context(cond: Condition) -> bool:
    """True when the condition only makes sense inside a journey run (message engagement)."""
    return any(isinstance(node, MessageEngagement) for node in walk(cond))
