"""Alert rules as data and the decision function (A4): pure, no database."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from touchflow.domain.measurement.alert_rules import DEFAULT_RULES, RuleError, default_rules, parse_rule
from touchflow.domain.measurement.alerts import AlertState, DayCount, evaluate_breaker, evaluate_daily, rearmed

DAY0 = date(2026, 3, 2)
OPEN = default_rules()[0]


def series(*rates: float | None, volume: int = 1000) -> list[DayCount]:
    """One day per rate (None: a low-volume day of 50), opens = rate × volume."""
    return [DayCount(DAY0 + timedelta(days=i), 10 if r is None else round(r * volume), 50 if r is None else volume)
            for i, r in enumerate(rates)]


def run(rule: object, days: list[DayCount], state: AlertState | None = None, first: int = 0
        ) -> list[tuple[str, bool, str | None]]:
    state = state or AlertState()
    found = []
    for count in days[first:]:
        now = datetime.combine(count.day + timedelta(days=1), datetime.min.time(), UTC) + timedelta(hours=6)
        decision, state = evaluate_daily(rule, days, state, count.day, now)  # type: ignore[arg-type]
        found.append((decision.status, decision.act, decision.suppressed))
    return found


def test_the_spec_rule_ships_enabled() -> None:
    assert OPEN.metric == "open_rate" and OPEN.enabled and not OPEN.shadow
    assert (OPEN.threshold, OPEN.consecutive, OPEN.alpha) == (0.15, 3, 0.01) and "pause" in OPEN.actions
    assert {r.name: r.kind for r in default_rules()} == {"open-rate-drop": "daily", "complaint-breaker": "breaker",
                                                         "hard-bounce-breaker": "breaker",
                                                         "worker-capacity": "capacity"}


@pytest.mark.parametrize(("change", "field"), [
    ({"metric": "opens"}, "metric"), ({"threshold": "15%"}, "threshold"), ({"threshold": 1.5}, "threshold"),
    ({"baseline": {"kind": "median"}}, "baseline.kind"), ({"baseline": {"kind": "trailing", "days": 1}}, "days"),
    ({"actions": ["pause", "email"]}, "actions"), ({"actions": ["notify"]}, "notify.to"),
    ({"cooldown": "soon"}, "cooldown"), ({"colour": "red"}, "colour"), ({"warning": 0.2}, "warning"),
    ({"consecutive": 0}, "consecutive"), ({"kind": "breaker"}, "metric"), ({"shadow": "yes"}, "shadow"),
    ({"actions": ["notify"], "notify": {"to": "ops@example.cn, not-an-address"}}, "notify.to"),
    ({"assignee": ""}, "assignee"), ({"assignee": 7}, "assignee"),
])
def test_a_wrong_field_is_named(change: dict[str, object], field: str) -> None:
    with pytest.raises(RuleError) as caught:
        parse_rule({**DEFAULT_RULES[0], **change})
    assert caught.value.field == field


@pytest.mark.parametrize("behind", ["late", -5, "1x"])
def test_a_capacity_rule_names_a_wrong_behind(behind: object) -> None:
    capacity = next(r for r in DEFAULT_RULES if r.get("kind") == "capacity")
    with pytest.raises(RuleError) as caught:
        parse_rule({**capacity, "behind": behind})
    assert caught.value.field == "behind"


def test_busy_minutes_count_toward_capacity_only_while_a_queue_is_late() -> None:
    """ADR 0069: ten minutes at 100 % with every queue seconds old is a worker keeping up; with ``behind`` the
    run of minutes starts only where the worst queue lag passed it."""
    from touchflow.domain.capacity import CapacitySample, sustained_above

    now = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    minutes = [now - timedelta(minutes=m) for m in range(15, -1, -1)]
    keeping_up = [CapacitySample(at, 1, 1.0, 2.0) for at in minutes]
    late_lately = [CapacitySample(at, 1, 1.0, 2.0 if at < now - timedelta(minutes=5) else 300.0) for at in minutes]
    late_all_along = [CapacitySample(at, 1, 1.0, 90.0) for at in minutes]
    ten, minute = timedelta(minutes=10), timedelta(seconds=60)
    assert sustained_above(keeping_up, 0.8, ten, now)  # busy alone: what ADR 0047 fired on
    assert not sustained_above(keeping_up, 0.8, ten, now, behind=minute)
    assert not sustained_above(late_lately, 0.8, ten, now, behind=minute)  # late for five minutes only
    assert sustained_above(late_all_along, 0.8, ten, now, behind=minute)


def test_rules_round_trip_through_their_json() -> None:
    for rule in default_rules():
        assert parse_rule(rule.to_json()) == rule


def test_three_breach_days_trigger_two_do_not() -> None:
    healthy = [0.30] * 14
    assert [s for s, _, _ in run(OPEN, series(*healthy, 0.20, 0.21), first=14)] == ["breach", "breach"]
    decisions = run(OPEN, series(*healthy, 0.20, 0.21, 0.19), first=14)
    assert decisions[-1] == ("trigger", True, None)
    assert [a for _, a, _ in decisions] == [False, False, True]


def test_a_drop_within_the_threshold_is_at_most_a_warning() -> None:
    # −14 %: significant at this volume, but inside the 15 % threshold (beyond the 10 % warning band)
    decisions = run(OPEN, series(*[0.30] * 14, 0.258, 0.258, 0.258, volume=20000), first=14)
    assert decisions[0] == ("warning", False, None)
    assert not any(s in ("breach", "trigger") for s, _, _ in decisions)


def test_a_big_drop_that_is_not_significant_is_not_a_breach() -> None:
    # −20 % on 250 messages a day: p ≈ 0.15 each day — noise as far as the test can tell
    assert {s for s, _, _ in run(OPEN, series(*[0.30] * 14, 0.24, 0.24, 0.24, volume=250), first=14)} == {"ok"}


def test_a_low_volume_day_counts_neither_for_nor_against() -> None:
    days = series(*[0.30] * 14, 0.20, None, 0.20, 0.20)
    assert run(OPEN, days, first=14) == [("breach", False, None), ("low_volume", False, None),
                                         ("breach", False, None), ("trigger", True, None)]
    # and a healthy low-volume day (all opened, say) does not break a streak either
    days = series(*[0.30] * 14, 0.20, 0.20, None, 0.20)
    assert run(OPEN, days, first=14)[-1][0] == "trigger"


def test_shadow_mode_reports_and_never_acts() -> None:
    shadow = parse_rule({**DEFAULT_RULES[0], "shadow": True})
    decisions = run(shadow, series(*[0.30] * 14, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2), first=14)
    assert ("trigger", False, "shadow") in decisions and not any(a for _, a, _ in decisions)


def test_cooldown_then_fires_again_after_cooldown_rearm() -> None:
    rule = parse_rule({**DEFAULT_RULES[0], "rearm": "after_cooldown", "cooldown": "5d"})
    decisions = run(rule, series(*[0.30] * 14, *[0.2] * 10, volume=10000), first=14)
    fired = [i for i, (_, act, _) in enumerate(decisions) if act]
    # day 3 fires; the next streak counts from day 4, its third day (6) is within cooldown; day 8 is past it
    assert fired == [2, 7]
    assert decisions[5] == ("trigger", False, "cooldown")


def test_pause_disarms_until_a_person_resumes_then_only_new_days_count() -> None:
    days = series(*[0.30] * 14, *[0.2] * 10, volume=10000)
    state = AlertState()
    for i in range(14, 17):
        decision, state = evaluate_daily(OPEN, days, state, days[i].day, datetime(2026, 4, 1, tzinfo=UTC))
    assert decision.act and not state.armed
    decision, state = evaluate_daily(OPEN, days, state, days[17].day, datetime(2026, 4, 1, tzinfo=UTC))
    assert decision.suppressed in ("disarmed", None) and not decision.act
    state = rearmed(replace_cooldown(state), days[19].day)  # resumed on day 19: days 19, 20, 21 are needed
    acts = []
    for i in range(19, 22):
        decision, state = evaluate_daily(OPEN, days, state, days[i].day, datetime(2026, 5, 1, tzinfo=UTC))
        acts.append(decision.act)
    assert acts == [False, False, True]


def replace_cooldown(state: AlertState) -> AlertState:
    from dataclasses import replace
    return replace(state, cooldown_until=None)


def test_same_weekday_baseline_ignores_a_weekly_pattern() -> None:
    weekly = parse_rule({**DEFAULT_RULES[0], "baseline": {"kind": "same_weekday", "weeks": 4}})
    trailing = OPEN
    # weekends open at half the weekday rate: a trailing baseline reads every Saturday as a drop
    rates = [0.15 if (DAY0 + timedelta(days=i)).weekday() >= 5 else 0.30 for i in range(42)]
    days = series(*rates, volume=5000)
    assert not any(s in ("breach", "trigger") for s, _, _ in run(weekly, days, first=28))
    assert any(s == "breach" for s, _, _ in run(trailing, days, first=28))


def test_circuit_breaker_trips_on_a_complaint_spike_only() -> None:
    breaker = default_rules()[1]
    now = datetime(2026, 3, 2, 9, tzinfo=UTC)
    decision, state = evaluate_breaker(breaker, 12, 1000, AlertState(), now)  # 1.2 % against a 0.3 % ceiling
    assert decision.status == "trigger" and decision.act and decision.p_value is not None and decision.p_value < 0.01
    assert evaluate_breaker(breaker, 4, 1000, AlertState(), now)[0].status == "ok"  # 0.4 %: could be noise
    assert evaluate_breaker(breaker, 2, 120, AlertState(), now)[0].status == "low_volume"  # too few events
    assert evaluate_breaker(breaker, 12, 1000, state, now + timedelta(minutes=5))[0].suppressed == "disarmed"


def test_notify_recipients_and_the_task_assignee() -> None:
    rule = parse_rule({**DEFAULT_RULES[0], "actions": ["notify", "task"], "assignee": " wang ",
                       "notify": {"channel": "email", "to": "a@example.cn, b@example.cn,a@example.cn"}})
    assert rule.recipients == ("a@example.cn", "b@example.cn") and rule.assignee == "wang"
    assert parse_rule(rule.to_json()) == rule
    staff = parse_rule({**DEFAULT_RULES[0], "actions": ["notify"],
                        "notify": {"channel": "wecom_staff", "to": "zhangsan"}})
    assert staff.recipients == ("zhangsan",)
