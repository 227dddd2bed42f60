"""What a report says, as plain data: the period it covers, KPIs against the previous period, funnels, templates,
guardrail skips, compliance findings, goals and anomalies. Rendering (HTML, PDF, charts) reads only this.

A report covers a closed period in the workspace's time zone: a day, an ISO week (Monday first) or a calendar
month; ``previous`` is the period of the same kind just before it, which KPIs are compared with.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

__all__ = ["FUNNEL_STAGES", "PERIOD_KINDS", "Anomaly", "ComplianceRow", "Counts", "FunnelRow", "GoalLine", "Kpi",
           "Period", "PeriodKind", "ReportData", "SkipRow", "TemplateRow", "kpis", "last_closed", "period_of",
           "rate"]

PeriodKind = Literal["daily", "weekly", "monthly"]
PERIOD_KINDS: tuple[PeriodKind, ...] = ("daily", "weekly", "monthly")
FUNNEL_STAGES = ("entered", "sent", "delivered", "opened", "clicked", "converted")


@dataclass(frozen=True)
class Period:
    kind: PeriodKind
    first_day: date  # local dates, inclusive
    last_day: date
    zone: str

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first_day, time(), ZoneInfo(self.zone))

    @property
    def end(self) -> datetime:
        """Exclusive: midnight after the last day, local."""
        return datetime.combine(self.last_day + timedelta(days=1), time(), ZoneInfo(self.zone))

    @property
    def label(self) -> str:
        if self.kind == "daily":
            return self.first_day.isoformat()
        if self.kind == "weekly":
            year, week, _ = self.first_day.isocalendar()
            return f"{year}-W{week:02d} ({self.first_day:%m-%d}–{self.last_day:%m-%d})"
        return f"{self.first_day:%Y-%m}"

    def previous(self) -> Period:
        return period_of(self.kind, self.first_day - timedelta(days=1), self.zone)


def period_of(kind: str, day: date, zone: str) -> Period:
    """The period of ``kind`` that contains the local date ``day``."""
    if kind == "daily":
        return Period("daily", day, day, zone)
    if kind == "weekly":
        first = day - timedelta(days=day.weekday())
        return Period("weekly", first, first + timedelta(days=6), zone)
    if kind == "monthly":
        first = day.replace(day=1)
        following = (first + timedelta(days=32)).replace(day=1)
        return Period("monthly", first, following - timedelta(days=1), zone)
    raise ValueError(f"period: {kind!r} is not one of daily, weekly, monthly")


def last_closed(kind: str, now: datetime, zone: str) -> Period:
    """The latest period of ``kind`` that has ended by ``now``."""
    today = now.astimezone(ZoneInfo(zone)).date()
    return period_of(kind, today, zone).previous()


def rate(numerator: int, denominator: int) -> float | None:
    return None if denominator <= 0 else numerator / denominator


@dataclass(frozen=True)
class Counts:
    """Message and journey counts over a period (one journey, or all)."""

    entered: int = 0
    sent: int = 0
    delivered: int = 0
    opened: int = 0  # unique messages opened
    clicked: int = 0  # unique messages clicked
    converted: int = 0
    bounced: int = 0
    unsubscribed: int = 0
    skipped: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(*(getattr(self, f) + getattr(other, f) for f in self.__dataclass_fields__))

    @property
    def reached(self) -> int:
        """The rates' denominator: delivered, or sent where the channels report no delivery (SMTP, the sandbox)."""
        return self.delivered or self.sent

    def stage(self, name: str) -> int:
        return int(getattr(self, name))


@dataclass(frozen=True)
class Kpi:
    key: str  # catalog key: sent, delivery_rate, open_rate, …
    value: float | None
    previous: float | None
    kind: Literal["count", "rate"]

    @property
    def change(self) -> float | None:
        """Relative change for counts, percentage points for rates; None without both values."""
        if self.value is None or self.previous is None:
            return None
        if self.kind == "rate":
            return self.value - self.previous
        return None if self.previous == 0 else (self.value - self.previous) / self.previous


def kpis(current: Counts, previous: Counts) -> list[Kpi]:
    """The headline KPIs: volumes, and rates with their definitions (docs/subsystems/measurement.md):
    delivery = delivered / sent, open = unique opens / delivered, click = unique clicks / delivered,
    conversion = converted / entered, unsubscribe = unsubscribed / delivered (``delivered`` is ``Counts.reached``:
    sent where no channel reported a delivery in the period)."""
    def rates(c: Counts) -> dict[str, float | None]:
        base = c.reached
        receipts = c.delivered + c.bounced  # no receipt at all: the channels do not report delivery
        return {"delivery_rate": rate(c.delivered, c.sent) if receipts else None, "open_rate": rate(c.opened, base),
                "click_rate": rate(c.clicked, base), "conversion_rate": rate(c.converted, c.entered),
                "unsubscribe_rate": rate(c.unsubscribed, base)}
    out = [Kpi(k, float(current.stage(k)), float(previous.stage(k)), "count")
           for k in ("entered", "sent", "converted")]
    now_rates, before = rates(current), rates(previous)
    out.extend(Kpi(k, now_rates[k], before[k], "rate") for k in now_rates)
    return out


@dataclass(frozen=True)
class FunnelRow:
    journey: str  # key
    name: str
    counts: Counts

    def stages(self) -> list[tuple[str, int]]:
        return [(s, self.counts.stage(s)) for s in FUNNEL_STAGES]


@dataclass(frozen=True)
class TemplateRow:
    template: str
    channel: str
    sent: int
    delivered: int
    opened: int
    clicked: int

    @property
    def open_rate(self) -> float | None:
        return rate(self.opened, self.delivered or self.sent)

    @property
    def click_rate(self) -> float | None:
        return rate(self.clicked, self.delivered or self.sent)


@dataclass(frozen=True)
class SkipRow:
    reason: str
    count: int


@dataclass(frozen=True)
class ComplianceRow:
    template: str
    version: int
    status: str  # the template version's review status
    findings: tuple[str, ...]  # "rule: matched text"


@dataclass(frozen=True)
class GoalLine:
    key: str
    title: str
    owner: str
    deadline: date
    target: float
    unit: str
    value: float | None  # None: not measured yet
    progress: float | None  # 0..1 of the target (direction-aware)
    at_risk: bool
    note: str = ""


@dataclass(frozen=True)
class Anomaly:
    at: datetime
    journey: str | None
    metric: str
    message: str


@dataclass(frozen=True)
class ReportData:
    period: Period
    generated_at: datetime
    totals: Counts
    previous_totals: Counts
    kpis: list[Kpi]
    daily: list[tuple[date, Counts]]  # per local day of the period (the trend chart)
    funnels: list[FunnelRow]
    best_templates: list[TemplateRow]
    worst_templates: list[TemplateRow]
    skips: list[SkipRow]
    compliance: list[ComplianceRow]
    goals: list[GoalLine]
    anomalies: list[Anomaly]
    notes: Mapping[str, str] = field(default_factory=dict)
