"""What a dry-run contact does, in the sandbox's terms; and a persona's consent and segment memberships."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from touchflow.domain.errors import FieldError
from touchflow.domain.journeys.dry_reactions import MAX_REACTIONS, DryReaction, parse_reactions, scenario_parts
from touchflow.domain.journeys.parse import parse_journey
from touchflow.domain.journeys.scenarios import ScenarioError, parse_scenario
from touchflow.domain.safe_yaml import load_yaml

RULE_A = parse_journey(load_yaml((Path(__file__).parents[2] / "examples" / "journeys" / "rule_a_whitepaper.yaml")
                                 .read_text(encoding="utf-8")))
FREE = parse_journey({"key": "free", "name": "Free", "trigger": {"event": "content_download"}, "nodes": {
    "wait": {"kind": "wait_event", "events": ["webinar_joined"], "properties": {"room": "a"},
             "timeout": "1d", "on_event": "done", "on_timeout": "done"},
    "done": {"kind": "exit"}}})


def test_a_message_reaction_is_about_that_message() -> None:
    chosen = parse_reactions([{"node": "send_digest", "does": "open", "at": "2h"}], RULE_A)
    assert chosen == (DryReaction("send_digest", "open", timedelta(hours=2)),)
    assert scenario_parts(chosen, RULE_A) == ([{"event": "message_opened", "journey": "rule_a_whitepaper",
                                                "node": "send_digest", "after": "2h"}], [])


def test_a_click_on_a_wait_reacts_to_the_wait_s_message_with_an_open_too() -> None:
    chosen = parse_reactions([{"node": "wait_engagement", "does": "click", "at": "1d"}], RULE_A)
    behaviour, scripted = scenario_parts(chosen, RULE_A)
    assert [(r["event"], r["node"], r["after"]) for r in behaviour] == [
        ("message_opened", "send_digest", "1d"), ("message_clicked", "send_digest", "1d")]
    assert scripted == []


def test_a_wait_without_a_message_gets_the_event_at_its_time_with_its_filter() -> None:
    chosen = parse_reactions([{"node": "wait", "does": "event", "event": "webinar_joined", "at": "3h"}], FREE)
    assert scenario_parts(chosen, FREE) == ([], [{"at": "3h", "type": "webinar_joined",
                                                  "properties": {"room": "a"}}])


@pytest.mark.parametrize(("data", "field"), [
    ("open", "reactions"),
    ([{"node": "send_digest", "does": "open"}] * (MAX_REACTIONS + 1), "reactions"),
    (["x"], "reactions[0]"),
    ([{"node": "done", "does": "open"}], "reactions[0].node"),
    ([{"node": "send_digest", "does": "open", "at": "-1h"}], "reactions[0].at"),
    ([{"node": "send_digest", "does": "open", "at": "400d"}], "reactions[0].at"),
    ([{"node": "send_digest", "does": "open", "event": "x"}], "reactions[0].event"),
    ([{"node": "send_digest", "does": "event", "event": "Not Snake"}], "reactions[0].event"),
    ([{"node": "wait", "does": "open"}], "reactions[0].does"),
])
def test_errors_name_the_field(data: Any, field: str) -> None:
    journey = FREE if "wait" in str(data) and "engagement" not in str(data) else RULE_A
    with pytest.raises(FieldError) as caught:
        parse_reactions(data, journey)
    assert caught.value.field == field


def test_personas_carry_consent_and_segments() -> None:
    scenario = parse_scenario({"personas": [{"name": "p", "consent": {"sms": "denied", "email": "granted"},
                                             "segments": ["vip", "vip", "b2b"]}]})
    assert scenario.personas[0].consent == {"sms": "denied", "email": "granted"}
    assert scenario.personas[0].segments == ("vip", "b2b")
    for persona, path in (({"consent": {"sms": "maybe"}}, "personas[0].consent.sms"),
                          ({"consent": {"SMS!": "granted"}}, "personas[0].consent.SMS!"),
                          ({"segments": ["VIP"]}, "personas[0].segments[0]"),
                          ({"segments": "vip"}, "personas[0].segments")):
        with pytest.raises(ScenarioError) as caught:
            parse_scenario({"personas": [{"name": "p", **persona}]})
        assert caught.value.path == path
