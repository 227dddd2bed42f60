"""The timeliness report in SQL (issue 15): counts by queue and assignee and the nearest-rank p50/p90 of the
response time (created → done), so the console reads a few rows per person instead of every task of the month.

Equal to ``domain.messaging.followup.timeliness`` over ``tasks_since``: a task is answered when it is done with a
``done_at`` (within its SLA when ``done_at <= due_at``); any other is late once its deadline passed, else pending.
Response times are whole microseconds, computed in SQL from the stored values, so the percentiles are exact;
the rank ``ceil(q·n)`` is taken in integers (tenths), which equals the domain's ``math.ceil(q * n)`` for
q = 0.5 and 0.9. Two statements: the counts (team counts are the sums of their people's), and one ranking of
the answered tasks per person and per queue that keeps only the rows at those ranks.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, case, cast, func, or_, select
from sqlalchemy.types import BigInteger, Integer

from touchflow.domain.messaging.followup import TimelinessLine
from touchflow.store.tables import tasks

__all__ = ["timeliness_lines"]

_TENTHS = (("p50", 5), ("p90", 9))
Key = tuple[str, str | None]


def _micros(pg: bool) -> ColumnElement[Any]:
    t = tasks.c
    if pg:
        return cast(func.round(func.extract("epoch", t.done_at - t.created_at) * 1_000_000), BigInteger)

    def stamp(column: Any) -> ColumnElement[Any]:  # stored as 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC)
        return (cast(func.strftime("%s", column), Integer) * 1_000_000
                + cast(func.substr(column, 21, 6), Integer))

    return stamp(t.done_at) - stamp(t.created_at)


def _at_rank(rn: Any, n: Any, tenths: int) -> ColumnElement[bool]:
    """``rn = ceil(tenths · n / 10)`` in integers."""
    return and_(rn * 10 >= n * tenths, (rn - 1) * 10 < n * tenths)


def _percentiles(c: Connection, since: datetime) -> dict[tuple[str, Key], dict[str, timedelta]]:
    t = tasks.c
    ranked = (select(t.queue, t.assignee, _micros(c.dialect.name == "postgresql").label("rt"))
              .where(t.created_at >= since, t.status == "done", t.done_at.is_not(None)).subquery("a"))
    a = ranked.c
    windows = (select(a.queue, a.assignee, a.rt,
                      func.row_number().over(partition_by=(a.queue, a.assignee), order_by=a.rt).label("rp"),
                      func.count().over(partition_by=(a.queue, a.assignee)).label("np"),
                      func.row_number().over(partition_by=a.queue, order_by=a.rt).label("rq"),
                      func.count().over(partition_by=a.queue).label("nq")).subquery("w"))
    w = windows.c
    wanted = or_(*(_at_rank(w.rp, w.np, tenths) for _, tenths in _TENTHS),
                 *(_at_rank(w.rq, w.nq, tenths) for _, tenths in _TENTHS))
    picks: dict[tuple[str, Key], dict[str, timedelta]] = defaultdict(dict)
    for queue, assignee, rt, rp, np, rq, nq in c.execute(select(w.queue, w.assignee, w.rt, w.rp, w.np, w.rq, w.nq)
                                                         .where(wanted)):
        for name, tenths in _TENTHS:
            if rp * 10 >= np * tenths and (rp - 1) * 10 < np * tenths:
                picks["person", (queue, assignee)][name] = timedelta(microseconds=int(rt))
            if rq * 10 >= nq * tenths and (rq - 1) * 10 < nq * tenths:
                picks["team", (queue, None)][name] = timedelta(microseconds=int(rt))
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
