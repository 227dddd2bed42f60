"""Counting report figures from activity rows: one row per thing that happened (a run entered or converted, a
message sent, delivered, opened, clicked, bounced, unsubscribed or skipped). Until the metrics rollups are wired
(services/metrics.metric_rows), reports count from these rows; afterwards the same ``Counts`` come from rollups.

Opens and clicks count unique messages: a second open or another link of one message adds nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

from touchflow.domain.measurement.report_model import Counts, Period, TemplateRow

__all__ = ["STAGES", "Activity", "by_day", "by_journey", "by_template", "count", "skip_reasons"]

STAGES = ("entered", "converted", "sent", "delivered", "opened", "clicked", "bounced", "unsubscribed", "skipped")


@dataclass(frozen=True, slots=True)
class Activity:
    at: datetime
    stage: str  # one of STAGES
    journey_id: str | None
    template: str | None
    channel: str | None
    key: str  # message id (or run id): unique counting
    reason: str | None = None  # skipped: the guardrail


def count(rows: Iterable[Activity]) -> Counts:
    seen: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        seen[row.stage].add(row.key)
    return Counts(**{stage: len(seen.get(stage, ())) for stage in STAGES})


K = TypeVar("K", bound=Hashable)


def _group(rows: Iterable[Activity], key: Callable[[Activity], K]) -> dict[K, list[Activity]]:
    groups: dict[K, list[Activity]] = defaultdict(list)
    for row in rows:
        groups[key(row)].append(row)
    return groups


def by_journey(rows: Iterable[Activity]) -> dict[str | None, Counts]:
    return {k: count(v) for k, v in _group(rows, lambda r: r.journey_id).items()}


def by_day(rows: Iterable[Activity], period: Period) -> list[tuple[date, Counts]]:
    zone = ZoneInfo(period.zone)
    groups = _group(rows, lambda r: r.at.astimezone(zone).date())
    days = (period.last_day - period.first_day).days + 1
    return [(d, count(groups.get(d, []))) for d in (period.first_day + timedelta(days=i) for i in range(days))]


def by_template(rows: Iterable[Activity]) -> list[TemplateRow]:
    """Per template (messages of journeys only carry one): sent, delivered, opened, clicked."""
    out = []
    for (template, channel), group in _group((r for r in rows if r.template),
                                             lambda r: (r.template, r.channel)).items():
        c = count(group)
        out.append(TemplateRow(str(template), str(channel or "-"), c.sent, c.delivered, c.opened, c.clicked))
    return out


def skip_reasons(rows: Iterable[Activity]) -> dict[str, int]:
    seen: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        if row.stage == "skipped":
            seen[row.reason or "-"].add(row.key)
    return {reason: len(keys) for reason, keys in sorted(seen.items(), key=lambda x: -len(x[1]))}
