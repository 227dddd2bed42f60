"""Attribution of paid orders to the touches that preceded them: last touch, first touch and linear.

Pure rules over plain values. Money is integer cents (fen) and a conversion is one whole unit, so credits are
exact fractions: a model never creates or loses a cent or a conversion. Linear splits cents by the largest
remainder (ties to the earlier touch), and conversion shares as ``Fraction`` so they sum to exactly 1.

A touch counts for an order when it was sent in ``(paid_at - window, paid_at]``; an order with no such touch is
*unattributed*: reported with its revenue, never dropped. One order id counts once per model, whatever number
of ``order_paid`` events carried it (the first by time wins).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from fractions import Fraction
from typing import Literal

__all__ = [
    "DEFAULT_WINDOW",
    "MODELS",
    "Attribution",
    "Conversion",
    "Credit",
    "Dimension",
    "Model",
    "Touch",
    "attribute",
    "cents",
    "dedupe_conversions",
    "from_cents",
    "totals_by",
    "touch_dimension",
]

Model = Literal["last", "first", "linear"]
Dimension = Literal["channel", "journey", "touchpoint"]
MODELS: tuple[Model, ...] = ("last", "first", "linear")
DEFAULT_WINDOW = timedelta(days=7)
_CENT = Decimal("0.01")


def cents(amount: object) -> int | None:
    """An order amount (number or numeric text, in yuan) as integer cents; None when it is not a number ≥ 0."""
    if isinstance(amount, bool) or amount is None:
        return None
    try:
        value = Decimal(str(amount).strip())
    except (InvalidOperation, ValueError):
        return None
    if not value.is_finite() or value < 0:
        return None
    return int((value / _CENT).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def from_cents(value: int) -> Decimal:
    return (Decimal(value) * _CENT).quantize(_CENT)


@dataclass(frozen=True, slots=True)
class Touch:
    """One message that left for a contact (``outbox.sent_at``)."""

    contact_id: str
    at: datetime
    channel: str
    journey: str | None = None  # journey key
    node: str | None = None  # the send step
    template: str | None = None
    message_id: str = ""

    def sort_key(self) -> tuple[datetime, str]:
        return (self.at, self.message_id)


@dataclass(frozen=True, slots=True)
class Conversion:
    """A paid order of a contact."""

    contact_id: str
    at: datetime
    order_id: str
    revenue_cents: int


@dataclass(frozen=True, slots=True)
class Credit:
    """What one touch earned from one order under one model."""

    touch: Touch
    order_id: str
    conversions: Fraction
    revenue_cents: int


@dataclass(frozen=True)
class Attribution:
    model: Model
    window: timedelta
    credits: tuple[Credit, ...]
    conversions: tuple[Conversion, ...]  # every distinct order considered
    unattributed: tuple[Conversion, ...]  # orders with no touch in their window
    duplicates: int = 0  # order events dropped because their order id was already counted
    _attributed_ids: frozenset[str] = field(default=frozenset(), repr=False)

    @property
    def attributed(self) -> tuple[Conversion, ...]:
        return tuple(c for c in self.conversions if c.order_id in self._attributed_ids)

    def revenue_cents(self) -> int:
        return sum(c.revenue_cents for c in self.conversions)

    def credited_cents(self) -> int:
        return sum(c.revenue_cents for c in self.credits)

    def credited_conversions(self) -> Fraction:
        return sum((c.conversions for c in self.credits), Fraction(0))


def dedupe_conversions(conversions: Iterable[Conversion]) -> tuple[list[Conversion], int]:
    """One conversion per order id: the earliest (then the lowest contact id, for determinism)."""
    best: dict[str, Conversion] = {}
    seen = 0
    for conversion in conversions:
        seen += 1
        current = best.get(conversion.order_id)
        if current is None or (conversion.at, conversion.contact_id) < (current.at, current.contact_id):
            best[conversion.order_id] = conversion
    kept = sorted(best.values(), key=lambda c: (c.at, c.order_id))
    return kept, seen - len(kept)


def _split_cents(total: int, parts: int) -> list[int]:
    """``total`` into ``parts`` integer shares differing by at most one cent, the extra cents to the first."""
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def _eligible(touches: Sequence[Touch], conversion: Conversion, window: timedelta) -> list[Touch]:
    start = conversion.at - window
    return [t for t in touches if start < t.at <= conversion.at]


def attribute(touches: Iterable[Touch], conversions: Iterable[Conversion], model: Model,
              window: timedelta = DEFAULT_WINDOW) -> Attribution:
    """Credit each distinct order to the contact's touches in its window under ``model``."""
    if window <= timedelta(0):
        raise ValueError("the attribution window must be above zero")
    if model not in MODELS:
        raise ValueError(f"unknown attribution model {model!r}: use last, first or linear")
    by_contact: dict[str, list[Touch]] = defaultdict(list)
    for touch in touches:
        by_contact[touch.contact_id].append(touch)
    for listed in by_contact.values():
        listed.sort(key=Touch.sort_key)
    kept, duplicates = dedupe_conversions(conversions)
    credits: list[Credit] = []
    unattributed: list[Conversion] = []
    attributed: set[str] = set()
    for conversion in kept:
        eligible = _eligible(by_contact.get(conversion.contact_id, ()), conversion, window)
        if not eligible:
            unattributed.append(conversion)
            continue
        attributed.add(conversion.order_id)
        if model == "last":
            credits.append(Credit(eligible[-1], conversion.order_id, Fraction(1), conversion.revenue_cents))
        elif model == "first":
            credits.append(Credit(eligible[0], conversion.order_id, Fraction(1), conversion.revenue_cents))
        else:
            share = Fraction(1, len(eligible))
            for touch, part in zip(eligible, _split_cents(conversion.revenue_cents, len(eligible)), strict=True):
                credits.append(Credit(touch, conversion.order_id, share, part))
    return Attribution(model, window, tuple(credits), tuple(kept), tuple(unattributed), duplicates,
                       frozenset(attributed))


def totals_by(credits: Iterable[Credit], dimension: Dimension = "channel") -> dict[str, tuple[Fraction, int]]:
    """Credited (conversions, cents) per channel, journey key or touchpoint (``journey/node/template``)."""
    out: dict[str, tuple[Fraction, int]] = {}
    for credit in credits:
        name = touch_dimension(credit.touch, dimension)
        conversions, revenue = out.get(name, (Fraction(0), 0))
        out[name] = (conversions + credit.conversions, revenue + credit.revenue_cents)
    return out


def touch_dimension(touch: Touch, dimension: Dimension) -> str:
    if dimension == "channel":
        return touch.channel
    if dimension == "journey":
        return touch.journey or "-"
    return f"{touch.journey or '-'}/{touch.node or '-'}/{touch.template or '-'}"
