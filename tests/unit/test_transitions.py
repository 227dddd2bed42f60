"""The engine's semantics as a pure function, read as timelines in virtual time."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from touchflow.domain.conditions.predicates import ContactFacts, EventFact
from touchflow.domain.journeys.parse import DefinitionError, parse_journey
from touchflow.domain.journeys.transitions import (
    CreateTask,
    Entered,
    EventArrived,
    Run,
    SendMessage,
    TimerDue,
    advance,
    fail_step,
    may_enter,
)

EXAMPLES = Path(__file__).parents[2] / "examples" / "journeys"
T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def load(name: str) -> object:
    return yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text(encoding="utf-8"))


def facts(*events: EventFact, **values: object) -> ContactFacts:
    return ContactFacts(contact_id="c1", values=dict(values), tags=frozenset(), events=tuple(events))


def new_run(start: str) -> Run:
    return Run("r1", "j1", 1, "c1", start, "active", T0)


def test_rule_a_sends_then_follows_up_on_wecom_when_not_opened_in_3_days() -> None:
    journey = parse_journey(load("rule_a_whitepaper"))
    first = advance(journey, new_run(journey.start), facts(), Entered(), T0)
    assert [type(e) for e in first.effects] == [SendMessage]
    assert first.effects[0].channel == "email"  # type: ignore[union-attr]
    assert first.run.status == "waiting" and first.run.wake_at == day(3)
    assert first.run.waiting_for == ("message_opened", "message_clicked")

    early = advance(journey, first.run, facts(), TimerDue(), day(2))
    assert early.run == first.run and not early.effects

    later = advance(journey, first.run, facts(), TimerDue(), day(3))
    assert [(type(e).__name__, getattr(e, "channel", None)) for e in later.effects] == [
        ("SendMessage", "wecom"), ("CreateTask", None)]
    task = later.effects[1]
    assert isinstance(task, CreateTask) and task.due_at == day(3) + timedelta(hours=2)
    assert later.run.status == "completed"
    assert later.steps[0].edge == "on_timeout"


def test_rule_a_opening_the_digest_takes_the_engaged_path() -> None:
    journey = parse_journey(load("rule_a_whitepaper"))
    first = advance(journey, new_run(journey.start), facts(), Entered(), T0)
    opened = EventFact("message_opened", day(1), {"journey_id": "j1", "node_id": "send_digest"})
    other = EventFact("message_opened", day(1), {"journey_id": "j1", "node_id": "another"})
    assert advance(journey, first.run, facts(other), EventArrived(other), day(1)).run == first.run
    result = advance(journey, first.run, facts(opened), EventArrived(opened), day(1))
    assert result.run.status == "completed"
    assert [s.node_id for s in result.steps] == ["wait_engagement", "engaged", "done"]
    assert result.steps[0].edge == "on_event"


def test_goal_converts_and_exit_rules_stop_the_run_before_the_next_step() -> None:
    journey = parse_journey(load("rule_a_whitepaper"))
    first = advance(journey, new_run(journey.start), facts(), Entered(), T0)
    paid = EventFact("order_paid", day(1), {"order_id": "o1", "amount": 10})
    converted = advance(journey, first.run, facts(paid), TimerDue(), day(3))
    assert converted.run.status == "converted" and not converted.effects
    complaint = EventFact("complaint", day(1), {})
    exited = advance(journey, first.run, facts(complaint), TimerDue(), day(3))
    assert exited.run.status == "exited" and not exited.effects


def test_entry_rules_one_active_run_max_entries_and_cooldown() -> None:
    journey = parse_journey(load("rule_a_whitepaper"))  # max 3 entries, 30 d cooldown
    assert may_enter(journey, [], T0)
    assert not may_enter(journey, [(T0, "waiting")], day(40))
    assert not may_enter(journey, [(T0, "completed")], day(10))
    assert may_enter(journey, [(T0, "completed")], day(31))
    assert not may_enter(journey, [(T0, "completed"), (day(31), "completed"), (day(62), "exited")], day(100))


def test_a_failing_step_retries_with_backoff_then_takes_on_error_else_fails() -> None:
    journey = parse_journey({
        "key": "j", "trigger": {"manual": True},
        "nodes": {
            "hook": {"kind": "webhook", "url": "https://crm.example.cn/hook", "retry": {"attempts": 3, "backoff": "1m"},
                     "next": "done", "on_error": "tell_sales"},
            "tell_sales": {"kind": "task", "queue": "sales", "title": "webhook failed", "next": "done"},
            "done": {"kind": "exit"},
        },
    })
    run = replace(new_run("hook"), step_no=1)
    first, record, again = fail_step(journey, run, "timeout", T0)
    assert (first.status, first.attempts, first.wake_at, again) == ("waiting", 1, T0 + timedelta(minutes=1), False)
    second, _, _ = fail_step(journey, first, "timeout", T0)
    assert second.wake_at == T0 + timedelta(minutes=2)  # backoff doubles
    third, record, again = fail_step(journey, second, "timeout", T0)
    assert (third.status, third.node_id, again, record.edge) == ("active", "tell_sales", True, "on_error")
    moved = advance(journey, third, facts(), TimerDue(), T0)
    assert [type(e).__name__ for e in moved.effects] == ["CreateTask"] and moved.run.status == "completed"

    no_fallback = parse_journey({"key": "k", "trigger": {"manual": True}, "nodes": {
        "hook": {"kind": "webhook", "url": "https://x.cn/h", "retry": {"attempts": 1}, "next": "end"}}})
    parked, record, _ = fail_step(no_fallback, new_run("hook"), "HTTP 500", T0)
    assert parked.status == "failed" and parked.error == "HTTP 500" and record.edge == "failed"


def test_definition_errors_name_the_path() -> None:
    data = load("rule_a_whitepaper")
    assert isinstance(data, dict)
    data["nodes"]["wait_engagement"]["timeout"] = "three days"
    with pytest.raises(DefinitionError) as info:
        parse_journey(data)
    assert info.value.path == "nodes.wait_engagement.timeout"
    data = load("rule_a_whitepaper")
    assert isinstance(data, dict)
    data["nodes"]["send_digest"]["next"] = "nowhere"
    with pytest.raises(DefinitionError) as info:
        parse_journey(data)
    assert info.value.path == "nodes.send_digest.next"
    assert "nowhere" in info.value.reason


def test_branch_trace_says_which_values_decided_it() -> None:
    journey = parse_journey({
        "key": "j", "trigger": {"manual": True},
        "nodes": {
            "check": {"kind": "branch", "cases": [
                {"if": {"all": [{"event": "content_download", "count": ">= 2", "within": "30d"},
                                {"attr": "industry", "eq": "制造业"}]}, "next": "hot"}], "else": "cold"},
            "hot": {"kind": "exit"}, "cold": {"kind": "exit"},
        },
    })
    download = EventFact("content_download", T0 - timedelta(days=3), {"content_id": "wp"})
    result = advance(journey, new_run("check"), facts(download, industry="制造业"), Entered(), T0)
    branch = result.steps[0]
    assert branch.edge == "else" and branch.detail["conditions"] == [False]
    (leaves,) = branch.detail["why"]
    assert {"event": "content_download", "within": "30d", "op": "gte", "expected": 2, "actual": 1,
            "result": False} in leaves
    assert {"attr": "industry", "op": "eq", "expected": "制造业", "actual": "制造业", "result": True} in leaves
