"""Goals (A6): the goal decomposition table as a workspace setting, each key result's live value computed from the
data, progress, and an at-risk flag from the trend of the values the worker records once a day.

A binding that cannot be computed (no personas yet, no survey answers, no tasks) is shown as "not measured", never
as zero. Bindings read existing services (personas, sources, task timeliness) or ``uow.reports.goal_facts``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from importlib.resources import files
from typing import Any
from zoneinfo import ZoneInfo

from touchflow.domain.actors import Actor
from touchflow.domain.measurement.goals import GoalTable, KeyResult, assess, parse_goals, progress_of
from touchflow.domain.measurement.nps import net_promoter_score
from touchflow.domain.measurement.report_model import GoalLine, rate
from touchflow.domain.measurement.report_ports import GoalFacts
from touchflow.domain.safe_yaml import load_yaml
from touchflow.services.assignment import timeliness_report
from touchflow.services.channels import current_guardrail_policy
from touchflow.services.context import ServiceContext
from touchflow.services.personas import persona_coverage

__all__ = ["GOALS_KEY", "WINDOW", "default_goals", "goal_lines", "goal_table", "key_result", "launched_goals",
           "measure", "record_goal_values", "set_goals"]

GOALS_KEY = "goals"
WINDOW = timedelta(days=90)  # the look-back of event-based bindings


def default_goals() -> dict[str, Any]:
    """The seeds' table (domain/data/goals.yaml)."""
    document = load_yaml(files("touchflow.domain.data").joinpath("goals.yaml").read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def launched_goals(ctx: ServiceContext) -> dict[str, Any]:
    """The default table with ``launch`` set to today (local): what a new workspace stores."""
    return {**default_goals(), "launch": _today(ctx).isoformat()}


def goal_table(ctx: ServiceContext) -> GoalTable:
    """The workspace's table; the default (launching today) until someone stores one."""
    with ctx.reader() as uow:
        stored = uow.guards.setting(GOALS_KEY)
    document = dict(stored) if stored else default_goals()
    table = parse_goals(document)
    if table.launch is None:
        table = GoalTable(_today(ctx), table.phases)
    return table


def set_goals(ctx: ServiceContext, document: Mapping[str, Any], *, actor: Actor | str) -> GoalTable:
    """Validate and store a goal table (``GoalError`` names the field); ``launch`` defaults to today. Audited."""
    who = actor.label if isinstance(actor, Actor) else actor
    table = parse_goals(document)
    stored = dict(document)
    if table.launch is None:
        stored["launch"] = _today(ctx).isoformat()
        table = GoalTable(_today(ctx), table.phases)
    elif not isinstance(stored["launch"], str):
        stored["launch"] = table.launch.isoformat()
    now = ctx.clock.now()
    with ctx.uow() as uow:
        uow.guards.set_setting(GOALS_KEY, stored, who, now)
        uow.audit.record(who, "goals.set", GOALS_KEY, {"key_results": [kr.key for kr in table.key_results()],
                                                       "launch": stored["launch"]}, now)
        uow.commit()
    return table


def _zone(ctx: ServiceContext) -> ZoneInfo:
    return ZoneInfo(current_guardrail_policy(ctx).default_timezone)


def _today(ctx: ServiceContext) -> date:
    return ctx.clock.now().astimezone(_zone(ctx)).date()


def _month_starts(ctx: ServiceContext) -> tuple[datetime, datetime, datetime]:
    zone = _zone(ctx)
    this_month = _today(ctx).replace(day=1)
    last = (this_month - timedelta(days=1)).replace(day=1)
    before = (last - timedelta(days=1)).replace(day=1)
    return tuple(datetime(d.year, d.month, 1, tzinfo=zone).astimezone(UTC)  # type: ignore[return-value]
                 for d in (before, last, this_month))


def measure(ctx: ServiceContext) -> dict[str, float | None]:
    """Every bindable metric's current value (None: not measurable from the data yet)."""
    now = ctx.clock.now()
    with ctx.reader() as uow:
        facts: GoalFacts = uow.reports.goal_facts(now - WINDOW, now, _month_starts(ctx))
        sources = uow.sources.all()
        has_personas = bool(uow.personas.all())
    received = sum(s.received for s in sources)
    coverage = persona_coverage(ctx) if has_personas else None
    lines = [line for line in timeliness_report(ctx, days=30) if line.scope == "team"]
    counted = sum(line.counted for line in lines)
    sales = next((line for line in lines if line.queue == "sales"), None)
    growth = None
    if facts.repeat_orders_last_month:
        growth = facts.repeat_orders_this_month / facts.repeat_orders_last_month - 1
    return {
        "persona_coverage": coverage.share if coverage is not None and coverage.total else None,
        "data_sync_success": rate(sum(s.accepted for s in sources), received),
        "intent_conversion": rate(facts.intent_converted, facts.intent_entered),
        "lead_response_hours": (sales.p50_response.total_seconds() / 3600
                                if sales is not None and sales.p50_response is not None else None),
        "followup_timeliness": rate(sum(line.within_sla for line in lines), counted),
        "dormant_reactivation": rate(facts.reactivated, facts.dormant),
        "coupon_use": rate(facts.coupons_redeemed, facts.coupons_claimed),
        "repurchase_growth": growth,
        "nps": net_promoter_score(facts.nps_scores).score,  # the metrics area's one definition
    }


def goal_lines(ctx: ServiceContext, values: Mapping[str, float | None] | None = None,
               table: GoalTable | None = None) -> list[GoalLine]:
    """Each key result with its value, progress and at-risk flag (what reports and ``goals show`` print)."""
    table = table or goal_table(ctx)
    values = measure(ctx) if values is None else values
    today = _today(ctx)
    assert table.launch is not None
    with ctx.reader() as uow:
        history = {kr.key: uow.reports.goal_history(kr.key) for kr in table.key_results()}
    lines = []
    for kr in table.key_results():
        value = values.get(kr.metric)
        deadline = kr.deadline(table.launch)
        risky, note = assess(kr, value, history[kr.key], today, deadline)
        lines.append(GoalLine(kr.key, kr.title, kr.owner, deadline, kr.target, kr.unit, value,
                              progress_of(kr, value), risky, note))
    return lines


def record_goal_values(ctx: ServiceContext, measured: Callable[[ServiceContext], Mapping[str, float | None]]
                       = measure) -> int:
    """Record today's value of every measured key result (the trend ``assess`` reads); returns how many."""
    table = goal_table(ctx)
    values = measured(ctx)
    today = _today(ctx)
    kept = [(kr, values.get(kr.metric)) for kr in table.key_results()]
    with ctx.uow() as uow:
        for kr, value in kept:
            if value is not None:
                uow.reports.record_goal_value(kr.key, today, value)
        uow.commit()
    return sum(1 for _, v in kept if v is not None)


def key_result(ctx: ServiceContext, key: str) -> KeyResult | None:
    return goal_table(ctx).find(key)
