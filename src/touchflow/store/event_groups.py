"""One scan for every window leaf over the same event type; the counting happens in Python.

Twenty segments often read one event type through several windows — orders in 30, 90 and 365 days,
counted and summed. ``EventGroup`` reads the widest window once, with one true/false column per narrower
window and one column per summed property; counts are a ``Counter`` per window updated with the contact ids
of each fetched chunk (a narrower window's: the rows of its flag), so memory follows the contacts, not the
events. The rows come in no particular order (ADR 0068): a pass over a range of contacts lets the planner
read that range's events through the (contact_id, type, occurred_at) index, where the time order of the
(type, occurred_at, contact_id) index made every range walk the whole window.

Why not ``GROUP BY contact_id`` in SQL: the index is ordered by time, not by contact, so SQLite
groups through a temporary B-tree — measured at 1M contacts / 10M events, ``SELECT DISTINCT
contact_id`` over 1.2M page views took 1.9 s where fetching the ids into a set took 0.6 s, and
``GROUP BY … count(*)`` 1.4 s where a ``Counter`` took 0.8 s (docs/benchmarks.md).
"""

from __future__ import annotations

import operator
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, select

from touchflow.domain.conditions.predicates import EvalContext, EventCount, EventSum, PropFilter
from touchflow.domain.segments.contact_sets import ContactSet
from touchflow.store.compile import event_clauses
from touchflow.store.sql_functions import JsonNumber
from touchflow.store.tables import events

__all__ = ["OPS", "EventGroup", "GroupKey", "group_key", "single"]

OPS: Mapping[str, Callable[[Any, Any], Any]] = {  # on numbers and on SQL expressions alike
    "eq": operator.eq, "ne": operator.ne, "gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le,
}
GroupKey = tuple[str, tuple[PropFilter, ...]]  # (event type, where)
_EXISTS = {("gte", 1), ("gt", 0), ("ne", 0)}  # "at least one": the set of ids is the answer
_ABSENT = {("eq", 0), ("lt", 1), ("lte", 0)}  # "none": everyone but that set
_FETCH = 10_000  # rows a fetch: the scan streams, so the pass never holds a window's rows

def group_key(leaf: EventCount | EventSum) -> GroupKey:
    return leaf.event_type, leaf.where

def _window_key(within: timedelta | None) -> float:
    return float("inf") if within is None else within.total_seconds()

@dataclass
class EventGroup:
    """The leaves of one (type, where) that a pass reads, and — once loaded — what they need of the rows:
    per window, each contact's event count and, per summed property, its total."""

    key: GroupKey
    leaves: set[EventCount | EventSum]
    loaded: bool = False
    _counts: dict[timedelta | None, Counter[str]] = field(default_factory=dict)
    _totals: dict[tuple[timedelta | None, str], dict[str, float]] = field(default_factory=dict)

    def load(self, connection: Connection, ctx: EvalContext, among: Sequence[ColumnElement[bool]] = ()) -> None:
        """One scan of the widest window, aggregated as it streams: the pass holds a number per contact and
        window, never the rows (an hour at 1,000 events/s is millions of them; holding them cost the worker
        hundreds of megabytes, docs/benchmarks.md). ``among``: more filters (the pass's contact range)."""
        windows = sorted({leaf.within for leaf in self.leaves}, key=_window_key)
        widest, narrower = windows[-1], windows[:-1]
        props = sorted({leaf.prop for leaf in self.leaves if isinstance(leaf, EventSum)})
        assert all(w is not None for w in narrower)
        flags: list[ColumnElement[Any]] = [events.c.occurred_at > ctx.now - w for w in narrower if w is not None]
        amounts: list[ColumnElement[Any]] = [JsonNumber(events.c.properties, p) for p in props]
        event_type, where = self.key
        # no order: over a contact range the planner may walk the (contact_id, type, occurred_at) index, so a
        # range costs its own contacts' events, not a walk of the whole window per range (issue 17's hour)
        query = select(events.c.contact_id, *flags, *amounts).where(
            *event_clauses(events, event_type, ctx, widest, where), *among)
        self._counts = {within: Counter() for within in windows}
        self._totals = {(leaf.within, leaf.prop): {} for leaf in self.leaves if isinstance(leaf, EventSum)}
        flag_of = {within: column for column, within in enumerate(narrower, start=1)}
        amount_of = {prop: 1 + len(narrower) + i for i, prop in enumerate(props)}
        summed = {within: [(self._totals[(w, prop)], amount_of[prop]) for w, prop in self._totals if w == within]
                  for within in windows}  # per window: the totals to add to, and the column they add
        for rows in _chunks(connection, query):
            for within in windows:  # the widest window holds every row; a narrower one, the rows of its flag
                inside = rows if within == widest else [row for row in rows if row[flag_of[within]]]
                self._counts[within].update([row[0] for row in inside])
                for totals, column in summed[within]:
                    for row in inside:
                        amount = row[column]
                        totals[row[0]] = totals.get(row[0], 0) + (amount if amount is not None else 0)
        self.loaded = True

    def release(self) -> None:
        self.loaded, self._counts, self._totals = False, {}, {}

    def leaf_set(self, leaf: EventCount | EventSum) -> ContactSet:
        """The leaf's contacts from the loaded rows; as a complement when the leaf holds with no events."""
        assert self.loaded
        if isinstance(leaf, EventCount) and (leaf.op, leaf.count) in _EXISTS | _ABSENT:
            return ContactSet(set(self._counts[leaf.within]), (leaf.op, leaf.count) in _ABSENT)
        op = OPS[leaf.op]
        values: Mapping[str, float]
        bound: int | float
        if isinstance(leaf, EventCount):
            values, bound = self._counts[leaf.within], leaf.count
        else:
            values, bound = self._totals[(leaf.within, leaf.prop)], leaf.value
        if op(0, bound):  # holds for a contact without events: keep those with events for whom it fails
            return ContactSet({c for c, v in values.items() if not op(v, bound)}, True)
        return ContactSet({c for c, v in values.items() if op(v, bound)})


def _chunks(connection: Connection, query: Select[Any]) -> Iterator[Sequence[Sequence[Any]]]:
    """The rows a chunk at a time. SQLite's cursor computes rows as they are read, so its plain tuples are taken
    straight from it; PostgreSQL's would hold the whole result client-side, so there a server-side cursor
    streams them (as SQLAlchemy rows: its buffer holds the cursor's first row)."""
    if connection.dialect.supports_server_side_cursors:
        result = connection.execute(query.execution_options(yield_per=_FETCH))  # the statement's: not the connection's
        try:
            yield from result.partitions()
        finally:
            result.close()
        return
    result = connection.execute(query)
    try:
        while rows := result.cursor.fetchmany(_FETCH):
            yield rows
    finally:
        result.close()


def single(leaf: EventCount | EventSum) -> EventGroup:
    """A group of one leaf (nobody else in the pass reads its type)."""
    return EventGroup(group_key(leaf), {leaf})
