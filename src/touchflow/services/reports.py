"""Daily, weekly and monthly reports (A2): the figures of a closed period against the one before, as ``ReportData``.

Counts come from the metrics rollups (``counts_from_rollups``, refreshed first), so a report, the dashboard
(``/v1/metrics``) and ``touchflow metrics show`` give the same figures for the same days (ADR 0033).
``counts_from_events`` counts the raw rows instead (runs, outbox, message events; it can differ on sent, delivered
and entered). Anomalies come from ``anomaly_source``: a hook for the alerts history (``services.alerts``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from touchflow.domain.measurement import activity as counting
from touchflow.domain.measurement.metrics import MetricRow
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
from touchflow.services.alerts import alert_history
from touchflow.services.channels import current_guardrail_policy
from touchflow.services.context import ServiceContext
from touchflow.services.goals import goal_lines
from touchflow.services.metrics import metric_rows, refresh_rollups

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
    return []


def alert_anomalies(ctx: ServiceContext, start: datetime, end: datetime) -> list[Anomaly]:
    """What the metric alerts found in the period (A4): every breach, warning and trigger in their history."""
    with ctx.reader() as uow:
        keys = {j.id: j.key for j in uow.journeys.all()}
    return [Anomaly(r.at, keys.get(r.journey_id), r.metric, r.summary)
            for r in alert_history(ctx, limit=1000)
            if start <= r.at < end and r.status in ("warning", "breach", "trigger")]


anomaly_source: AnomalySource = alert_anomalies


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


@dataclass(frozen=True)
class PeriodCounts:
    """What a report counts over one period, whichever source counted it."""

    totals: Counts
    by_journey: dict[str, Counts]  # journey key
    daily: list[tuple[date, Counts]]
    templates: list[TemplateRow]
    skips: dict[str, int]


def counts_from_events(ctx: ServiceContext, period: Period) -> PeriodCounts:
    """Counted from the raw rows of the period (runs, outbox, message events): exact, costs a scan of the period."""
    with ctx.reader() as uow:
        rows = uow.reports.activity(period.start, period.end)
        keys = {j.id: j.key for j in uow.journeys.all()}
    return PeriodCounts(counting.count(rows),
                        {keys[k]: c for k, c in counting.by_journey(rows).items() if k in keys},
                        counting.by_day(rows, period), counting.by_template(rows), counting.skip_reasons(rows))


def counts_of(row: MetricRow) -> Counts:
    """A metrics rollup row as report counts (unique opens and clicks; skips of every reason)."""
    return Counts(entered=row.entered, sent=row.sent, delivered=row.delivered, opened=row.opened_unique,
                  clicked=row.clicked_unique, converted=row.converted, bounced=row.bounced,
                  unsubscribed=row.unsubscribed, skipped=row.skipped_total)


def counts_from_rows(rows: Sequence[MetricRow], period: Period) -> PeriodCounts:
    """Report counts from rollup rows grouped by (day, journey, template, channel): pure, so it is unit-tested."""
    totals, by_day, journeys = Counts(), dict[date, Counts](), dict[str, Counts]()
    templates: dict[tuple[str, str], Counts] = {}
    skips: dict[str, int] = {}
    for row in rows:
        c = counts_of(row)
        totals = totals + c
        if row.day is not None:
            by_day[row.day] = by_day.get(row.day, Counts()) + c
        if row.journey:
            journeys[row.journey] = journeys.get(row.journey, Counts()) + c
        if row.template:
            key = (row.template, row.channel or "-")
            templates[key] = templates.get(key, Counts()) + c
        for reason, n in row.skipped.items():
            skips[reason] = skips.get(reason, 0) + n
    days = [(d, by_day.get(d, Counts())) for d, _ in counting.by_day([], period)]
    return PeriodCounts(totals, journeys, days,
                        [TemplateRow(t, ch, c.sent, c.delivered, c.opened, c.clicked)
                         for (t, ch), c in sorted(templates.items())],
                        dict(sorted(skips.items(), key=lambda x: -x[1])))


def counts_from_rollups(ctx: ServiceContext, period: Period) -> PeriodCounts:
    """Counted from the metrics rollups (``services.metrics.metric_rows``): cheap at any volume, as fresh as the
    worker's last rollup refresh (a closed period is complete once the worker has run after it)."""
    rows = metric_rows(ctx, start=period.first_day, end=period.last_day, by=("day", "journey", "template", "channel"))
    return counts_from_rows(rows, period)


CountSource = Callable[[ServiceContext, Period], PeriodCounts]


def build_report(ctx: ServiceContext, kind: str, day: date | None = None, *,
                 anomalies: AnomalySource | None = None, with_goals: bool = True,
                 counts: CountSource = counts_from_rollups) -> ReportData:
    """The report of the period containing ``day`` (default: the last closed one). ``counts``: where the figures
    come from — the rollups (default, brought up to date first) or the raw rows (``counts_from_events``)."""
    if counts is counts_from_rollups:
        refresh_rollups(ctx)
    period = report_period(ctx, kind, day)
    now, before = counts(ctx, period), counts(ctx, period.previous())
    with ctx.reader() as uow:
        journeys = sorted(uow.journeys.all(), key=lambda j: j.key)
        compliance = uow.reports.compliance_findings()
    funnels = [FunnelRow(j.key, j.name, now.by_journey.get(j.key, Counts()))
               for j in journeys if j.key in now.by_journey or j.status == "active"]
    best, worst = _rank(now.templates)
    source = anomalies or anomaly_source
    return ReportData(
        period=period, generated_at=ctx.clock.now(), totals=now.totals, previous_totals=before.totals,
        kpis=kpis(now.totals, before.totals), daily=now.daily, funnels=funnels,
        best_templates=best, worst_templates=worst, skips=[SkipRow(r, n) for r, n in now.skips.items()],
        compliance=compliance, goals=goal_lines(ctx) if with_goals else [],
        anomalies=source(ctx, period.start, period.end))
