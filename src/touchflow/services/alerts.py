"""Alerts (A4): evaluate every rule for every live journey, act on triggers, keep state and history.

Called by the worker's tick through ``AlertSweeper``: circuit breakers every ``BREAKER_EVERY`` over the messages
of the last window; daily rules once per closed day, ``SETTLE`` after the day ends in the workspace time zone.

Daily series are *send-day cohorts* read from the raw outbox and its lifecycle events: a message counts on the
local day it was sent, and an open/click/complaint/unsubscribe counts only when it came within ``SETTLE`` of the
send. Every day is so measured with the same yardstick (a day evaluated early is not short of late opens), and the
day is final once evaluated. delivered = sent and not bounced (channels without delivery receipts included).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from touchflow.domain.journeys.ports import JourneyRecord
from touchflow.domain.measurement.alert_ports import AlertRecord
from touchflow.domain.measurement.alert_rules import DAILY_METRICS, AlertRule, default_rules, parse_rule
from touchflow.domain.measurement.alerts import (
    LOOKBACK_DAYS,
    AlertState,
    DayCount,
    Decision,
    evaluate_breaker,
    evaluate_daily,
    rearmed,
)
from touchflow.domain.unit_of_work import UnitOfWork
from touchflow.services.alert_actions import queue_actions
from touchflow.services.context import ServiceContext
from touchflow.services.guarding import guardrail_policy
from touchflow.services.journeys import JourneyError, set_journey_status

__all__ = [
    "ACTOR",
    "BREAKER_EVERY",
    "SETTLE",
    "AlertOutcome",
    "AlertSweeper",
    "alert_history",
    "all_rules",
    "daily_series",
    "evaluate_alerts",
    "list_rules",
    "rule_states",
    "set_rule",
    "test_rule",
]

ACTOR = "system:alerts"
SETTLE = timedelta(hours=6)
BREAKER_EVERY = timedelta(minutes=5)


@dataclass(frozen=True)
class AlertOutcome:
    journey: str
    decision: Decision
    paused: bool = False
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        d = self.decision
        return {"journey": self.journey, "rule": d.rule, "metric": d.metric, "status": d.status, "acted": d.act,
                "suppressed": d.suppressed, "paused": self.paused, "p_value": d.p_value, "change": d.change,
                "summary": d.summary("zh"), "summary_en": d.summary("en"), "note": self.note,
                "days": [{"day": t.day.isoformat(), "successes": t.successes, "trials": t.trials, "verdict": t.verdict,
                          "baseline": t.baseline, "change": t.change, "p_value": t.p_value} for t in d.days]}


def all_rules(uow: UnitOfWork) -> list[AlertRule]:
    """The shipped rules, each replaced by a stored rule of the same name, then the other stored rules."""
    stored = {name: parse_rule(doc) for name, doc in uow.alerts.rules().items()}
    rules = [stored.pop(r.name, r) for r in default_rules()]
    return rules + [stored[name] for name in sorted(stored)]


def list_rules(ctx: ServiceContext) -> list[AlertRule]:
    with ctx.reader() as uow:
        return all_rules(uow)


def set_rule(ctx: ServiceContext, document: Mapping[str, Any], *, actor: str) -> AlertRule:
    """Validate and store a rule (``RuleError`` names the wrong field); one audit row."""
    rule = parse_rule(document)
    now = ctx.clock.now()
    with ctx.uow() as uow:
        uow.alerts.set_rule(rule.name, rule.to_json(), actor, now)
        uow.audit.record(actor, "alert.rule_set", rule.name, rule.to_json(), now)
        uow.commit()
    return rule


def rule_states(ctx: ServiceContext) -> list[dict[str, Any]]:
    """Every (rule, journey) state kept so far, with the journey's key."""
    with ctx.reader() as uow:
        keys = {j.id: j.key for j in uow.journeys.all()}
        return [{"rule": rule, "journey": keys.get(journey_id, journey_id), "armed": s.armed,
                 "consecutive": s.consecutive, "last_fired": s.last_fired, "cooldown_until": s.cooldown_until,
                 "counts_from": s.counts_from, "last_day": s.last_day}
                for (rule, journey_id), s in sorted(uow.alerts.states().items())]


def alert_history(ctx: ServiceContext, journey: str | None = None, limit: int = 100) -> list[AlertRecord]:
    with ctx.reader() as uow:
        journey_id = None
        if journey is not None:
            record = uow.journeys.get(journey)
            if record is None:
                raise JourneyError(f"no journey {journey!r}")
            journey_id = record.id
        return uow.alerts.history(journey_id, limit)


# --- series ----------------------------------------------------------------------------------------------------

def _zone(uow: UnitOfWork) -> ZoneInfo:
    return ZoneInfo(guardrail_policy(uow).default_timezone)


def _local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), zone).astimezone(UTC)


def daily_series(uow: UnitOfWork, first: date, last: date, zone: ZoneInfo,
                 journey_id: str | None = None) -> dict[str, dict[str, list[DayCount]]]:
    """Journey id → metric → the days ``first``..``last`` (send-day cohorts, outcomes within ``SETTLE``)."""
    start, end = _local_midnight(first, zone), _local_midnight(last + timedelta(days=1), zone)
    tallies: dict[tuple[str, str, date], list[int]] = defaultdict(lambda: [0, 0])
    for message in uow.alerts.sent_between(start, end, journey_id, within=SETTLE):
        day = message.sent_at.astimezone(zone).date()
        for metric in DAILY_METRICS:
            hit, trial = message.counts(metric)
            tally = tallies[(message.journey_id, metric, day)]
            tally[0] += hit
            tally[1] += trial
    found: dict[str, dict[str, list[DayCount]]] = defaultdict(lambda: defaultdict(list))
    for (journey, metric, day), (hits, trials) in sorted(tallies.items()):
        found[journey][metric].append(DayCount(day, hits, trials))
    return found


# --- evaluation ------------------------------------------------------------------------------------------------

def _history_days(rules: Sequence[AlertRule]) -> int:
    spans = [r.baseline.span * (7 if r.baseline.kind == "same_weekday" else 1) for r in rules if r.kind == "daily"]
    return LOOKBACK_DAYS + max(spans, default=0) + 1


@dataclass
class SeriesCache:
    """Days already read (final once settled: later outcomes fall outside the window), so a worker reads each
    day's messages once instead of seven weeks of them every day."""

    through: date | None = None
    first: date | None = None
    zone: ZoneInfo | None = None
    days: dict[tuple[str, str], dict[date, DayCount]] = field(default_factory=dict)

    def update(self, uow: UnitOfWork, first: date, settled: date, zone: ZoneInfo) -> None:
        if self.first is None or first < self.first or zone != self.zone:  # a longer baseline, another zone: anew
            self.through, self.days, self.zone = None, {}, zone
        self.first = first
        start = first if self.through is None or self.through < first else self.through + timedelta(days=1)
        if start <= settled:
            for journey, metrics in daily_series(uow, start, settled, zone).items():
                for metric, counts in metrics.items():
                    self.days.setdefault((journey, metric), {}).update({c.day: c for c in counts})
        self.through = settled
        for kept in self.days.values():
            for day in [d for d in kept if d < first]:
                del kept[day]

    def series(self, journey_id: str, metric: str) -> list[DayCount]:
        return sorted(self.days.get((journey_id, metric), {}).values(), key=lambda c: c.day)


def evaluate_alerts(ctx: ServiceContext, *, daily: bool = True, breaker: bool = True,
                    cache: SeriesCache | None = None) -> list[AlertOutcome]:
    """One pass over every enabled rule and live journey; triggers act (pause, task, notify) unless suppressed.
    ``cache``: the days read by earlier passes (the sweeper keeps one)."""
    now = ctx.clock.now()
    with ctx.reader() as uow:
        rules = [r for r in all_rules(uow) if r.enabled and r.kind != "capacity"]  # capacity: services/capacity.py
        live = [j for j in uow.journeys.all() if j.status == "active"]
        states = uow.alerts.states()
        zone = _zone(uow)
        settled = (now - SETTLE).astimezone(zone).date() - timedelta(days=1)  # the newest day that is final
        cache = cache if cache is not None else SeriesCache()
        if daily and any(r.kind == "daily" for r in rules):
            cache.update(uow, settled - timedelta(days=_history_days(rules)), settled, zone)
        window = max((r.window for r in rules if r.kind == "breaker"), default=timedelta(hours=1))
        recent = uow.alerts.window_outcomes(now - window, now) if breaker else {}
    today = now.astimezone(zone).date()
    outcomes: list[AlertOutcome] = []
    for journey in live:
        for rule in rules:
            if not rule.applies_to(journey.key) or not (daily if rule.kind == "daily" else breaker):
                continue
            state = states.get((rule.name, journey.id), AlertState())
            if not state.armed:  # the rule paused it and a person resumed it since (it is live again)
                state = rearmed(state, today)
            decisions: list[tuple[Decision, AlertState]] = []
            if rule.kind == "breaker":
                sent, complained, bounced = recent.get(journey.id, (0, 0, 0))
                events = complained if rule.metric == "complaint_rate" else bounced
                decisions.append(evaluate_breaker(rule, events, sent, state, now))
            else:
                days = cache.series(journey.id, rule.metric)
                first = settled if state.last_day is None else state.last_day + timedelta(days=1)
                day = first
                while day <= settled:  # catch up on every closed day not yet decided (a worker that was down)
                    decision, state = evaluate_daily(rule, days, state, day, now)
                    decisions.append((decision, state))
                    day += timedelta(days=1)
                    if decision.act:
                        break
            before = states.get((rule.name, journey.id), AlertState())
            for decision, new_state in decisions:
                quiet = decision.status in ("ok", "low_volume", "no_baseline") and not decision.act
                if quiet and new_state == before:  # nothing to keep: no write transaction every few minutes
                    outcomes.append(AlertOutcome(journey.key, decision))
                    continue
                outcomes.append(_record(ctx, journey, rule, decision, new_state))
                before = new_state
            if not decisions and state != states.get((rule.name, journey.id)):
                with ctx.uow() as uow:
                    uow.alerts.save_state(rule.name, journey.id, state, now)
                    uow.commit()
    return outcomes


def _reason(decision: Decision) -> str:
    return f"告警自动暂停：{decision.summary('zh')} / paused by alert: {decision.summary('en')}"


def _record(ctx: ServiceContext, journey: JourneyRecord, rule: AlertRule, decision: Decision,
            state: AlertState) -> AlertOutcome:
    """Act on a trigger, then keep the state and (unless all was well) a history row, in one transaction."""
    now = ctx.clock.now()
    paused, notes = False, []
    if decision.act and "pause" in rule.actions:
        try:
            set_journey_status(ctx, journey.key, "paused", actor=ACTOR, reason=_reason(decision))
            paused = True
        except JourneyError as exc:  # archived meanwhile
            notes.append(f"pause failed: {exc}")
    with ctx.uow() as uow:
        if decision.act:  # the notification and the task are kept with the decision, in its transaction
            notes += queue_actions(uow, ctx.ids, journey, rule, decision, paused, now)
        uow.alerts.save_state(rule.name, journey.id, state, now)
        if decision.status not in ("ok", "low_volume", "no_baseline"):
            details = AlertOutcome(journey.key, decision, paused, "; ".join(notes)).to_json()
            uow.alerts.add_history(AlertRecord(now, rule.name, journey.id, rule.metric, decision.status, decision.act,
                                               decision.suppressed, decision.summary("zh"), details))
        if decision.act:
            uow.audit.record(ACTOR, "alert.fired", journey.key, {
                "rule": rule.name, "metric": rule.metric, "summary": decision.summary("en"),
                "p_value": decision.p_value, "change": decision.change, "actions": list(rule.actions),
                "paused": paused, "notes": "; ".join(notes)}, now)
        uow.commit()
    return AlertOutcome(journey.key, decision, paused, "; ".join(notes))


def test_rule(ctx: ServiceContext, document: Mapping[str, Any], journey: str, days: int = 28) -> list[AlertOutcome]:
    """A dry run: ``document``'s decisions on each of the last ``days`` closed days of ``journey``; nothing is
    stored and nothing acts (the state runs in memory, as if the journey had never been paused)."""
    rule = parse_rule(document)
    now = ctx.clock.now()
    with ctx.reader() as uow:
        record = uow.journeys.get(journey)
        if record is None:
            raise JourneyError(f"no journey {journey!r}")
        zone = _zone(uow)
        settled = (now - SETTLE).astimezone(zone).date() - timedelta(days=1)
        start = settled - timedelta(days=days - 1)
        series = daily_series(uow, start - timedelta(days=_history_days([rule])), settled, zone, record.id)
    counts = series.get(record.id, {}).get(rule.metric, [])
    state, found = AlertState(), []
    for offset in range(days):
        decision, state = evaluate_daily(rule, counts, state, start + timedelta(days=offset), now)
        found.append(AlertOutcome(record.key, decision))
    return found


class AlertSweeper:
    """What the worker's tick calls: breakers at most every ``BREAKER_EVERY`` (while messages flow), daily rules
    once a closed day has settled. ``next_due`` tells the sandbox when to come back."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self._next_breaker: datetime | None = None
        self._next_daily: datetime | None = None
        self._watching = False
        self._cache = SeriesCache()

    def __call__(self) -> list[AlertOutcome]:
        now = self.ctx.clock.now()
        breaker = self._next_breaker is None or now >= self._next_breaker
        daily = self._next_daily is None or now >= self._next_daily
        if not (breaker or daily):
            return []
        outcomes = evaluate_alerts(self.ctx, daily=daily, breaker=breaker, cache=self._cache)
        if daily:
            with self.ctx.reader() as uow:
                # days with messages still to decide: else nothing is due until new input (next_due says None)
                self._watching = uow.alerts.any_sent_since(now - timedelta(days=2))
        if breaker:
            self._next_breaker = now + BREAKER_EVERY
        if daily:
            with self.ctx.reader() as uow:
                zone = _zone(uow)
            local = (now - SETTLE).astimezone(zone).date() + timedelta(days=1)
            self._next_daily = _local_midnight(local, zone) + SETTLE
        return outcomes

    def next_due(self) -> datetime | None:
        """The next daily evaluation (breakers poll on the worker's own ticks: they need traffic, which ticks)."""
        return self._next_daily if self._watching else None
