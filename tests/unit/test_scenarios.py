"""The sandbox scenario format: parsing, defaults, and errors that name the offending path."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml

from touchflow.domain.journeys.scenarios import (
    DEFAULT_START,
    MessageFilter,
    ScenarioError,
    ScriptedEvent,
    format_offset,
    parse_offset,
    parse_scenario,
)

EXAMPLES = Path(__file__).parents[2] / "examples" / "journeys"


def minimal(**extra: Any) -> dict[str, Any]:
    return {"personas": [{"name": "intent_A", "events": [
        {"at": "0d", "type": "content_download", "properties": {"content_id": "wp", "content_type": "whitepaper"}}]}],
        **extra}


def error_of(data: object) -> ScenarioError:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(data)
    return caught.value


def test_defaults() -> None:
    scenario = parse_scenario(minimal())
    assert scenario.seed == 1 and scenario.start == DEFAULT_START and scenario.duration == timedelta(days=30)
    assert scenario.start.isoformat() == "2026-03-02T09:00:00+08:00"
    persona = scenario.personas[0]
    assert persona.count == 1 and persona.behaviour.open == 0 and persona.behaviour.delay == timedelta(hours=2)
    assert persona.events[0].properties == {"content_id": "wp", "content_type": "whitepaper"}
    assert scenario.expectations == () and scenario.end == DEFAULT_START + timedelta(days=30)


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.scenario.yaml")), ids=lambda p: p.name)
def test_shipped_scenarios_parse(path: Path) -> None:
    scenario = parse_scenario(yaml.safe_load(path.read_text(encoding="utf-8")))
    assert scenario.personas and scenario.expectations
    assert all(e.name for e in scenario.expectations)


def test_full_scenario() -> None:
    scenario = parse_scenario({
        "name": "demo", "seed": 42, "start": "2026-04-01T10:00:00+08:00", "duration": "90d",
        "personas": [{
            "name": "buyer", "count": 50, "attributes": {"industry": "制造业", "vip": True, "since": date(2024, 5, 1)},
            "tags": ["b2b", "华东"],
            "events": [{"at": "-30d", "type": "page_view", "properties": {"url": "/"}},
                       {"at": "3d2h", "type": "order_paid", "properties": {"order_id": "o1", "amount": "99.5"}},
                       {"at": "1d", "type": "page_view", "properties": {"url": "/"}, "every": "7d", "until": "30d"}],
            "behaviour": {"open": 0.6, "click": 0.2, "reply": 0.1, "purchase": 0.05, "unsubscribe": 0.01,
                          "delay": "90m", "amount": 299,
                          "reactions": [{"template": "satisfaction_survey_30d", "event": "survey_response",
                                         "properties": {"survey_id": "s", "score": "9"}, "probability": 0.5,
                                         "after": "1d"}]}}],
        "expect": [
            {"name": "wecom on day 3", "persona": "buyer", "channel": "wecom", "between": ["3d", "3d1h"], "share": 0.5},
            {"persona": "buyer", "no_message": True, "template": "x"},
            {"name": "cap", "max_per_day": 3, "channel": "email"},
            {"persona": "buyer", "node": "engaged", "journey": "rule_a", "reached": False},
            {"persona": "buyer", "status": "converted", "share": 0.1},
        ]})
    assert scenario.start == datetime(2026, 4, 1, 2, 0, tzinfo=UTC)
    buyer = scenario.personas[0]
    assert buyer.attributes == {"industry": "制造业", "vip": True, "since": "2024-05-01"}
    assert buyer.tags == ("b2b", "华东")
    assert buyer.events[0].at == -timedelta(days=30)
    assert buyer.events[1].properties["amount"] == 99.5  # catalogue types are coerced
    assert buyer.events[2].offsets(scenario.duration) == [timedelta(days=d) for d in (1, 8, 15, 22, 29)]
    reaction = buyer.behaviour.reactions[0]
    assert reaction.to == MessageFilter(template="satisfaction_survey_30d") and reaction.properties["score"] == 9
    assert reaction.after == timedelta(days=1)
    kinds = [e.kind for e in scenario.expectations]
    assert kinds == ["message", "no_message", "max_per_day", "reached", "status"]
    message, nothing, cap, node, status = scenario.expectations
    assert message.between == (timedelta(days=3), timedelta(days=3, hours=1)) and message.share == 0.5
    assert nothing.name == "buyer gets no x" and nothing.messages.template == "x"
    assert cap.persona is None and cap.max_per_day == 3 and cap.messages.channel == "email"
    assert node.reached is False and node.node == "engaged" and node.messages.journey == "rule_a"
    assert node.name == "buyer never reaches engaged"
    assert status.status == "converted" and status.path == "expect[4]"


@pytest.mark.parametrize(("text", "expected"), [
    ("0d", timedelta(0)), (0, timedelta(0)), ("3d2h", timedelta(days=3, hours=2)), ("90m", timedelta(minutes=90)),
    ("1d1h1m1s", timedelta(days=1, hours=1, minutes=1, seconds=1)), ("-60d", -timedelta(days=60)),
])
def test_offsets(text: object, expected: timedelta) -> None:
    assert parse_offset(text, "x", negative=True) == expected
    assert parse_offset(format_offset(expected), "x", negative=True) == expected


def test_format_offset() -> None:
    assert format_offset(timedelta(0)) == "0d"
    assert format_offset(timedelta(days=3, hours=2)) == "3d2h"
    assert format_offset(-timedelta(days=60)) == "-60d"
    assert format_offset(timedelta(seconds=3605)) == "1h5s"


def test_scripted_event_without_repeat() -> None:
    assert ScriptedEvent(timedelta(days=2), "signup").offsets(timedelta(days=1)) == [timedelta(days=2)]


def test_start_forms() -> None:
    china = timezone(timedelta(hours=8))
    assert parse_scenario(minimal(start="2026-05-01T08:00")).start == datetime(2026, 5, 1, 8, tzinfo=china)
    assert parse_scenario(minimal(start=date(2026, 5, 1))).start == datetime(2026, 5, 1, tzinfo=china)
    assert parse_scenario(minimal(start=datetime(2026, 5, 1, tzinfo=UTC))).start.tzinfo == UTC


@pytest.mark.parametrize(("data", "path", "fragment"), [
    ([], "scenario", "mapping"),
    (minimal(personas=[]), "personas", "at least one"),
    (minimal(persona=[]), "persona", "unknown key"),
    (minimal(seed="x"), "seed", "whole number"),
    (minimal(duration="0d"), "duration", "above zero"),
    (minimal(duration="1 week"), "duration", "offset"),
    (minimal(start="next monday"), "start", "ISO"),
    ({"personas": [{"name": "a b"}]}, "personas[0].name", "letters"),
    ({"personas": [{}]}, "personas[0].name", "required"),
    ({"personas": [{"name": "a", "count": 0}]}, "personas[0].count", "whole number"),
    ({"personas": [{"name": "a", "colour": "red"}]}, "personas[0].colour", "unknown key"),
    ({"personas": [{"name": "a"}, {"name": "A"}]}, "personas[1].name", "ignoring case"),
    ({"personas": [{"name": "a", "attributes": {"x": [1]}}]}, "personas[0].attributes.x", "text, number"),
    ({"personas": [{"name": "a", "tags": ["a,b"]}]}, "personas[0].tags[0]", "commas"),
    ({"personas": [{"name": "a", "events": [{"type": "signup"}]}]}, "personas[0].events[0].at", "required"),
    ({"personas": [{"name": "a", "events": [{"at": "3 days", "type": "signup"}]}]}, "personas[0].events[0].at",
     "offset"),
    ({"personas": [{"name": "a", "events": [{"at": "1d", "type": "Sign Up"}]}]}, "personas[0].events[0].type",
     "snake_case"),
    ({"personas": [{"name": "a", "events": [{"at": "1d", "type": "content_download"}]}]},
     "personas[0].events[0].properties.content_id", "required"),
    ({"personas": [{"name": "a", "events": [{"at": "1d", "type": "signup", "until": "9d"}]}]},
     "personas[0].events[0].until", "only with every"),
    ({"personas": [{"name": "a", "events": [{"at": "1d", "type": "signup", "every": "0d"}]}]},
     "personas[0].events[0].every", "longer than zero"),
    ({"personas": [{"name": "a", "behaviour": {"open": 1.5}}]}, "personas[0].behaviour.open", "between 0 and 1"),
    ({"personas": [{"name": "a", "behaviour": {"open": 0.1, "click": 0.2}}]}, "personas[0].behaviour.click",
     "needs an open"),
    ({"personas": [{"name": "a", "behaviour": {"delay": "-1h"}}]}, "personas[0].behaviour.delay", "negative"),
    ({"personas": [{"name": "a", "behaviour": {"reactions": [{"template": "t"}]}}]},
     "personas[0].behaviour.reactions[0].event", "required"),
    ({"personas": [{"name": "a", "behaviour": {"reactions": [{"event": "survey_response"}]}}]},
     "personas[0].behaviour.reactions[0].properties.survey_id", "required"),
    ({"personas": [{"name": "a", True: 1}]}, "personas[0].true", "quote it"),
])
def test_errors_name_the_path(data: object, path: str, fragment: str) -> None:
    error = error_of(data)
    assert error.path == path, str(error)
    assert fragment in error.reason
    assert str(error).startswith(f"{path}: ")


@pytest.mark.parametrize(("check", "path", "fragment"), [
    ({"persona": "nobody", "channel": "email"}, "expect[0].persona", "no persona named 'nobody'"),
    ({"channel": "email"}, "expect[0].persona", "required"),
    ({"persona": "intent_A"}, "expect[0]", "say what to check"),
    ({"persona": "intent_A", "node": "x", "status": "converted"}, "expect[0]", "reached and status"),
    ({"persona": "intent_A", "channel": "email", "betwen": ["1d", "2d"]}, "expect[0].betwen", "unknown key"),
    ({"persona": "intent_A", "channel": "email", "between": ["2d"]}, "expect[0].between", "[from, to]"),
    ({"persona": "intent_A", "channel": "email", "between": ["2d", "1d"]}, "expect[0].between[1]", "before"),
    ({"persona": "intent_A", "channel": "email", "between": ["-1d", "1d"]}, "expect[0].between[0]", "negative"),
    ({"persona": "intent_A", "no_message": True, "share": 0.5}, "expect[0].share", "every contact"),
    ({"persona": "intent_A", "no_message": "yes"}, "expect[0].no_message", "expected true"),
    ({"persona": "intent_A", "node": "x", "reached": False, "share": 0.5}, "expect[0].share", "every contact"),
    ({"persona": "intent_A", "node": "x", "reached": "no"}, "expect[0].reached", "true or false"),
    ({"persona": "intent_A", "node": "x", "channel": "sms"}, "expect[0].channel", "reached check"),
    ({"persona": "intent_A", "status": "done"}, "expect[0].status", "expected one of"),
    ({"persona": "intent_A", "status": "converted", "between": ["0d", "1d"]}, "expect[0].between", "not used"),
    ({"max_per_day": -1}, "expect[0].max_per_day", "whole number"),
    ({"max_per_day": 3, "template": "x"}, "expect[0].template", "not used by a max_per_day"),
    ({"persona": "intent_A", "channel": "email", "share": 2}, "expect[0].share", "between 0 and 1"),
])
def test_expectation_errors(check: dict[str, Any], path: str, fragment: str) -> None:
    error = error_of(minimal(expect=[check]))
    assert error.path == path, str(error)
    assert fragment in error.reason


def test_default_check_names() -> None:
    scenario = parse_scenario(minimal(expect=[
        {"persona": "intent_A", "channel": "wecom", "between": ["3d", "3d1h"]},
        {"max_per_day": 3},
        {"persona": "intent_A", "node": "engaged"},
        {"persona": "intent_A", "status": "completed", "journey": "rule_a"},
        {"persona": "intent_A", "no_message": True},
    ]))
    assert [e.name for e in scenario.expectations] == [
        "intent_A gets wecom between 3d and 3d1h", "every persona: at most 3 message(s) a day",
        "intent_A reaches engaged", "intent_A ends completed in rule_a", "intent_A gets no message"]


def test_message_filter() -> None:
    f = MessageFilter(channel="email", journey="rule_a")
    assert f.matches("email", "t", "rule_a", "n")
    assert not f.matches("sms", "t", "rule_a", "n")
    assert not f.matches("email", "t", "rule_b", "n")
    assert MessageFilter().matches("sms", None, None, None)
    assert f.describe() == "rule_a/email" and MessageFilter().describe() == "any"


def test_the_contact_pass_is_opt_in_and_checked() -> None:
    import pytest

    from touchflow.domain.journeys.scenarios import ScenarioError, parse_scenario

    base = {"personas": [{"name": "a", "events": [{"at": "0d", "type": "signup"}]}]}
    assert parse_scenario(base).contact_pass is False
    assert parse_scenario({**base, "contact_pass": True}).contact_pass is True
    with pytest.raises(ScenarioError, match="contact_pass"):
        parse_scenario({**base, "contact_pass": "yes"})


# --- the world: guardrails, channels, segments, actions -----------------------------------------------------


def test_world_parses_guardrails_channels_segments_and_actions() -> None:
    scenario = parse_scenario(minimal(
        guardrails={"cap": {"per_day": 1}, "quiet_hours": {"start": "22:00", "end": "07:30", "channels": ["sms"]}},
        channels={"email": [{"persona": "intent_A", "fail": "permanent", "error": "550"},
                            {"contact": "intent_a-1", "fail": "transient", "times": 2}]},
        segments=[{"key": "vip", "name": "VIP", "kind": "dynamic", "condition": {"tag": "vip"}}],
        actions=[{"at": "2d", "resume": "welcome"}, {"at": "1d", "pause": "welcome"},
                 {"at": "3d", "complete_task": "intent_A", "queue": "sales"},
                 {"at": "3d", "unfreeze": "intent_A", "contact": "intent_a-1"},
                 {"at": "4d", "publish": {"key": "welcome", "trigger": {"event": "signup"},
                                          "nodes": {"done": {"kind": "exit"}}}}]))
    world = scenario.world
    assert world.guardrails is not None and world.guardrails["cap"] == {"per_day": 1, "per_channel": {},
                                                                         "over_cap": "skip"}
    assert [(r.channel, r.fail, r.persona, r.contact, r.times) for r in world.channels] == [
        ("email", "permanent", "intent_A", None, None), ("email", "transient", None, "intent_a-1", 2)]
    assert world.channels[1].selects("intent_A", "intent_a-1", "intent_a-1@sim.touchflow.test")
    assert not world.channels[1].selects("intent_A", "intent_a-2", "intent_a-2@sim.touchflow.test")
    assert [s["key"] for s in world.segments] == ["vip"]
    assert [(a.at.days, a.kind, a.target) for a in world.actions] == [
        (1, "pause", "welcome"), (2, "resume", "welcome"), (3, "complete_task", "intent_A"),
        (3, "unfreeze", "intent_A"), (4, "publish", "welcome")]


@pytest.mark.parametrize(("extra", "path", "reason"), [
    ({"guardrails": {"cap": {"per_day": -1}}}, "guardrails.cap.per_day", "whole number"),
    ({"guardrails": {"quiet": {}}}, "guardrails.quiet", "unknown key"),
    ({"guardrails": {"default_timezone": "Mars/Olympus"}}, "guardrails.default_timezone", "not a known time zone"),
    ({"channels": {"fax": []}}, "channels.fax", "unknown channel"),
    ({"channels": {"sms": [{"fail": "sometimes"}]}}, r"channels.sms\[0\].fail", "permanent or transient"),
    ({"channels": {"sms": [{"fail": "permanent", "persona": "nobody"}]}}, r"channels.sms\[0\].persona",
     "no persona named"),
    ({"channels": {"sms": [{"fail": "permanent", "times": 2}]}}, r"channels.sms\[0\].times", "only for a transient"),
    ({"channels": {"sms": [{"fail": "transient", "contact": "someone-1"}]}}, r"channels.sms\[0\].contact",
     "persona contact"),
    ({"segments": [{"key": "vip", "name": "VIP", "kind": "dynamic", "condition": {"attr": "nope", "eq": 1}}]},
     r"segments\[0\].condition.attr", "unknown field"),
    ({"actions": [{"at": "1d"}]}, r"actions\[0\]", "one action per entry"),
    ({"actions": [{"pause": "welcome"}]}, r"actions\[0\].at", "required"),
    ({"actions": [{"at": "40d", "pause": "welcome"}]}, r"actions\[0\].at", "after the end"),
    ({"actions": [{"at": "1d", "pause": "welcome", "resume": "welcome"}]}, r"actions\[0\]", "found pause and resume"),
    ({"actions": [{"at": "1d", "complete_task": "ghost"}]}, r"actions\[0\].complete_task", "persona name"),
    ({"actions": [{"at": "1d", "pause": "welcome", "queue": "sales"}]}, r"actions\[0\].queue", "not used by pause"),
    ({"actions": [{"at": "1d", "publish": {"key": "w", "trigger": {"event": "signup"}, "nodes": {}}}]},
     r"actions\[0\].publish.nodes", "at least one node"),
])
def test_world_errors_name_the_path(extra: dict[str, Any], path: str, reason: str) -> None:
    with pytest.raises(ScenarioError, match=rf"^{path}: .*{reason}"):
        parse_scenario(minimal(**extra))


def test_reactions_name_no_message_but_are_validated_as_sent() -> None:
    behaviour = {"reactions": [{"event": "message_bounced", "properties": {"hard": True}}]}
    reaction = parse_scenario({"personas": [{"name": "a", "behaviour": behaviour}]}).personas[0].behaviour.reactions[0]
    assert dict(reaction.properties) == {"hard": True}  # message_id, channel … come from the message
    with pytest.raises(ScenarioError, match=r"reactions\[0\]\.properties\.hard: must be a boolean"):
        parse_scenario({"personas": [{"name": "a", "behaviour": {"reactions": [
            {"event": "message_bounced", "properties": {"hard": "very"}}]}}]})
    with pytest.raises(ScenarioError, match=r"reactions\[0\]\.properties\.node_id: set by the sandbox"):
        parse_scenario({"personas": [{"name": "a", "behaviour": {"reactions": [
            {"event": "message_opened", "properties": {"node_id": "elsewhere"}}]}}]})
