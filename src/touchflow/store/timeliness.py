"""The timeliness report in SQL (issue 15): counts by queue and assignee and the nearest-rank p50/p90 of the
response time (created → done), so the console reads a few rows per person instead of every task of the month.

Equal to ``domain.messaging.followup.timeliness`` over ``tasks_since``: a task is answered when it is done with a
``done_at`` (within its SLA when ``done_at <= due_at``); any other is late once its deadline passed, else pending.
Response times are whole microseconds, computed in SQL from the stored values, so the percentiles are exact;
the rank ``ceil(q·n)`` is taken in integers (tenths), which equals the domain's ``math.ceil(q * n)`` for
q = 0.5 and 0.9. Two statements: the counts (team counts are the sums of their people's), and the response
times of the done tasks as integers, ranked per person and per queue.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, case, cast, func, select
from sqlalchemy.types import BigInteger, Integer

from touchflow.domain.messaging.followup import TimelinessLine
from touchflow.store.tables import tasks

__all__ = ["timeliness_lines"]

_TENTHS = (("p50", 5), ("p90", 9))
Key = tuple[str, str | None]
_UNIXEPOCH = sqlite3.sqlite_version_info >= (3, 38)  # unixepoch(): parses a time in about half strftime's cost


def _micros(pg: bool) -> ColumnElement[Any]:
    t = tasks.c
    if pg:
        return cast(func.round(func.extract("epoch", t.done_at - t.created_at) * 1_000_000), BigInteger)

    def stamp(column: Any) -> ColumnElement[Any]:  # stored as 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC)
        seconds = func.unixepoch(column) if _UNIXEPOCH else cast(func.strftime("%s", column), Integer)
        return seconds * 1_000_000 + cast(func.substr(column, 21, 6), Integer)

    return stamp(t.done_at) - stamp(t.created_at)


def _percentiles(c: Connection, since: datetime) -> dict[tuple[str, Key], dict[str, timedelta]]:
    """Nearest-rank p50/p90 per person and per queue. The database computes each done task's response time (an
    integer: no datetimes built in Python, which was the cost of reading tasks); ranking in Python is cheaper
    here than two window sorts in SQLite."""
    t = tasks.c
    query = (select(t.queue, t.assignee, _micros(c.dialect.name == "postgresql"))
             .where(t.created_at >= since, t.status == "done", t.done_at.is_not(None)))
    people: dict[Key, list[int]] = defaultdict(list)
    for queue, assignee, rt in c.execute(query).all():  # one fetch, one list per person: the loop is the cost
        people[queue, assignee].append(rt)
    groups: dict[tuple[str, Key], list[int]] = {}
    for (queue, assignee), values in people.items():
        groups["person", (str(queue), assignee)] = values
        groups.setdefault(("team", (str(queue), None)), []).extend(values)
    picks: dict[tuple[str, Key], dict[str, timedelta]] = {}
    for key, values in groups.items():
        values.sort()
        n = len(values)  # rank ceil(tenths · n / 10), in integers
        picks[key] = {name: timedelta(microseconds=values[max(1, -(-tenths * n // 10)) - 1])
                      for name, tenths in _TENTHS}
    return picks


def timeliness_lines(c: Connection, since: datetime, now: datetime) -> list[TimelinessLine]:
    """One line per (queue, assignee) then one per queue (team), in the domain's order."""
    t = tasks.c
    answered = and_(t.status == "done", t.done_at.is_not(None))
    flags = (case((and_(answered, t.done_at <= t.due_at), 1), else_=0),
             case((and_(answered, t.done_at > t.due_at), 1), else_=0),
             case((and_(~answered, t.due_at < now), 1), else_=0),
             case((and_(~answered, t.due_at >= now), 1), else_=0))
    people: dict[Key, list[int]] = {}
    for queue, assignee, *counts in c.execute(select(t.queue, t.assignee, *(func.sum(f) for f in flags))
                                              .where(t.created_at >= since).group_by(t.queue, t.assignee)):
        people[str(queue), assignee] = [int(n or 0) for n in counts]
    teams: dict[Key, list[int]] = {}
    for (queue, _), counts in people.items():
        teams[queue, None] = [x + y for x, y in zip(teams.get((queue, None), [0, 0, 0, 0]), counts, strict=True)]
    picks = _percentiles(c, since) if people else {}
    lines: list[TimelinessLine] = []
    for scope, found in (("person", people), ("team", teams)):
        order = sorted(found, key=lambda k: (k[0], k[1] is None, k[1] or ""))
        for key in order:
            got = picks.get((scope, key), {})
            within, late, open_late, pending = found[key]
            lines.append(TimelinessLine("person" if scope == "person" else "team", key[0], key[1], within, late,
                                        open_late, pending, got.get("p50"), got.get("p90")))
    return lines
