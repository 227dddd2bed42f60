"""Conditions to SQL: one boolean expression over ``contacts``, equal to the Python evaluator.

``compile_condition`` turns a ``touchflow.domain.conditions.predicates`` tree into a SQLAlchemy Core
expression to put in ``select(contacts.c.id).where(...)``. Tags and events are read through
correlated ``EXISTS`` / scalar subqueries (``ix_events_contact_id_type_occurred_at`` serves them).

Agreement with ``predicates.evaluate`` is the contract (tests/integration/test_predicate_sql.py):

* Every leaf compiles to a *two-valued* expression — never NULL — so ``NOT`` of a missing value is
  true in SQL exactly as in Python. Comparisons are guarded as ``x IS NOT NULL AND x <op> v``.
* JSON values (``contacts.custom``, ``events.properties``) are read through typed accessors that
  yield NULL unless the stored JSON value has the right kind: a JSON string never equals a number,
  and PostgreSQL never casts text to a number (which would raise).
* Text order is code-point order: SQLite compares bytes already; PostgreSQL gets ``COLLATE "C"``.
* ``RandomBucket`` (a SHA-256 bucket) has no portable SQL form. The compiled ``where`` then selects a
  superset and ``residual`` holds the conjuncts to evaluate in Python on those candidates.
* Personal fields (``PERSONAL_FIELDS``: the name) may be encrypted at rest (ADR 0026): SQL never compares
  them; a comparison over one goes to the residual like a random bucket, on decrypted values.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    FromClause,
    String,
    and_,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    true,
)

from touchflow.domain.conditions.predicates import (
    ENGAGEMENT_EVENTS,
    Always,
    And,
    AttrCompare,
    Condition,
    CountOp,
    EvalContext,
    EventCount,
    EventFirstLast,
    EventSum,
    HasTag,
    InSegment,
    MessageEngagement,
    MissingRunContext,
    Not,
    Or,
    PropFilter,
    RandomBucket,
    TimeBound,
    compare_value,
    walk,
)
from touchflow.domain.contacts import PERSONAL_FIELDS, STANDARD_FIELDS, Scalar
from touchflow.store.sql_functions import CodePointOrder, JsonKind, JsonNumber, JsonText, TextPosition
from touchflow.store.tables import contact_tags, contacts, events, segment_members, segments

__all__ = ["CompiledCondition", "compile_condition", "event_clauses", "event_sum_test"]

_NUMBER_COLUMNS = frozenset({"age"})
_SQL_OPS: Mapping[str, Callable[[Any, Any], ColumnElement[bool]]] = {
    "eq": operator.eq, "ne": operator.ne, "gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le,
}


@dataclass(frozen=True, slots=True)
class CompiledCondition:
    """``where`` selects candidates from ``contacts``; those that also pass ``residual`` (in Python) match.

    ``residual`` is None when the SQL is exact. Otherwise it holds the conjuncts that contain a
    ``RandomBucket``; usually that is the bucket alone, which needs only the contact id.
    ``needs_events(residual)`` says when it needs more facts.
    """

    where: ColumnElement[bool]
    residual: Condition | None


# --- values --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Value:
    """Typed views of one value: each is NULL when the value is missing or of another kind."""

    text: ColumnElement[Any] | None
    number: ColumnElement[Any] | None
    kind: ColumnElement[Any] | None  # JSON values only: tells true/false apart and JSON null from absent


def _attribute(name: str) -> _Value:
    if name.startswith("custom."):
        return _json_value(contacts.c.custom, name[len("custom."):])
    if name not in STANDARD_FIELDS:
        raise ValueError(f"unknown contact field {name!r}")
    column = contacts.c[name]
    return _Value(None, column, None) if name in _NUMBER_COLUMNS else _Value(column, None, None)


def _json_value(doc: ColumnElement[Any], key: str) -> _Value:
    return _Value(JsonText(doc, key), JsonNumber(doc, key), JsonKind(doc, key))


def _lit(value: str | int | float) -> ColumnElement[Any]:
    """A typed bind: every number is a double (so ``age > 2.5`` is not cast to an integer), text is text."""
    return literal(value, String) if isinstance(value, str) else literal(value, Float(precision=53))


def _present(value: _Value) -> ColumnElement[bool]:
    if value.kind is not None:
        return value.kind.not_in(["missing", "null"])
    column = value.text if value.text is not None else value.number
    assert column is not None
    return column.is_not(None)


def _eq(value: _Value, expected: Scalar) -> ColumnElement[bool]:
    if isinstance(expected, bool):
        return value.kind == ("true" if expected else "false") if value.kind is not None else false()
    column = value.text if isinstance(expected, str) else value.number
    if column is None:
        return false()
    return and_(column.is_not(None), column == _lit(expected))


def _order(value: _Value, op: str, expected: Scalar) -> ColumnElement[bool]:
    if isinstance(expected, bool):
        return false()
    if isinstance(expected, str):
        if value.text is None:
            return false()
        return and_(value.text.is_not(None), _SQL_OPS[op](CodePointOrder(value.text), _lit(expected)))
    if value.number is None:
        return false()
    return and_(value.number.is_not(None), _SQL_OPS[op](value.number, _lit(expected)))


def _compare(value: _Value, op: str, expected: Scalar | tuple[Scalar, ...] | None) -> ColumnElement[bool]:
    """The SQL twin of ``predicates.compare_value``: two-valued, same kinds, same missing-value rule."""
    if op in ("exists", "not_exists"):
        present = _present(value)
        return present if op == "exists" else not_(present)
    if op in ("in", "not_in"):
        assert isinstance(expected, tuple)
        hit = _any([_eq(value, v) for v in expected])
        return hit if op == "in" else not_(hit)
    assert expected is not None and not isinstance(expected, tuple)
    if op == "eq":
        return _eq(value, expected)
    if op == "ne":
        return not_(_eq(value, expected))
    if op == "contains":
        if not isinstance(expected, str) or value.text is None:
            return false()
        return and_(value.text.is_not(None), TextPosition(value.text, _lit(expected)) > 0)
    return _order(value, op, expected)


def _all(items: list[ColumnElement[bool]]) -> ColumnElement[bool]:
    return and_(*items) if items else true()


def _any(items: list[ColumnElement[bool]]) -> ColumnElement[bool]:
    return or_(*items) if items else false()


# --- events ------------------------------------------------------------------------------------------------


def _matching_events(event_type: str, ctx: EvalContext,
                     cond: EventCount | EventSum | EventFirstLast | MessageEngagement,
                     where: tuple[PropFilter, ...] = ()) -> tuple[FromClause, list[ColumnElement[bool]]]:
    ev = events.alias()
    return ev, [ev.c.contact_id == contacts.c.id, *event_clauses(ev, event_type, ctx, cond.within, where)]


def _exists(ev: FromClause, clauses: list[ColumnElement[bool]]) -> ColumnElement[bool]:
    return select(ev.c.id).where(*clauses).correlate_except(ev).exists()


def _event_count(cond: EventCount, ctx: EvalContext) -> ColumnElement[bool]:
    ev, clauses = _matching_events(cond.event_type, ctx, cond, cond.where)
    op, n = cond.op, cond.count
    if (op, n) in (("gte", 1), ("gt", 0), ("ne", 0)):
        return _exists(ev, clauses)
    if (op, n) in (("eq", 0), ("lt", 1), ("lte", 0)):
        return not_(_exists(ev, clauses))
    counted = select(func.count()).select_from(ev).where(*clauses).correlate_except(ev).scalar_subquery()
    return _SQL_OPS[op](counted, n)


def _event_sum(cond: EventSum, ctx: EvalContext) -> ColumnElement[bool]:
    ev, clauses = _matching_events(cond.event_type, ctx, cond, cond.where)
    amount = JsonNumber(ev.c.properties, cond.prop)
    total = select(func.sum(amount)).where(*clauses).correlate_except(ev).scalar_subquery()
    op: CountOp = cond.op
    return _SQL_OPS[op](func.coalesce(total, _lit(0)), _lit(cond.value))


def _event_first_last(cond: EventFirstLast, ctx: EvalContext) -> ColumnElement[bool]:
    """The test on the event ``cond`` picks, as one correlated scalar subquery; with no matching event the
    subquery is NULL and ``coalesce`` gives the answer for a missing value (false, or true for ``ne``).

    The time form only needs min/max(occurred_at), which the (contact_id, type, occurred_at) index
    serves from one end; the property form reads that end of the index too, ties ordered by id in
    code-point order (as Python compares ids).
    """
    ev, clauses = _matching_events(cond.event_type, ctx, cond, cond.where)
    test = cond.test
    if isinstance(test, TimeBound):
        at = (func.min if cond.which == "first" else func.max)(ev.c.occurred_at)
        bound = ctx.now - test.ago
        held = select(at <= bound if test.side == "before" else at > bound).where(*clauses)
        return func.coalesce(held.correlate_except(ev).scalar_subquery(), false())
    order = [ev.c.occurred_at, CodePointOrder(ev.c.id)]
    tested = _compare(_json_value(ev.c.properties, test.prop), test.op, test.value)
    held = (select(tested).where(*clauses).order_by(*(order if cond.which == "first" else [o.desc() for o in order]))
            .limit(1))
    missing = compare_value(None, test.op, test.value)
    return func.coalesce(held.correlate_except(ev).scalar_subquery(), true() if missing else false())


def _engagement(cond: MessageEngagement, ctx: EvalContext,
                entered_column: ColumnElement[datetime] | None) -> ColumnElement[bool]:
    entered: ColumnElement[datetime] | datetime | None = (
        entered_column if entered_column is not None else ctx.run_entered_at)
    if ctx.journey_id is None or entered is None:
        raise MissingRunContext(f"{cond.action}: {cond.node_id} needs a journey run (journey id and entry time)")
    ev, clauses = _matching_events(ENGAGEMENT_EVENTS[cond.action], ctx, cond)
    clauses.append(ev.c.occurred_at >= entered)
    clauses.append(_eq(_json_value(ev.c.properties, "journey_id"), ctx.journey_id))
    clauses.append(_eq(_json_value(ev.c.properties, "node_id"), cond.node_id))
    return _exists(ev, clauses)


# --- conditions ----------------------------------------------------------------------------------------------


def _has_random(cond: Condition) -> bool:
    """Needs Python: a random bucket, or a comparison over a personal (possibly encrypted) field."""
    return any(isinstance(node, RandomBucket) or (isinstance(node, AttrCompare) and node.field in PERSONAL_FIELDS)
               for node in walk(cond))


def _flatten(cond: Condition) -> list[Condition]:
    if isinstance(cond, And):
        return [leaf for item in cond.items for leaf in _flatten(item)]
    return [cond]


class _Compiler:
    def __init__(self, ctx: EvalContext, entered_column: ColumnElement[datetime] | None) -> None:
        self.ctx = ctx
        self.entered_column = entered_column

    def exact(self, cond: Condition) -> ColumnElement[bool]:
        match cond:
            case AttrCompare(field=name, op=op, value=value):
                if name in PERSONAL_FIELDS:
                    raise ValueError(f"{name} is personal data: compile_condition moves it to the residual")
                return _compare(_attribute(name), op, value)
            case HasTag(tag=tag):
                found = select(contact_tags.c.tag).where(contact_tags.c.contact_id == contacts.c.id,
                                                         contact_tags.c.tag == tag)
                return found.correlate_except(contact_tags).exists()
            case InSegment(segment=key):
                member = (select(segment_members.c.contact_id)
                          .join(segments, segments.c.id == segment_members.c.segment_id)
                          .where(segment_members.c.contact_id == contacts.c.id, segments.c.key == key))
                return member.correlate_except(segment_members, segments).exists()
            case EventCount():
                return _event_count(cond, self.ctx)
            case EventSum():
                return _event_sum(cond, self.ctx)
            case EventFirstLast():
                return _event_first_last(cond, self.ctx)
            case MessageEngagement():
                return _engagement(cond, self.ctx, self.entered_column)
            case RandomBucket():
                raise ValueError("a random bucket has no SQL form; compile_condition moves it to the residual")
            case And(items=items):
                return _all([self.exact(c) for c in items])
            case Or(items=items):
                return _any([self.exact(c) for c in items])
            case Not(item=item):
                return not_(self.exact(item))
            case Always():
                return true()
        raise TypeError(f"not a condition: {cond!r}")

    def superset(self, cond: Condition) -> ColumnElement[bool]:
        """True for every contact that satisfies ``cond``, and exact where no random bucket is involved."""
        if not _has_random(cond):
            return self.exact(cond)
        match cond:
            case And(items=items):
                return _all([self.superset(c) for c in items])
            case Or(items=items):
                return _any([self.superset(c) for c in items])
        return true()  # a bucket itself, or a NOT around one: nothing narrower is known in SQL


def compile_condition(cond: Condition, ctx: EvalContext, *,
                      run_entered_at_column: ColumnElement[datetime] | None = None) -> CompiledCondition:
    """Compile for ``select(contacts.c.id).where(compiled.where)``.

    ``run_entered_at_column`` lets a batch over journey runs compare engagement events with each
    run's own entry time (a column of a table in the same query) instead of ``ctx.run_entered_at``.
    Message engagement without a journey id and an entry time raises ``MissingRunContext``.
    """
    compiler = _Compiler(ctx, run_entered_at_column)
    conjuncts = _flatten(cond)
    residual = [c for c in conjuncts if _has_random(c)]
    where = _all([compiler.superset(c) for c in conjuncts])
    if not residual:
        return CompiledCondition(where, None)
    return CompiledCondition(where, residual[0] if len(residual) == 1 else And(tuple(residual)))


# --- set-wise pieces (store/segment_sets.py evaluates leaves for everyone at once) ----------------------


def event_clauses(ev: FromClause, event_type: str, ctx: EvalContext, within: timedelta | None,
                  where: tuple[PropFilter, ...]) -> list[ColumnElement[bool]]:
    """A window leaf's filters over ``events`` (or an alias of it), not tied to one contact."""
    clauses = [ev.c.type == event_type, ev.c.occurred_at <= ctx.now]
    if within is not None:
        clauses.append(ev.c.occurred_at > ctx.now - within)
    clauses.extend(_compare(_json_value(ev.c.properties, f.prop), f.op, f.value) for f in where)
    return clauses


def event_sum_test(ev: FromClause, prop: str, op: CountOp, value: int | float) -> ColumnElement[bool]:
    """``sum(prop) <op> value`` as an aggregate over ``ev`` grouped by contact (0 when no value is numeric)."""
    total = func.coalesce(func.sum(JsonNumber(ev.c.properties, prop)), _lit(0))
    return _SQL_OPS[op](total, _lit(value))
