"""Cost, return and speed of the touches: ROI, cost per acquisition, sales-cycle length, touchpoint ranking.

Money stays exact: costs are ``Decimal`` yuan per message, revenue integer cents. A group (a journey, a channel,
a period, a touchpoint) is charged for the touches sent in it and credited with what those touches earned under
the chosen model, so ROI by period reads "what the messages of March returned", wherever the order fell.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

from touchflow.domain.errors import FieldError
from touchflow.domain.measurement.attribution import Conversion, Credit, Touch, from_cents

__all__ = [
    "DEFAULT_COSTS",
    "CostError",
    "Cycle",
    "GroupReturn",
    "cost_of",
    "parse_costs",
    "percentile",
    "returns_by",
    "sales_cycles",
]

# what a message costs in China (yuan), until the workspace sets its own: SMS is charged per message,
# email at a sending service's price per thousand, WeCom and on-site messages are free
DEFAULT_COSTS: Mapping[str, Decimal] = {"email": Decimal("0.001"), "sms": Decimal("0.045"), "wecom": Decimal(0),
                                        "wechat_mp": Decimal(0), "onsite": Decimal(0)}
_MAX_COST = Decimal(1000)


class CostError(FieldError):
    """A channel cost that cannot be used; ``field`` names the channel."""


def parse_costs(document: Mapping[str, Any]) -> dict[str, Decimal]:
    """``{channel: yuan per message}``; a cost is a number 0 ≤ cost ≤ 1000 (text keeps it exact)."""
    costs: dict[str, Decimal] = {}
    for channel, raw in document.items():
        if not isinstance(channel, str) or not channel or len(channel) > 32 or not channel.replace("_", "").isalnum():
            raise CostError(str(channel)[:40], "a channel name: letters, digits and _")
        if isinstance(raw, bool) or not isinstance(raw, str | int | float | Decimal):
            raise CostError(channel, "a cost in yuan per message, such as 0.045")
        try:
            value = Decimal(str(raw).strip())
        except InvalidOperation:
            raise CostError(channel, f"not a number: {str(raw)[:40]!r}") from None
        if not value.is_finite() or value < 0 or value > _MAX_COST:
            raise CostError(channel, "must be between 0 and 1000 yuan per message")
        costs[channel] = value.normalize() if value else Decimal(0)
    return costs


def cost_of(costs: Mapping[str, Decimal], channel: str) -> Decimal:
    return costs.get(channel, DEFAULT_COSTS.get(channel, Decimal(0)))


@dataclass(frozen=True)
class GroupReturn:
    """One group's touches, what they cost and what they were credited with."""

    group: str
    touches: int
    cost: Decimal  # yuan
    conversions: Fraction
    revenue_cents: int

    @property
    def revenue(self) -> Decimal:
        return from_cents(self.revenue_cents)

    @property
    def roi(self) -> Decimal | None:
        """(attributed revenue − cost) / cost; None when nothing was spent."""
        return (self.revenue - self.cost) / self.cost if self.cost else None

    @property
    def cpa(self) -> Decimal | None:
        """Cost per attributed conversion; None without one."""
        if not self.conversions:
            return None
        return self.cost / Decimal(self.conversions.numerator) * Decimal(self.conversions.denominator)

    @property
    def conversions_per_touch(self) -> float:
        return float(self.conversions) / self.touches if self.touches else 0.0


def returns_by(touches: Iterable[Touch], credits: Iterable[Credit], costs: Mapping[str, Decimal],
               group: Callable[[Touch], str]) -> list[GroupReturn]:
    """Touches, cost, credited conversions and revenue per group, in the order of the group name."""
    count: dict[str, int] = defaultdict(int)
    spent: dict[str, Decimal] = defaultdict(Decimal)
    won: dict[str, Fraction] = defaultdict(Fraction)
    cents: dict[str, int] = defaultdict(int)
    for touch in touches:
        name = group(touch)
        count[name] += 1
        spent[name] += cost_of(costs, touch.channel)
    for credit in credits:
        name = group(credit.touch)
        won[name] += credit.conversions
        cents[name] += credit.revenue_cents
    return [GroupReturn(name, count[name], spent[name], won[name], cents[name])
            for name in sorted(set(count) | set(won))]


@dataclass(frozen=True)
class Cycle:
    """Days from a contact's first touch to the first order after it, per group."""

    group: str
    contacts: int
    median_days: float | None
    p90_days: float | None


def percentile(values: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def sales_cycles(touches: Iterable[Touch], orders: Iterable[Conversion], group: Callable[[Touch], str],
                 period: tuple[datetime, datetime] | None = None) -> list[Cycle]:
    """First touch → first order per contact and group. A contact whose first order came before any touch was
    already a customer and is not counted; ``period`` keeps contacts whose first order fell in [start, end)."""
    first_order: dict[str, datetime] = {}
    for order in orders:
        if order.contact_id not in first_order or order.at < first_order[order.contact_id]:
            first_order[order.contact_id] = order.at
    first_touch: dict[tuple[str, str], datetime] = {}
    for touch in touches:
        key = (group(touch), touch.contact_id)
        if key not in first_touch or touch.at < first_touch[key]:
            first_touch[key] = touch.at
    days: dict[str, list[float]] = defaultdict(list)
    for (name, contact), touched in first_touch.items():
        ordered = first_order.get(contact)
        if ordered is None or ordered < touched:
            continue
        if period is not None and not period[0] <= ordered < period[1]:
            continue
        days[name].append((ordered - touched) / timedelta(days=1))
    return [Cycle(name, len(v), percentile(v, 0.5), percentile(v, 0.9)) for name, v in sorted(days.items())]
