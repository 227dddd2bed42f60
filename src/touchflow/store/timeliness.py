"""The timeliness report in SQL (issue 15): counts by queue and assignee and the nearest-rank p50/p90 of the
response time (created → done), so the console reads a few rows per person instead of every task of the month.

Equal to ``domain.messaging.followup.timeliness`` over ``tasks_since``: a task is answered when it is done with a
``done_at`` (within its SLA when ``done_at <= due_at``); any other is late once its deadline passed, else pending.
Response times are whole microseconds, computed in SQL from the stored values, so the percentiles are exact;
the rank ``ceil(q·n)`` is taken in integers (tenths), which equals the domain's ``math.ceil(q * n)`` for
q = 0.5 and 0.9.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, case, cast, func, select
from sqlalchemy.types import BigInteger, Integer

from touchflow.domain.messaging.followup import TimelinessLine
from touchflow.store.tables import tasks

__all__ = ["timeliness_lines"]

_TENTHS = {"p50": 5, "p90": 9}


def _micros(pg: bool) -> ColumnElement[Any]:
    t = tasks.c
    if pg:
        return cast(func.round(func.extract("epoch", t.done_at - t.created_at) * 1_000_000), BigInteger)

    def stamp(column: Any) -> ColumnElement[Any]:  # stored as 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC)
        return (cast(func.strftime("%s", column), Integer) * 1_000_000
                + cast(func.substr(column, 21, 6), Integer))

    return stamp(t.done_at) - stamp(t.created_at)


def timeliness_lines(c: Connection, since: datetime, now: datetime) -> list[TimelinessLine]:
    """One line per (queue, assignee) then one per queue (team), in the domain's order."""
    t = tasks.c
    answered = and_(t.status == "done", t.done_at.is_not(None))
    rows = (select(t.queue, t.assignee, case((answered, _micros(c.dialect.name == "postgresql"))).label("rt"),
                   case((and_(answered, t.done_at <= t.due_at), 1), else_=0).label("within"),
                   case((and_(answered, t.done_at > t.due_at), 1), else_=0).label("late"),
                   case((and_(~answered, t.due_at < now), 1), else_=0).label("open_late"),
                   case((and_(~answered, t.due_at >= now), 1), else_=0).label("pending"))
            .where(t.created_at >= since).subquery("r"))
    lines: list[TimelinessLine] = []
    for scope, keys in (("person", (rows.c.queue, rows.c.assignee)), ("team", (rows.c.queue,))):
        counts = {tuple(r[:len(keys)]): r[len(keys):] for r in c.execute(
            select(*keys, func.sum(rows.c.within), func.sum(rows.c.late), func.sum(rows.c.open_late),
                   func.sum(rows.c.pending)).group_by(*keys))}
        ranked = (select(*keys, rows.c.rt, func.row_number().over(partition_by=keys, order_by=rows.c.rt).label("rn"),
                         func.count().over(partition_by=keys).label("n"))
                  .where(rows.c.rt.is_not(None)).subquery("k"))
        picks: dict[tuple[Any, ...], dict[str, timedelta]] = {}
        for name, tenths in _TENTHS.items():  # rn = ceil(tenths·n / 10)
            k = ranked.c
            found = c.execute(select(*(k[col.name] for col in keys), k.rt).where(
                k.rn * 10 >= k.n * tenths, (k.rn - 1) * 10 < k.n * tenths))
            for r in found:
                picks.setdefault(tuple(r[:len(keys)]), {})[name] = timedelta(microseconds=int(r[-1]))
        for key, (within, late, open_late, pending) in counts.items():
            queue, assignee = (key[0], key[1]) if scope == "person" else (key[0], None)
            got = picks.get(key, {})
            lines.append(TimelinessLine(scope, str(queue), assignee, int(within or 0), int(late or 0),
                                        int(open_late or 0), int(pending or 0), got.get("p50"), got.get("p90")))
    person = sorted((x for x in lines if x.scope == "person"),
                    key=lambda x: (x.queue, x.assignee is None, x.assignee or ""))
    return person + sorted((x for x in lines if x.scope == "team"), key=lambda x: x.queue)
