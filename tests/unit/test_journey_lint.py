"""Journey lint (J10): each finding from a small handmade definition, and none on a clean one."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from touchflow.domain.journeys.lint import LINT_CODES, Finding, has_errors, lint_journey
from touchflow.domain.journeys.model import JourneyDefinition, Send, Split
from touchflow.domain.journeys.parse import parse_journey

DOCS = Path(__file__).parents[2] / "docs" / "subsystems" / "journeys.md"
SEND = {"kind": "send", "channel": "email", "template": "hello"}


def journey(nodes: dict[str, Any], **top: Any) -> JourneyDefinition:
    return parse_journey({"key": "j", "trigger": {"manual": True}, "nodes": nodes, **top})


def codes(findings: list[Finding]) -> list[tuple[str, str, str]]:
    return [(f.code, f.severity, f.path) for f in findings]


def clean() -> JourneyDefinition:
    return journey({
        "send": {**SEND, "next": "wait"},
        "wait": {"kind": "wait_event", "events": ["message_opened"], "of_message": "send", "timeout": "3d",
                 "on_event": "check", "on_timeout": "done"},
        "check": {"kind": "branch", "cases": [{"if": {"clicked": "send"}, "next": "tag"}], "else": "done"},
        "tag": {"kind": "update_contact", "add_tags": ["engaged"], "next": "done"},
        "done": {"kind": "exit"},
    }, goal={"event": "order_paid"})


def test_a_clean_journey_has_no_findings() -> None:
    assert lint_journey(clean(), known_templates={"hello"}, known_journeys={"j"}) == []


def test_unreachable_node() -> None:
    result = lint_journey(journey({"a": {**SEND, "next": "end"}, "orphan": {**SEND, "next": "end"}}))
    assert codes(result) == [("unreachable-node", "warning", "nodes.orphan")]
    assert "'a'" in result[0].message


def test_dead_end_is_an_error_unless_a_goal_or_exit_rule_can_end_the_run() -> None:
    nodes = {
        "a": {**SEND, "next": "w"},
        "w": {"kind": "wait", "duration": "7d", "next": "a"},  # a weekly reminder, forever
    }
    assert codes(lint_journey(journey(nodes))) == [
        ("dead-end", "error", "nodes.a"), ("dead-end", "error", "nodes.w")]
    with_goal = lint_journey(journey(nodes, goal={"event": "order_paid"}))
    assert codes(with_goal) == [("dead-end", "warning", "nodes.a"), ("dead-end", "warning", "nodes.w")]
    assert "unless the goal or an exit rule" in with_goal[0].message
    assert {f.severity for f in lint_journey(journey(nodes, exit_when=["unsubscribed"]))} == {"warning"}


def test_a_node_that_can_still_reach_the_end_is_no_dead_end() -> None:
    result = lint_journey(journey({
        "a": {**SEND, "next": "w"},
        "w": {"kind": "wait_event", "events": ["order_paid"], "timeout": "7d", "on_event": "end", "on_timeout": "a"},
    }))
    assert result == []


def test_loop_without_wait_is_an_error_and_reported_once() -> None:
    result = lint_journey(journey({
        "a": {**SEND, "next": "b"},
        "b": {"kind": "branch", "cases": [{"if": {"tag": "x"}, "next": "end"}], "else": "c"},
        "c": {"kind": "update_contact", "score": 1, "next": "a"},
    }))
    assert codes(result) == [("loop-without-wait", "error", "nodes.a")]
    assert "a, b, c" in result[0].message


def test_a_self_loop_is_a_loop_and_a_loop_through_a_wait_is_not() -> None:
    spin = {"kind": "split", "paths": [{"percent": 50, "next": "spin"}, {"percent": 50, "next": "end"}]}
    assert codes(lint_journey(journey({"spin": spin}))) == [("loop-without-wait", "error", "nodes.spin")]
    assert lint_journey(journey({
        "a": {**SEND, "next": "w"},
        "w": {"kind": "wait", "duration": "1d", "next": "b"},
        "b": {"kind": "branch", "cases": [{"if": {"tag": "x"}, "next": "end"}], "else": "a"},
    })) == []


def test_wait_event_without_timeout_and_an_ignored_on_timeout() -> None:
    result = lint_journey(journey({
        "w": {"kind": "wait_event", "events": ["order_paid"], "on_event": "end", "on_timeout": "x"},
        "x": {"kind": "exit"},
    }))
    assert codes(result) == [
        ("wait-without-timeout", "warning", "nodes.w"),
        ("timeout-edge-ignored", "warning", "nodes.w.on_timeout"),
        ("unreachable-node", "warning", "nodes.x"),
    ]
    assert "forever" in result[0].message


def test_branch_without_else() -> None:
    result = lint_journey(journey({"b": {"kind": "branch", "cases": [{"if": {"tag": "x"}, "next": "end"}]}}))
    assert codes(result) == [("branch-without-else", "warning", "nodes.b")]


def test_split_percentages_on_a_hand_built_definition() -> None:
    good = journey({"s": {"kind": "split", "paths": [{"percent": 50}, {"percent": 50}]}})
    split = good.nodes["s"]
    assert isinstance(split, Split)
    bad = replace(good, nodes={"s": replace(split, paths=((50.0, None), (40.0, None)))})
    assert codes(lint_journey(bad)) == [("split-percentages", "error", "nodes.s.paths")]
    assert "90" in lint_journey(bad)[0].message


def test_unknown_targets_on_a_hand_built_definition() -> None:
    good = journey({"a": {**SEND, "next": "end"}})
    send = good.nodes["a"]
    assert isinstance(send, Send)
    bad = replace(good, nodes={"a": replace(send, next="gone")}, start="nowhere")
    assert codes(lint_journey(bad)) == [("unknown-target", "error", "journey.start"),
                                        ("unknown-target", "error", "nodes.a.next")]


def test_missing_template_only_when_the_library_is_given() -> None:
    definition = journey({"a": {**SEND, "next": "end"}})
    assert lint_journey(definition) == []
    assert lint_journey(definition, known_templates={"hello"}) == []
    assert codes(lint_journey(definition, known_templates={"other"})) == [
        ("missing-template", "error", "nodes.a.template")]


def test_enrol_into_an_unknown_journey_or_itself() -> None:
    definition = journey({"e": {"kind": "enrol", "journey": "welcome", "next": "end"}})
    assert lint_journey(definition) == []
    assert lint_journey(definition, known_journeys={"welcome"}) == []
    assert codes(lint_journey(definition, known_journeys={"dormant"})) == [
        ("unknown-journey", "error", "nodes.e.journey")]
    itself = journey({"e": {"kind": "enrol", "journey": "j", "next": "end"}})
    assert codes(lint_journey(itself, known_journeys={"j"})) == [("self-enrol", "warning", "nodes.e.journey")]


def test_a_send_on_the_webhook_channel() -> None:
    assert codes(lint_journey(journey({"a": {**SEND, "channel": "webhook", "next": "end"}}))) == [
        ("send-via-webhook", "error", "nodes.a.channel")]
    assert codes(lint_journey(journey({"a": {**SEND, "fallback": ["webhook"], "next": "end"}}))) == [
        ("send-via-webhook", "error", "nodes.a.fallback")]


def test_a_fallback_that_repeats_a_channel() -> None:
    assert codes(lint_journey(journey({"a": {**SEND, "fallback": ["sms", "email"], "next": "end"}}))) == [
        ("fallback-repeats-channel", "warning", "nodes.a.fallback")]
    assert codes(lint_journey(journey({"a": {**SEND, "fallback": ["sms", "sms"], "next": "end"}}))) == [
        ("fallback-repeats-channel", "warning", "nodes.a.fallback")]


def test_a_fallback_window_needs_a_fallback() -> None:
    assert codes(lint_journey(journey({"a": {**SEND, "fallback_window": "2h", "next": "end"}}))) == [
        ("fallback-window-without-fallback", "warning", "nodes.a.fallback_window")]
    assert lint_journey(journey({"a": {**SEND, "fallback": ["sms"], "fallback_window": "2h", "next": "end"}})) == []


def test_a_segment_trigger_must_name_a_known_segment() -> None:
    definition = parse_journey({"key": "j", "trigger": {"segment": "vip"}, "nodes": {"a": {**SEND}}})
    assert lint_journey(definition) == []
    assert lint_journey(definition, known_segments={"vip"}) == []
    result = lint_journey(definition, known_segments={"loyal"})
    assert codes(result) == [("unknown-segment", "error", "trigger.segment")]
    assert "'vip'" in result[0].message


def test_of_message_must_name_a_send_that_runs_before_the_wait() -> None:
    result = lint_journey(journey({
        "w": {"kind": "wait_event", "events": ["message_opened"], "of_message": "later", "timeout": "1d",
              "on_event": "later", "on_timeout": "later"},
        "later": {**SEND, "next": "end"},
    }))
    assert codes(result) == [("message-not-before", "warning", "nodes.w.of_message")]


def test_of_message_on_events_that_carry_no_message() -> None:
    result = lint_journey(journey({
        "a": {**SEND, "next": "w"},
        "w": {"kind": "wait_event", "events": ["message_clicked", "order_paid"], "of_message": "a", "timeout": "1d",
              "on_event": "end", "on_timeout": "end"},
    }))
    assert codes(result) == [("of-message-event", "warning", "nodes.w.events")]
    assert "order_paid" in result[0].message


def test_engagement_conditions_name_an_earlier_send_node() -> None:
    result = lint_journey(journey({
        "b": {"kind": "branch", "cases": [{"if": {"opened": "a"}, "next": "end"},
                                           {"if": {"any": [{"tag": "x"}, {"clicked": "nobody"}]}, "next": "end"}],
              "else": "a"},
        "a": {**SEND, "next": "end"},
    }, exit_when=[{"opened": "ghost"}]))
    assert codes(result) == [
        ("not-a-message", "error", "exit_when"),
        ("not-a-message", "error", "nodes.b.cases[1].if"),
        ("message-not-before", "warning", "nodes.b.cases[0].if"),
    ]


def test_engagement_in_the_audience_has_no_run_to_read() -> None:
    definition = parse_journey({"key": "j", "trigger": {"manual": True, "audience": {"opened": "a"}},
                                "nodes": {"a": {**SEND}}})
    assert codes(lint_journey(definition)) == [("engagement-outside-run", "error", "trigger.audience")]


def test_a_goal_that_is_the_trigger_event() -> None:
    definition = parse_journey({"key": "j", "trigger": {"event": "order_paid"}, "goal": {"event": "order_paid"},
                                "nodes": {"a": {**SEND}}})
    assert codes(lint_journey(definition)) == [("goal-is-trigger", "warning", "goal.event")]


def test_errors_come_first_and_has_errors() -> None:
    result = lint_journey(journey({
        "a": {**SEND, "channel": "webhook", "next": "end"},
        "b": {"kind": "branch", "cases": [{"if": {"tag": "x"}, "next": "end"}]},
    }))
    assert [f.severity for f in result] == ["error", "warning", "warning"]
    assert has_errors(result) and not has_errors(result[1:])


def test_lint_does_not_mutate_or_depend_on_call_order() -> None:
    definition = clean()
    assert lint_journey(definition) == lint_journey(definition)


@pytest.mark.parametrize("code", sorted(LINT_CODES))
def test_every_code_is_documented(code: str) -> None:
    assert f"`{code}`" in DOCS.read_text(encoding="utf-8")
