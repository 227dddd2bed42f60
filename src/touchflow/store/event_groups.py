"""One scan for every window leaf over the same event type: counts and sums per contact, per window.

Twenty segments often read one event type through several windows — orders in 30, 90 and 365 days,
counted and summed. Each leaf alone is a ``GROUP BY`` over the same index range (and, for a sum, the
same rows' JSON properties, the expensive part). ``EventGroup`` runs it once: per contact, a count for
each window and a sum for each (window, property), from which each leaf's set is read in Python.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, case, func, select

from touchflow.domain.contact_sets import ContactSet
from touchflow.domain.predicates import EvalContext, EventCount, EventSum, PropFilter
from touchflow.store.compile import event_clauses
from touchflow.store.sql_functions import JsonNumber
from touchflow.store.tables import events

__all__ = ["OPS", "EventGroup", "GroupKey", "group_key"]

OPS: Mapping[str, Callable[[Any, Any], Any]] = {  # on numbers and on SQL expressions alike
    "eq": operator.eq, "ne": operator.ne, "gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le,
}
GroupKey = tuple[str, tuple[PropFilter, ...]]  # (event type, where)


def group_key(leaf: EventCount | EventSum) -> GroupKey:
    return leaf.event_type, leaf.where


def _window_key(within: timedelta | None) -> float:
    return float("inf") if within is None else within.total_seconds()


@dataclass
class EventGroup:
    """The leaves of one (type, where) a pass will read; ``rows`` once loaded: (contact, counts…, sums…)."""

    key: GroupKey
    leaves: set[EventCount | EventSum]
    rows: Sequence[Any] | None = None

    def _columns(self) -> tuple[list[timedelta | None], list[tuple[timedelta | None, str]]]:
        windows = sorted({leaf.within for leaf in self.leaves}, key=_window_key)
        sums = sorted({(leaf.within, leaf.prop) for leaf in self.leaves if isinstance(leaf, EventSum)},
                      key=lambda ws: (_window_key(ws[0]), ws[1]))
        return windows, sums

    def load(self, connection: Connection, ctx: EvalContext) -> None:
        windows, sums = self._columns()
        widest = None if windows[-1] is None else windows[-1]

        def inside(within: timedelta | None) -> ColumnElement[bool] | None:
            return None if within is None or within == widest else events.c.occurred_at > ctx.now - within

        columns: list[ColumnElement[Any]] = [events.c.contact_id]
        for within in windows:
            test = inside(within)
            columns.append(func.count() if test is None else func.sum(case((test, 1), else_=0)))
        for within, prop in sums:
            amount: ColumnElement[Any] = JsonNumber(events.c.properties, prop)
            test = inside(within)
            columns.append(func.sum(amount if test is None else case((test, amount), else_=None)))
        event_type, where = self.key
        query = (select(*columns).where(*event_clauses(events, event_type, ctx, widest, where))
                 .group_by(events.c.contact_id))
        result = connection.execute(query)
        try:
            self.rows = result.cursor.fetchall()  # plain tuples from the driver: a million of them, quickly
        finally:
            result.close()

    def leaf_set(self, leaf: EventCount | EventSum) -> ContactSet:
        """The leaf's contacts from the loaded rows; as a complement when the leaf holds with no events."""
        assert self.rows is not None
        windows, sums = self._columns()
        op = OPS[leaf.op]
        bound: int | float
        if isinstance(leaf, EventCount):
            index, bound = 1 + windows.index(leaf.within), leaf.count
        else:
            index, bound = 1 + len(windows) + sums.index((leaf.within, leaf.prop)), leaf.value
        if op(0, bound):  # holds for a contact without events: keep those with events for whom it fails
            return ContactSet({row[0] for row in self.rows if not op(row[index] or 0, bound)}, True)
        return ContactSet({row[0] for row in self.rows if op(row[index] or 0, bound)})
