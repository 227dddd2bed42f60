"""The published JSON Schema: true to the parser, and kept in docs/journey.schema.json."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from touchflow.domain.conditions.parse import parse_duration
from touchflow.domain.conditions.predicates import ConditionError
from touchflow.domain.journeys.parse import DefinitionError, parse_journey
from touchflow.domain.journeys.schema import (
    DURATION_PATTERN,
    TIME_PATTERN,
    SchemaProblem,
    journey_json_schema,
    schema_json,
    validate_against_schema,
)

ROOT = Path(__file__).parents[2]
EXAMPLES = sorted(p for p in (ROOT / "examples" / "journeys").glob("*.yaml") if not p.name.endswith(".scenario.yaml"))


def rule_a() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "examples" / "journeys" / "rule_a_whitepaper.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_the_published_file_is_the_function_output() -> None:
    published = (ROOT / "docs" / "journey.schema.json").read_text(encoding="utf-8")
    assert published == schema_json(), (
        "docs/journey.schema.json is stale: python -m touchflow.domain.journeys.schema > docs/journey.schema.json")


def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    schema = journey_json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)
    assert json.loads(schema_json()) == schema


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_every_example_conforms(path: Path) -> None:
    assert validate_against_schema(yaml.safe_load(path.read_text(encoding="utf-8"))) == []


def _set(*keys: str | int, value: object) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        target: Any = data
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value
    return mutate


def _drop(*keys: str) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        target: Any = data
        for key in keys[:-1]:
            target = target[key]
        del target[keys[-1]]
    return mutate


def _node(node_id: str, body: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        data["nodes"][node_id] = body
    return mutate


# (mutation of rule A, the path both the parser and the schema must name)
BAD: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("bad key", _set("key", value="Rule A"), "journey.key"),
    ("no key", _drop("key"), "journey.key"),
    ("empty name", _set("name", value="  "), "journey.name"),
    ("no trigger form", _set("trigger", value={"properties": {"a": 1}}), "trigger"),
    ("after_event without delay", _set("trigger", value={"after_event": "order_paid"}), "trigger.delay"),
    ("schedule without every", _set("trigger", value={"schedule": {"at": "09:00"}}), "trigger.schedule.every"),
    ("segment on", _set("trigger", value={"segment": "vip", "on": "leave"}), "trigger.on"),
    ("inactivity duration", _set("trigger", value={"inactive_for": "90 days"}), "trigger.inactive_for"),
    ("unknown channel", _set("nodes", "send_digest", "channel", value="fax"), "nodes.send_digest.channel"),
    ("unknown fallback", _set("nodes", "send_digest", "fallback", value=["sms", "fax"]),
     "nodes.send_digest.fallback[1]"),
    ("no template", _drop("nodes", "send_digest", "template"), "nodes.send_digest.template"),
    ("retry attempts", _set("nodes", "send_digest", "retry", "attempts", value=0), "nodes.send_digest.retry.attempts"),
    ("bad timeout", _set("nodes", "wait_engagement", "timeout", value="three days"), "nodes.wait_engagement.timeout"),
    ("zero timeout", _set("nodes", "wait_engagement", "timeout", value="0d"), "nodes.wait_engagement.timeout"),
    ("target type", _set("nodes", "wait_engagement", "on_event", value=3), "nodes.wait_engagement.on_event"),
    ("wait_event without events", _drop("nodes", "wait_engagement", "events"), "nodes.wait_engagement.events"),
    ("unknown kind", _set("nodes", "cs_task", "kind", value="call"), "nodes.cs_task.kind"),
    ("no kind", _drop("nodes", "engaged", "kind"), "nodes.engaged.kind"),
    ("task queue", _set("nodes", "cs_task", "queue", value="ops"), "nodes.cs_task.queue"),
    ("task sla", _set("nodes", "cs_task", "sla", value=2), "nodes.cs_task.sla"),
    ("score", _set("nodes", "engaged", "score", value="ten"), "nodes.engaged.score"),
    ("exit outcome", _set("nodes", "done", "outcome", value="won"), "nodes.done.outcome"),
    ("webhook url", _node("hook", {"kind": "webhook", "url": "ftp://x"}), "nodes.hook.url"),
    ("wait both", _node("w", {"kind": "wait", "duration": "1d", "until": "09:00"}), "nodes.w"),
    ("wait neither", _node("w", {"kind": "wait"}), "nodes.w"),
    ("wait until", _node("w", {"kind": "wait", "until": "25:00"}), "nodes.w.until"),
    ("weekdays", _node("w", {"kind": "wait", "duration": "1d", "weekdays": [7]}), "nodes.w.weekdays"),
    ("branch without cases", _node("b", {"kind": "branch", "else": "done"}), "nodes.b.cases"),
    ("case without if", _node("b", {"kind": "branch", "cases": [{"next": "done"}]}), "nodes.b.cases[0].if"),
    ("split percent", _node("s", {"kind": "split", "paths": [{"percent": 0}, {"percent": 100}]}),
     "nodes.s.paths[0].percent"),
    ("split one path", _node("s", {"kind": "split", "paths": [{"percent": 100}]}), "nodes.s.paths"),
    ("node id end", _node("end", {"kind": "exit"}), "nodes.end"),
    ("node id", _node("9lives", {"kind": "exit"}), "nodes.9lives"),
    ("max entries", _set("entry", "max_entries", value=0), "entry.max_entries"),
    ("cooldown", _set("entry", "cooldown", value="soon"), "entry.cooldown"),
    ("goal without event", _set("goal", value={"properties": {"a": 1}}), "goal.event"),
    ("exit_when item", _set("exit_when", value=["unsubscribed", "bored"]), "exit_when[1]"),
    ("exit_when not a list", _set("exit_when", value="unsubscribed"), "exit_when"),
    ("no nodes", _set("nodes", value={}), "nodes"),
]


@pytest.mark.parametrize(("mutate", "path"), [(m, p) for _, m, p in BAD], ids=[name for name, _, _ in BAD])
def test_schema_and_parser_reject_the_same_mistake_at_the_same_path(
        mutate: Callable[[dict[str, Any]], None], path: str) -> None:
    data = rule_a()
    mutate(data)
    with pytest.raises(DefinitionError) as info:
        parse_journey(data)
    assert info.value.path == path
    problems = validate_against_schema(data)
    assert problems, "the schema accepted what the parser rejects"
    assert any(p.path == path or p.path.startswith((f"{path}.", f"{path}[")) for p in problems), problems


def test_messages_are_readable() -> None:
    data = rule_a()
    data["nodes"]["wait_engagement"]["timeout"] = "3 days"
    data["nodes"]["cs_task"]["kind"] = "call"
    data["trigger"] = {}
    problems = {p.path: p.message for p in validate_against_schema(data)}
    assert problems["nodes.wait_engagement.timeout"].startswith("expected a duration such as 90d")
    assert "'3 days'" in problems["nodes.wait_engagement.timeout"]
    assert problems["nodes.cs_task.kind"].startswith("kind must be one of send,")
    assert problems["trigger"].startswith("needs one of: event, after_event")


def test_stricter_than_the_parser_only_where_it_catches_mistakes() -> None:
    data = rule_a()
    data["nodes"]["wait_engagement"]["timout"] = "3d"  # a typo the parser silently ignores
    data["trigger"]["delay"] = "1h"  # not part of an event trigger
    parse_journey(data)
    assert validate_against_schema(data) == [
        SchemaProblem("nodes.wait_engagement.timout", "unknown key (a typo?)"),
        SchemaProblem("trigger.delay", "unknown key (a typo?)"),
    ]
    tooling = rule_a()
    tooling["x-builder"] = {"zoom": 1.5}
    tooling["nodes"]["send_digest"]["x-position"] = [120, 40]
    parse_journey(tooling)
    assert validate_against_schema(tooling) == []


def test_every_trigger_form_and_node_kind_is_accepted() -> None:
    triggers: list[dict[str, Any]] = [
        {"event": "content_download", "properties": {"content_type": ["whitepaper", "case_study"]}},
        {"after_event": "order_paid", "delay": "30d", "audience": {"tag": "vip"}},
        {"after_attribute": "custom.subscription_start", "delay": "30d"},
        {"inactive_for": "90d"},
        {"schedule": {"every": "7d", "at": "09:30"}, "audience": {"stage": "customer"}},
        {"manual": True},
        {"segment": "vip", "on": "exit"},
    ]
    nodes: dict[str, Any] = {
        "a": {"kind": "update_contact", "set": {"custom.plan": "pro"}, "add_tags": "x", "remove_tags": ["y"],
              "stage": "intent", "score": -5, "next": "b"},
        "b": {"kind": "split", "salt": "exp1", "paths": [{"percent": 50, "next": "c"}, {"percent": 50, "next": "d"}]},
        "c": {"kind": "webhook", "url": "https://crm.example.cn/hook", "payload": {"a": 1},
              "retry": {"attempts": 2, "backoff": "1m"}, "next": "d", "on_error": "end"},
        "d": {"kind": "enrol", "journey": "welcome", "next": "e"},
        "e": {"kind": "wait", "until": "09:00", "weekdays": [0, 1, 2, 3, 4], "next": "f"},
        "f": {"kind": "wait_event", "event": "order_paid", "next": None, "on_event": "g"},
        "g": {"kind": "branch", "cases": [{"if": {"attr": "industry", "eq": "制造业"}, "next": "h"}], "else": None},
        "h": {"kind": "send", "channel": "wechat", "template": "t", "fallback": "sms", "next": "i"},
        "i": {"kind": "task", "queue": "sales", "title": "跟进", "sla": "1d2h", "assignee": "li.lei", "next": "end"},
        "z": {"kind": "exit", "outcome": "exited"},
    }
    nodes["f"].pop("next")
    for trigger in triggers:
        data = {"key": "all-forms", "trigger": trigger, "nodes": nodes, "start": "a",
                "exit_when": ["unsubscribed", {"event": "complaint"}, {"tag": "blocked"}]}
        parse_journey(data)
        assert validate_against_schema(data) == [], trigger


_DURATION_TEXT = st.text(alphabet="0123456789dhms ", max_size=10)


@given(_DURATION_TEXT)
def test_the_duration_pattern_accepts_exactly_what_the_parser_accepts(text: str) -> None:
    try:
        parse_duration(text, "d")
        parsed = True
    except ConditionError:
        parsed = False
    assert bool(re.search(DURATION_PATTERN, text)) == parsed


@given(st.text(alphabet="0123456789: ", max_size=7))
def test_the_time_pattern_accepts_exactly_what_the_parser_accepts(text: str) -> None:
    data = {"key": "t", "trigger": {"manual": True}, "nodes": {"w": {"kind": "wait", "until": text}}}
    try:
        parse_journey(data)
        parsed = True
    except DefinitionError:
        parsed = False
    assert bool(re.search(TIME_PATTERN, text)) == parsed


def test_a_yaml_key_that_is_not_text_is_reported() -> None:
    data = yaml.safe_load("key: s\ntrigger: {segment: vip, on: exit}\nnodes: {a: {kind: exit}}\n")
    assert data["trigger"] == {"segment": "vip", True: "exit"}  # YAML 1.1: unquoted on is true
    problems = validate_against_schema(data)
    assert [p.path for p in problems] == ["trigger.true"]
    assert "quote it" in problems[0].message
    quoted = yaml.safe_load("key: s\ntrigger: {segment: vip, 'on': exit}\nnodes: {a: {kind: exit}}\n")
    assert validate_against_schema(quoted) == []


def test_send_purpose_is_parsed_and_checked() -> None:
    import pytest

    from touchflow.domain.journeys.model import Send
    from touchflow.domain.journeys.parse import DefinitionError, parse_journey

    base = {"key": "order_mail", "name": "order", "trigger": {"kind": "event", "event": "order_paid"},
            "nodes": {"send": {"kind": "send", "channel": "email", "template": "receipt", "next": "done",
                               "purpose": "transactional"}, "done": {"kind": "exit"}}}
    send = parse_journey(base).nodes["send"]
    assert isinstance(send, Send) and send.purpose == "transactional"
    base["nodes"]["send"]["purpose"] = "urgent"  # type: ignore[index]
    with pytest.raises(DefinitionError, match="purpose"):
        parse_journey(base)


def test_a_node_checked_before_is_judged_again_when_it_changes_or_moves_to_another_id() -> None:
    doc: dict[str, Any] = {"key": "k", "trigger": {"manual": True},
                           "nodes": {"a": {"kind": "wait", "duration": "xx", "next": "b"}, "b": {"kind": "exit"}}}
    assert [p.path for p in validate_against_schema(doc)] == ["nodes.a.duration"]
    doc["nodes"]["a"]["duration"] = "1d"
    assert validate_against_schema(doc) == []
    doc["nodes"]["c"] = {"kind": "wait", "duration": "xx", "next": "b"}
    doc["nodes"]["a"]["duration"] = "xx"
    assert [p.path for p in validate_against_schema(doc)] == ["nodes.a.duration", "nodes.c.duration"]
    doc["nodes"]["end"] = {"kind": "bogus"}
    assert [p.path for p in validate_against_schema(doc)] == ["nodes.a.duration", "nodes.c.duration", "nodes.end",
                                                              "nodes.end.kind"]
