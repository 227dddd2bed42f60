"""Message and journey KPIs (A1): the counted facts per rollup row, and every rate with its definition.

A rollup row holds counts for one local day (the workspace zone) and one combination of dimensions. The rates
are pure functions of a row; each returns ``None`` when its denominator is 0 (no traffic is not "0 %").

Definitions (docs/subsystems/measurement.md repeats them for people):

* delivery rate = delivered / sent
* bounce rate = bounced / sent
* open rate = unique opens / delivered
* click rate = unique clicks / delivered
* click-to-open rate = unique clicks / unique opens
* unsubscribe rate = unsubscribed / delivered
* complaint rate = complained / delivered
* conversion rate = converted / entered (journey entrants; a conversion is the journey's goal, counted once
  per run) — per journey, not per message, so it is ``None`` on rows that carry no entrants (a channel row)
* skip rate = skipped (all guardrail reasons) / queued
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import date
from typing import Final, Literal

__all__ = [
    "COUNTERS",
    "DIMENSIONS",
    "MESSAGE_EVENT_COUNTER",
    "RATES",
    "Dimension",
    "MetricRow",
    "bounce_rate",
    "click_rate",
    "click_to_open_rate",
    "combine",
    "complaint_rate",
    "conversion_rate",
    "delivery_rate",
    "group_rows",
    "nearest_rank",
    "open_rate",
    "rates",
    "row_to_dict",
    "skip_rate",
    "unsubscribe_rate",
]

Dimension = Literal["day", "journey", "step", "template", "channel", "segment"]
DIMENSIONS: Final[tuple[Dimension, ...]] = ("day", "journey", "step", "template", "channel", "segment")

# the integer counters of a row, in display order (``skipped`` is a dict by reason, ``revenue`` a float)
COUNTERS: Final = ("entered", "queued", "sent", "delivered", "bounced", "opened", "opened_unique", "clicked",
                   "clicked_unique", "converted", "unsubscribed", "complained")

# which stored lifecycle event adds 1 to which counter (opens and clicks: see services/metrics for uniqueness)
MESSAGE_EVENT_COUNTER: Final[Mapping[str, str]] = {
    "message_queued": "queued",
    "message_sent": "sent",
    "message_delivered": "delivered",
    "message_bounced": "bounced",
    "message_opened": "opened",
    "message_clicked": "clicked",
    "message_unsubscribed": "unsubscribed",
    "message_complained": "complained",
}


@dataclass(frozen=True)
class MetricRow:
    """Counts for one combination of the requested dimensions; a dimension not asked for is ``None``.

    ``journey`` is the journey key, ``step`` the node id, ``template`` ``name`` or ``name@version``,
    ``segment`` the journey's entry segment (see ADR 0028); ``""`` means "none" (a message outside journeys)."""

    day: date | None = None
    journey: str | None = None
    step: str | None = None
    template: str | None = None
    channel: str | None = None
    segment: str | None = None
    entered: int = 0
    queued: int = 0
    sent: int = 0
    delivered: int = 0
    bounced: int = 0
    opened: int = 0  # total opens stored (one per message: a repeated pixel load is the same event)
    opened_unique: int = 0  # messages opened at least once
    clicked: int = 0  # total clicks stored (one per message and link)
    clicked_unique: int = 0  # messages clicked at least once
    converted: int = 0
    unsubscribed: int = 0
    complained: int = 0
    skipped: Mapping[str, int] = field(default_factory=dict)  # guardrail reason → messages
    revenue: float = 0.0  # the ``amount`` of the goal events of converted runs

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())

    def dimensions(self) -> dict[str, object]:
        return {d: getattr(self, d) for d in DIMENSIONS}


def combine(a: MetricRow, b: MetricRow) -> MetricRow:
    """The sum of two rows' counts, keeping ``a``'s dimensions."""
    skipped = dict(a.skipped)
    for reason, n in b.skipped.items():
        skipped[reason] = skipped.get(reason, 0) + n
    changes: dict[str, object] = {c: getattr(a, c) + getattr(b, c) for c in COUNTERS}
    return replace(a, **changes, skipped=skipped, revenue=a.revenue + b.revenue)  # type: ignore[arg-type]


def _ratio(numerator: int, denominator: int) -> float | None:
    return None if denominator <= 0 else numerator / denominator


def delivery_rate(row: MetricRow) -> float | None:
    """delivered / sent."""
    return _ratio(row.delivered, row.sent)


def bounce_rate(row: MetricRow) -> float | None:
    """bounced / sent."""
    return _ratio(row.bounced, row.sent)


def open_rate(row: MetricRow) -> float | None:
    """unique opens / delivered."""
    return _ratio(row.opened_unique, row.delivered)


def click_rate(row: MetricRow) -> float | None:
    """unique clicks / delivered."""
    return _ratio(row.clicked_unique, row.delivered)


def click_to_open_rate(row: MetricRow) -> float | None:
    """unique clicks / unique opens."""
    return _ratio(row.clicked_unique, row.opened_unique)


def unsubscribe_rate(row: MetricRow) -> float | None:
    """unsubscribed / delivered."""
    return _ratio(row.unsubscribed, row.delivered)


def complaint_rate(row: MetricRow) -> float | None:
    """complained / delivered."""
    return _ratio(row.complained, row.delivered)


def conversion_rate(row: MetricRow) -> float | None:
    """converted / entered (journey entrants)."""
    return _ratio(row.converted, row.entered)


def skip_rate(row: MetricRow) -> float | None:
    """skipped by any guardrail / queued."""
    return _ratio(row.skipped_total, row.queued)


RATES: Final = {
    "delivery_rate": delivery_rate,
    "bounce_rate": bounce_rate,
    "open_rate": open_rate,
    "click_rate": click_rate,
    "click_to_open_rate": click_to_open_rate,
    "unsubscribe_rate": unsubscribe_rate,
    "complaint_rate": complaint_rate,
    "conversion_rate": conversion_rate,
    "skip_rate": skip_rate,
}


def rates(row: MetricRow) -> dict[str, float | None]:
    """Every rate of a row, by name."""
    return {name: rate(row) for name, rate in RATES.items()}


def group_rows(rows: Iterable[MetricRow], by: Sequence[Dimension]) -> list[MetricRow]:
    """Sum rows over the dimensions not in ``by`` (those become ``None``); ordered by the kept dimensions."""
    keep = set(by)
    summed: dict[tuple[object, ...], MetricRow] = {}
    for row in rows:
        blank = {d: None for d in DIMENSIONS if d not in keep}
        keyed = replace(row, **blank)  # type: ignore[arg-type]
        key = tuple(getattr(keyed, d) for d in DIMENSIONS)
        summed[key] = combine(summed[key], keyed) if key in summed else keyed
    return [summed[k] for k in sorted(summed, key=lambda k: tuple("" if v is None else str(v) for v in k))]


def row_to_dict(row: MetricRow) -> dict[str, object]:
    """The row's dimensions asked for, its counts and its rates (for JSON)."""
    out: dict[str, object] = {}
    for f in fields(row):
        value = getattr(row, f.name)
        if f.name in DIMENSIONS:
            if value is not None:
                out[f.name] = value.isoformat() if isinstance(value, date) else value
        else:
            out[f.name] = dict(value) if f.name == "skipped" else value
    out["skipped_total"] = row.skipped_total
    out["rates"] = rates(row)
    return out


def nearest_rank(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile: the smallest value with at least ``q`` of the values at or below it."""
    if not values:
        return None
    if not 0 < q <= 1:
        raise ValueError("q must be in (0, 1]")
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]
