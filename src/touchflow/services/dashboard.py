"""The console's home page as one read (A2): headline KPIs against the previous period with a daily series
each, auto-paused journeys and recent alerts, goal progress (目标拆解表), and tasks due today.

Everything comes from the services the reports and the API use (metrics rollups, ``report_model.kpis``,
``goals.goal_lines``, ``tasks.list_tasks``, ``alerts.alert_history``): the page adds no definitions of its own.
Rollups are as fresh as the worker's last refresh (``services.metrics.refresh_rollups``). Goal progress shows the
values the worker records once a day (``goals.record_goal_values``), not a fresh ``goals.measure``: measuring scans
every order and stage change (1.9 s at 1M events, bench/bench_console.py), too slow for a page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from touchflow.domain.journeys.ports import JourneyRecord
from touchflow.domain.measurement.alert_ports import AlertRecord
from touchflow.domain.measurement.report_model import Counts, GoalLine, Kpi, kpis
from touchflow.domain.outbox import TaskRecord
from touchflow.services.alerts import alert_history
from touchflow.services.context import ServiceContext
from touchflow.services.goals import goal_lines, goal_table
from touchflow.services.journeys import list_journeys
from touchflow.services.metrics import local_today, metric_rows, workspace_zone
from touchflow.services.reports import counts_of
from touchflow.services.tasks import list_tasks

__all__ = ["Dashboard", "KpiLine", "dashboard"]


@dataclass(frozen=True)
class KpiLine:
    kpi: Kpi  # this period's value, the previous period's, and the change (report_model.Kpi)
    daily: list[tuple[date, float | None]]  # the value on each day of this period (the sparkline)


@dataclass(frozen=True)
class Dashboard:
    first_day: date  # this period, local dates inclusive
    last_day: date
    previous_first_day: date
    zone: str
    kpis: list[KpiLine]
    daily: list[tuple[date, Counts]]  # this period's counts per day (the trend chart)
    paused: list[JourneyRecord]  # paused journeys, with the reason (an alert's or a person's)
    active_journeys: int
    alerts: list[AlertRecord]  # the latest alerts, newest first
    goals: list[GoalLine] | None  # None: the reader may not read reports
    goals_as_of: date | None  # the day the worker last measured the key results (None: never yet)
    tasks_due: list[TaskRecord]  # open tasks due by the end of today (local), soonest first
    tasks_overdue: int


def _series(rows_by_day: dict[date, Counts], first: date, days: int) -> list[tuple[date, Counts]]:
    return [(first + timedelta(days=i), rows_by_day.get(first + timedelta(days=i), Counts())) for i in range(days)]


def _total(days: list[tuple[date, Counts]]) -> Counts:
    total = Counts()
    for _, counts in days:
        total = total + counts
    return total


def _recorded_goals(ctx: ServiceContext) -> tuple[list[GoalLine], date | None]:
    table = goal_table(ctx)
    values: dict[str, float | None] = {}
    latest: date | None = None
    with ctx.reader() as uow:
        for kr in table.key_results():
            history = uow.reports.goal_history(kr.key)
            if history:
                values[kr.metric] = history[-1][1]
                latest = max(latest or history[-1][0], history[-1][0])
    return goal_lines(ctx, values, table), latest


def dashboard(ctx: ServiceContext, *, days: int = 7, assignee: str | None = None, with_goals: bool = True,
              alert_limit: int = 8, task_limit: int = 50) -> Dashboard:
    """The last ``days`` local days up to today against the ``days`` before; ``assignee`` limits tasks to one
    person (an agent's scope, ``domain.governance.scope``)."""
    zone = workspace_zone(ctx)
    today = local_today(ctx)
    first = today - timedelta(days=days - 1)
    before = first - timedelta(days=days)
    by_day: dict[date, Counts] = {}
    for row in metric_rows(ctx, start=before, end=today, by=("day",)):
        if row.day is not None:
            by_day[row.day] = by_day.get(row.day, Counts()) + counts_of(row)
    current, previous = _series(by_day, first, days), _series(by_day, before, days)
    headline = kpis(_total(current), _total(previous))
    per_day = [{k.key: k.value for k in kpis(counts, Counts())} for _, counts in current]
    lines = [KpiLine(k, [(d, values[k.key]) for (d, _), values in zip(current, per_day, strict=True)])
             for k in headline]
    journeys = list_journeys(ctx)
    end_of_today = datetime.combine(today + timedelta(days=1), time(), zone)
    now = ctx.clock.now()
    due = [t for t in list_tasks(ctx, status="open", limit=task_limit, assignee=assignee) if t.due_at < end_of_today]
    goals, as_of = _recorded_goals(ctx) if with_goals else (None, None)
    return Dashboard(first, today, before, zone.key, lines, current,
                     [j for j in journeys if j.status == "paused"], sum(j.status == "active" for j in journeys),
                     alert_history(ctx, limit=alert_limit), goals, as_of, due, sum(t.due_at <= now for t in due))
