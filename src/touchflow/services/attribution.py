"""Attribution use cases: which touches earned the orders, what they cost, and what a control group shows.

The interface reports (and the console) call: ``attribution_report``, ``roi_report``, ``touchpoint_ranking``,
``journey_uplift``; and the workspace setting behind them: ``attribution_settings``, ``set_costs``,
``set_window`` (audited). Everything reads raw tables (outbox ``sent_at``, ``order_paid`` events, holdout
assignments), so it does not depend on the daily rollups.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any, Literal
from zoneinfo import ZoneInfo

from touchflow.domain.conditions.durations import format_duration, parse_duration
from touchflow.domain.conditions.predicates import ConditionError
from touchflow.domain.errors import FieldError
from touchflow.domain.journeys.parse import parse_journey
from touchflow.domain.measurement.attribution import (
    DEFAULT_WINDOW,
    MODELS,
    Attribution,
    Conversion,
    Dimension,
    Model,
    Touch,
    attribute,
    totals_by,
    touch_dimension,
)
from touchflow.domain.measurement.attribution_ports import HoldoutRecord
from touchflow.domain.measurement.holdouts import Holdout, Uplift, uplift
from touchflow.domain.measurement.roi import Cycle, GroupReturn, cost_of, parse_costs, returns_by, sales_cycles
from touchflow.domain.unit_of_work import UnitOfWork
from touchflow.services.context import ServiceContext, save_setting
from touchflow.services.guarding import guardrail_policy

__all__ = [
    "ATTRIBUTION_KEY",
    "AttributionReport",
    "AttributionSettings",
    "HoldoutUplift",
    "RoiReport",
    "TouchpointRanking",
    "attribution_report",
    "attribution_settings",
    "journey_uplift",
    "open_journey_holdout",
    "roi_report",
    "set_costs",
    "set_window",
    "touchpoint_ranking",
]

ATTRIBUTION_KEY = "attribution"
DEFAULT_SPAN = timedelta(days=30)
_BEGINNING = datetime(1970, 1, 1, tzinfo=UTC)  # "all history" (datetime.min cannot move to UTC from +08:00)
Grouping = Literal["journey", "channel", "period"]
Period = Literal["day", "week", "month"]


@dataclass(frozen=True)
class AttributionSettings:
    window: timedelta = DEFAULT_WINDOW
    costs: Mapping[str, Decimal] = field(default_factory=dict)  # yuan per message; unset channels: DEFAULT_COSTS

    def document(self) -> dict[str, Any]:
        return {"window": format_duration(self.window), "costs": {k: str(v) for k, v in sorted(self.costs.items())}}

    def cost(self, channel: str) -> Decimal:
        return cost_of(self.costs, channel)


def _settings(document: Mapping[str, Any] | None) -> AttributionSettings:
    if not document:
        return AttributionSettings()
    window = parse_duration(document["window"], "window") if "window" in document else DEFAULT_WINDOW
    return AttributionSettings(window, parse_costs(document.get("costs") or {}))


def attribution_settings(ctx: ServiceContext) -> AttributionSettings:
    with ctx.reader() as uow:
        return _settings(uow.guards.setting(ATTRIBUTION_KEY))


def set_costs(ctx: ServiceContext, updates: Mapping[str, object], *, actor: str) -> AttributionSettings:
    """Set the cost per message of some channels (others keep theirs); audited as ``attribution.costs``."""
    if not updates:
        raise FieldError("costs", "name at least one channel=cost")
    changed = parse_costs(updates)  # CostError names the channel
    current = attribution_settings(ctx)
    result = AttributionSettings(current.window, {**current.costs, **changed})
    save_setting(ctx, ATTRIBUTION_KEY, result.document(), actor=actor, action="attribution.costs")
    return result


def set_window(ctx: ServiceContext, window: str, *, actor: str) -> AttributionSettings:
    """The attribution window (a duration such as 7d, at most 90d); audited as ``attribution.window``."""
    try:
        value = parse_duration(window, "window")
    except ConditionError as exc:
        raise FieldError("window", exc.reason) from None
    if value > timedelta(days=90):
        raise FieldError("window", "at most 90d")
    current = attribution_settings(ctx)
    result = AttributionSettings(value, current.costs)
    save_setting(ctx, ATTRIBUTION_KEY, result.document(), actor=actor, action="attribution.window")
    return result


def _span(ctx: ServiceContext, start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    end = end or ctx.clock.now()
    start = start or end - DEFAULT_SPAN
    if start >= end:
        raise FieldError("from", "must be before --to")
    return start, end


def _journey_id(uow: UnitOfWork, key: str | None) -> str | None:
    if key is None:
        return None
    record = uow.journeys.get(key)
    if record is None:
        raise LookupError(f"no journey {key!r}")
    return record.id


@dataclass(frozen=True)
class _Loaded:
    settings: AttributionSettings
    touches: list[Touch]  # sent in [start − window, end): every touch that may earn an order of the span
    orders: list[Conversion]  # paid in [start, end)
    result: Attribution
    start: datetime
    end: datetime

    def touches_in_span(self) -> list[Touch]:
        return [t for t in self.touches if self.start <= t.at < self.end]


def _load(ctx: ServiceContext, model: Model, journey: str | None, start: datetime | None,
          end: datetime | None) -> _Loaded:
    if model not in MODELS:
        raise FieldError("model", "one of last, first, linear")
    start, end = _span(ctx, start, end)
    with ctx.reader() as uow:
        settings = _settings(uow.guards.setting(ATTRIBUTION_KEY))
        journey_id = _journey_id(uow, journey)
        touches = uow.attribution.touches(start - settings.window, end, journey_id)
        orders = uow.attribution.orders(start, end, sorted({t.contact_id for t in touches}) if journey_id else None)
    return _Loaded(settings, touches, orders, attribute(touches, orders, model, settings.window), start, end)


@dataclass(frozen=True)
class AttributionReport:
    model: Model
    window: timedelta
    start: datetime
    end: datetime
    journey: str | None
    orders: int
    revenue_cents: int
    attributed_orders: int
    attributed_cents: int
    unattributed_orders: int
    unattributed_cents: int
    duplicates: int
    by_channel: dict[str, tuple[Fraction, int]]
    by_journey: dict[str, tuple[Fraction, int]]
    by_touchpoint: dict[str, tuple[Fraction, int]]


def attribution_report(ctx: ServiceContext, *, model: Model = "last", journey: str | None = None,
                       start: datetime | None = None, end: datetime | None = None) -> AttributionReport:
    """Orders paid in [start, end) (default: the last 30 days) credited to touches within the window.

    With ``journey``, only that journey's touches compete, and only orders of contacts it touched count."""
    loaded = _load(ctx, model, journey, start, end)
    result = loaded.result
    attributed = result.attributed
    return AttributionReport(
        model, loaded.settings.window, loaded.start, loaded.end, journey, len(result.conversions),
        result.revenue_cents(), len(attributed), sum(c.revenue_cents for c in attributed),
        len(result.unattributed), sum(c.revenue_cents for c in result.unattributed), result.duplicates,
        totals_by(result.credits, "channel"), totals_by(result.credits, "journey"),
        totals_by(result.credits, "touchpoint"))


def _period_of(at: datetime, period: Period, tz: ZoneInfo) -> str:
    local = at.astimezone(tz)
    if period == "day":
        return local.date().isoformat()
    if period == "week":
        year, week, _ = local.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{local.year}-{local.month:02d}"


@dataclass(frozen=True)
class RoiReport:
    model: Model
    by: Grouping
    start: datetime
    end: datetime
    rows: list[GroupReturn]
    cycles: list[Cycle]  # sales-cycle length per the same groups (channel: the channel of the first touch)
    total: GroupReturn


def roi_report(ctx: ServiceContext, *, by: Grouping = "journey", model: Model = "last", journey: str | None = None,
               start: datetime | None = None, end: datetime | None = None, period: Period = "month",
               tz: ZoneInfo | None = None) -> RoiReport:
    """Cost, attributed revenue, ROI and cost per acquisition per journey, channel or period of the touches sent in
    [start, end), with the sales cycle (first touch → first order) of contacts whose first order fell in it."""
    if by not in ("journey", "channel", "period"):
        raise FieldError("by", "one of journey, channel, period")
    if period not in ("day", "week", "month"):
        raise FieldError("period", "one of day, week, month")
    loaded = _load(ctx, model, journey, start, end)
    if tz is None:  # periods are the workspace's days (the guardrail policy's time zone)
        with ctx.reader() as uow:
            zone = ZoneInfo(guardrail_policy(uow).default_timezone)
    else:
        zone = tz
    if by == "period":
        def group(touch: Touch) -> str:
            return _period_of(touch.at, period, zone)
    else:
        dimension: Dimension = by

        def group(touch: Touch) -> str:
            return touch_dimension(touch, dimension)
    in_span = loaded.touches_in_span()
    credits = [c for c in loaded.result.credits if loaded.start <= c.touch.at < loaded.end]
    rows = returns_by(in_span, credits, loaded.settings.costs, group)
    total = returns_by(in_span, credits, loaded.settings.costs, lambda _: "total")
    with ctx.reader() as uow:  # first orders may predate the span: read each touched contact's history
        contacts = sorted({t.contact_id for t in loaded.touches})
        history = uow.attribution.orders(_BEGINNING, loaded.end, contacts)
        first_touches = uow.attribution.touches(_BEGINNING, loaded.end, _journey_id(uow, journey))
    cycles = sales_cycles(first_touches, history, group, (loaded.start, loaded.end))
    return RoiReport(model, by, loaded.start, loaded.end, rows, cycles,
                     total[0] if total else GroupReturn("total", 0, Decimal(0), Fraction(0), 0))


@dataclass(frozen=True)
class TouchpointRanking:
    model: Model
    start: datetime
    end: datetime
    channels: list[GroupReturn]  # best first: conversions per touch, then lower cost per conversion
    touchpoints: list[GroupReturn]  # journey/step/template


def _ranked(rows: list[GroupReturn]) -> list[GroupReturn]:
    return sorted(rows, key=lambda r: (-r.conversions_per_touch, r.cpa if r.cpa is not None else Decimal("Infinity"),
                                       r.group))


def touchpoint_ranking(ctx: ServiceContext, *, model: Model = "linear", start: datetime | None = None,
                       end: datetime | None = None) -> TouchpointRanking:
    """C2: channels and touchpoints by conversions per touch and cost per conversion (linear credit by default,
    so every touch on the path is seen)."""
    loaded = _load(ctx, model, None, start, end)
    in_span = loaded.touches_in_span()
    credits = [c for c in loaded.result.credits if loaded.start <= c.touch.at < loaded.end]
    costs = loaded.settings.costs
    return TouchpointRanking(
        model, loaded.start, loaded.end,
        _ranked(returns_by(in_span, credits, costs, lambda t: touch_dimension(t, "channel"))),
        _ranked(returns_by(in_span, credits, costs, lambda t: touch_dimension(t, "touchpoint"))))


# --- control groups -------------------------------------------------------------------------------------------

def open_journey_holdout(uow: UnitOfWork, ctx: ServiceContext, journey_id: str, journey_key: str, version: int,
                         holdout: Holdout | None, now: datetime) -> None:
    """At publish, in its transaction: the previous version's control group ends; the new one (if any) starts."""
    if holdout is None:
        uow.attribution.end_holdouts(journey_id, now)
        return
    window = None if holdout.window is None else int(holdout.window.total_seconds())
    uow.attribution.open_holdout(HoldoutRecord(ctx.ids.new(now), journey_id, journey_key, version, holdout.key,
                                               holdout.share, window, now, None))


@dataclass(frozen=True)
class HoldoutUplift:
    holdout: HoldoutRecord
    goal_event: str
    window: timedelta
    result: Uplift
    open_runs: int  # entrants whose window has not closed yet (both arms alike, so the difference stays fair)


def journey_uplift(ctx: ServiceContext, journey_key: str, *, confidence: float = 0.95) -> list[HoldoutUplift]:
    """Every control group the journey ever had (one per version that held entrants out), newest first, with the
    conversion uplift (goal event, or ``order_paid`` without a goal) and the revenue per entrant uplift."""
    if not 0.5 <= confidence < 1:
        raise FieldError("confidence", "between 0.5 and 1")
    now = ctx.clock.now()
    found: list[HoldoutUplift] = []
    with ctx.reader() as uow:
        journey_id = _journey_id(uow, journey_key)
        assert journey_id is not None
        settings = _settings(uow.guards.setting(ATTRIBUTION_KEY))
        for record in reversed(uow.attribution.holdouts(journey_id)):
            document = uow.journeys.version(journey_id, record.version)
            goal = parse_journey(document).goal if document is not None else None
            goal_event = goal.event if goal is not None else "order_paid"
            window = timedelta(seconds=record.window_s) if record.window_s else settings.window
            outcomes = uow.attribution.outcomes(journey_id, record.version, goal_event,
                                                int(window.total_seconds()))
            arms = {flag: [(o.converted, o.revenue_cents / 100) for o in outcomes if o.held_out is flag]
                    for flag in (False, True)}
            found.append(HoldoutUplift(record, goal_event, window, uplift(arms[False], arms[True], confidence),
                                       sum(1 for o in outcomes if o.entered_at + window > now)))
    return found
