"""Daily, weekly and monthly reports (A2): the figures of a closed period against the one before, as ``ReportData``.

Counts come from ``activity_source`` (today: ``uow.reports.activity``, rows counted in
``domain/measurement/activity.py``); once the metrics rollups land, point ``activity_source`` / ``period_counts`` at
``services.metrics.metric_rows`` and nothing downstream changes. Anomalies come from ``anomaly_source``: a hook for
the alerts history (``services.alerts``), empty until wired.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime

from touchflow.domain.measurement import activity as counting
from touchflow.domain.measurement.report_model import (
    Anomaly,
    Counts,
    FunnelRow,
    Period,
    ReportData,
    SkipRow,
    TemplateRow,
    kpis,
    last_closed,
    period_of,
)
from touchflow.services.channels import current_guardrail_policy
from touchflow.services.context import ServiceContext
from touchflow.services.goals import goal_lines

__all__ = [
    "TEMPLATE_MIN_SENT",
    "AnomalySource",
    "anomaly_source",
    "build_report",
    "no_anomalies",
    "report_period",
    "workspace_zone_name",
]

TEMPLATE_MIN_SENT = 20  # templates with fewer sends are not ranked (their rates are noise)
TEMPLATES_SHOWN = 5

AnomalySource = Callable[[ServiceContext, datetime, datetime], list[Anomaly]]


def no_anomalies(ctx: ServiceContext, start: datetime, end: datetime) -> list[Anomaly]:
    """The hook's default: no alert history yet (the alerts area wires ``anomaly_source``)."""
    return []


anomaly_source: AnomalySource = no_anomalies


def workspace_zone_name(ctx: ServiceContext) -> str:
    return current_guardrail_policy(ctx).default_timezone


def report_period(ctx: ServiceContext, kind: str, day: date | None = None) -> Period:
    """The period containing ``day`` (local), or the last closed one."""
    zone = workspace_zone_name(ctx)
    return period_of(kind, day, zone) if day is not None else last_closed(kind, ctx.clock.now(), zone)


def _rank(rows: list[TemplateRow]) -> tuple[list[TemplateRow], list[TemplateRow]]:
    """Best and worst templates by click rate (then open rate), among those sent enough to rank."""
    ranked = sorted((r for r in rows if r.sent >= TEMPLATE_MIN_SENT),
                    key=lambda r: (r.click_rate or 0.0, r.open_rate or 0.0, r.sent), reverse=True)
    half = min(TEMPLATES_SHOWN, (len(ranked) + 1) // 2)  # a template is either best or worst, never both
    best = ranked[:half]
    worst = list(reversed(ranked[half:]))[:TEMPLATES_SHOWN]
    return best, worst


def build_report(ctx: ServiceContext, kind: str, day: date | None = None, *,
                 anomalies: AnomalySource | None = None, with_goals: bool = True) -> ReportData:
    period = report_period(ctx, kind, day)
    previous = period.previous()
    with ctx.reader() as uow:
        rows = uow.reports.activity(period.start, period.end)
        before = uow.reports.activity(previous.start, previous.end)
        journeys = {j.id: j for j in uow.journeys.all()}
        compliance = uow.reports.compliance_findings()
    totals, previous_totals = counting.count(rows), counting.count(before)
    per_journey = counting.by_journey(rows)
    funnels = [FunnelRow(j.key, j.name, per_journey.get(j.id, Counts()))
               for j in sorted(journeys.values(), key=lambda j: j.key)
               if j.id in per_journey or j.status == "active"]
    best, worst = _rank(counting.by_template(rows))
    source = anomalies or anomaly_source
    return ReportData(
        period=period, generated_at=ctx.clock.now(), totals=totals, previous_totals=previous_totals,
        kpis=kpis(totals, previous_totals), daily=counting.by_day(rows, period), funnels=funnels,
        best_templates=best, worst_templates=worst,
        skips=[SkipRow(r, n) for r, n in counting.skip_reasons(rows).items()], compliance=compliance,
        goals=goal_lines(ctx) if with_goals else [], anomalies=source(ctx, period.start, period.end))
