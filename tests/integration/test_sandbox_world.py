"""The sandbox acts when the worker would, reacts to the real message, shows each status change at its
time, and runs the scenario's world: guardrails, provider failures, segments and a person's actions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from touchflow.bootstrap import open_sandbox
from touchflow.domain.journeys.scenarios import Scenario, ScenarioError, parse_scenario
from touchflow.engine.simulator import SimulationResult, load_scenario
from touchflow.engine.simulator import simulate as run_simulation

PAIRS = Path(__file__).parents[1] / "fixtures" / "sandbox"
NAMES = sorted(p.name.removesuffix(".scenario.yaml") for p in PAIRS.glob("*.scenario.yaml"))


def simulate(texts: list[str], scenario: Scenario) -> SimulationResult:
    return run_simulation(texts, scenario, open_store=open_sandbox)


def run(journey: str, data: dict[str, Any]) -> SimulationResult:
    return simulate([journey], parse_scenario(data))


def timeline(result: SimulationResult, persona: int = 0) -> list[tuple[Any, ...]]:
    return [(e["at"], e["kind"], e["node"], e.get("status") or e["event"] or e["edge"])
            for e in result.personas[persona].timeline]


def test_every_behaviour_has_its_pair() -> None:
    assert NAMES == ["caps_two_zones", "complaint_freeze", "fallback_hard_bounce", "fallback_rejected", "goal_exit",
                     "pause", "quiet_hours", "versioning"]


@pytest.mark.parametrize("name", NAMES)
def test_journey_and_scenario_pairs_pass(name: str) -> None:
    journey = (PAIRS / f"{name}.yaml").read_text(encoding="utf-8")
    result = simulate([journey], load_scenario((PAIRS / f"{name}.scenario.yaml").read_text(encoding="utf-8")))
    assert [f"{c.name}: {c.detail}" for c in result.checks if not c.passed] == []
    assert result.checks and result.passed
    for row in result.nodes:
        assert row["entered"] == sum(row["left"].values()) + row["waiting"]


SMS_THEN_TASK = """
key: sms_then_call
trigger: {event: signup}
nodes:
  text: {kind: send, channel: sms, template: hello_sms, next: call}
  call: {kind: task, queue: sales, title: 回电, sla: 2h, next: done}
  done: {kind: exit}
"""


def test_the_clock_stops_at_a_deferred_send_and_a_task_deadline() -> None:
    """Signup at 22:30 and nothing else happens: the SMS (default quiet hours) goes out at 08:00 and the
    task's SLA breach is recorded at 00:30 — not at some later, unrelated event or the end."""
    result = run(SMS_THEN_TASK, {"duration": "3d", "personas": [
        {"name": "night", "events": [{"at": "13h30m", "type": "signup"}]}]})
    assert timeline(result) == [
        ("13h30m", "event", None, "signup"),
        ("13h30m", "entry", "text", "entered"),
        ("13h30m", "message", "text", "deferred"),
        ("13h30m", "task", "call", "next"),
        ("13h30m", "exit", "done", "completed"),
        ("15h30m", "event", None, "task_sla_breached"),
        ("23h", "message", "text", "sent"),
    ]


def test_a_skip_shows_when_it_was_decided() -> None:
    """Deferred at 22:30, then a complaint at 23:00 freezes the contact: at 08:00 the send is skipped —
    the timeline shows the deferral at 22:30 and the skip at 08:00, each once."""
    result = run(SMS_THEN_TASK, {"duration": "2d", "personas": [
        {"name": "night", "events": [{"at": "13h30m", "type": "signup"},
                                     {"at": "14h", "type": "complaint", "properties": {"reason": "深夜打扰"}}]}]})
    messages = [(at, status) for at, kind, _, status in timeline(result) if kind == "message"]
    assert messages == [("13h30m", "deferred"), ("23h", "skipped")]
    assert not any(e["event"] == "message_deferred" for e in result.personas[0].timeline)


CLICK_WAIT = """
key: click_wait
trigger: {event: signup}
nodes:
  mail: {kind: send, channel: email, template: offer, next: wait_click}
  wait_click: {kind: wait_event, event: message_clicked, of_message: mail, timeout: 2d, on_event: clicked,
               on_timeout: done}
  clicked: {kind: update_contact, add_tags: [clicked_offer], next: done}
  done: {kind: exit}
"""


def test_a_reaction_is_about_the_real_message() -> None:
    """A ``message_clicked`` reaction names no message id: it carries the one it reacts to, so the wait
    for a click on that message (``of_message``) takes its on_event edge."""
    result = run(CLICK_WAIT, {"duration": "3d", "personas": [
        {"name": "clicker", "events": [{"at": "0d", "type": "signup"}],
         "behaviour": {"reactions": [{"template": "offer", "event": "message_clicked",
                                      "properties": {"url": "https://example.cn/offer"}, "after": "1h"}]}}],
        "expect": [{"persona": "clicker", "node": "clicked", "between": ["1h", "1h"]}]})
    assert result.passed, [c.detail for c in result.checks]
    assert ("1h", "wait_event", "wait_click", "on_event") in timeline(result)


def test_a_reaction_may_not_name_another_message() -> None:
    with pytest.raises(ScenarioError, match=r"personas\[0\]\.behaviour\.reactions\[0\]\.properties\.message_id: "
                                            r"set by the sandbox"):
        parse_scenario({"personas": [{"name": "a", "behaviour": {"reactions": [
            {"event": "message_clicked", "properties": {"message_id": "m-1"}}]}}]})


def test_a_day_is_the_contacts_calendar_day() -> None:
    """09:00 and 15:00 China time are two days in New York: two emails there are within one a day."""
    journey = (PAIRS / "caps_two_zones.yaml").read_text(encoding="utf-8")
    result = run(journey, {"duration": "1d", "personas": [
        {"name": "ny", "attributes": {"timezone": "America/New_York"}, "events": [{"at": "0d", "type": "signup"}]}],
        "expect": [{"name": "cap", "max_per_day": 1}]})
    assert [m for m in timeline(result) if m[1] == "message"] == [("0d", "message", "first", "sent"),
                                                                   ("6h", "message", "second", "sent")]
    assert result.checks[0].passed, result.checks[0].detail


SEGMENT_JOURNEY = """
key: vip_welcome
trigger: {segment: vip, "on": enter}
nodes:
  mail: {kind: send, channel: email, template: vip_welcome, next: done}
  done: {kind: exit}
"""


def test_scenario_segments_and_completing_a_task() -> None:
    result = simulate([SEGMENT_JOURNEY, SMS_THEN_TASK], parse_scenario({"duration": "1d", "segments": [
        {"key": "vip", "name": "VIP", "kind": "dynamic", "condition": {"attr": "custom.vip", "eq": True}}],
        "personas": [{"name": "vip", "attributes": {"vip": True}, "events": [{"at": "1h", "type": "signup"}]},
                     {"name": "plain", "events": [{"at": "1h", "type": "signup"}]}],
        "actions": [{"at": "2h", "complete_task": "vip"}],
        "expect": [{"persona": "vip", "template": "vip_welcome"},
                   {"persona": "plain", "no_message": True, "template": "vip_welcome"}]}))
    assert result.passed, [c.detail for c in result.checks]
    assert result.to_json()["actions"] == [{"at": "2h", "action": "complete_task", "target": "vip", "contact": None,
                                            "affected": 1}]
    events = {p.name: [e["event"] for e in p.timeline if e["kind"] == "event"] for p in result.personas}
    assert "task_completed" in events["vip"] and "task_sla_breached" not in events["vip"]
    assert "task_sla_breached" in events["plain"]


def test_an_action_on_a_journey_that_is_not_simulated_is_an_error_at_its_path() -> None:
    journey = (PAIRS / "pause.yaml").read_text(encoding="utf-8")
    base = {"personas": [{"name": "a"}]}
    with pytest.raises(ScenarioError, match=r"actions\[0\]\.pause: no journey 'paused_flwo'"):
        run(journey, {**base, "actions": [{"at": "1d", "pause": "paused_flwo"}]})
    with pytest.raises(ScenarioError, match=r"actions\[0\]\.publish\.key: .*'other' is not one"):
        run(journey, {**base, "actions": [{"at": "1d", "publish": {
            "key": "other", "trigger": {"event": "signup"}, "nodes": {"done": {"kind": "exit"}}}}]})
