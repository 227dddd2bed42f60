"""The trigger index narrows the journeys an event is tested against, never past one that matches."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import yaml

from touchflow.domain.conditions.predicates import EventFact
from touchflow.domain.journeys.model import JourneyDefinition
from touchflow.domain.journeys.parse import parse_journey
from touchflow.engine.read_ahead import trigger_matches
from touchflow.engine.trigger_index import TriggerIndex

NOW = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)


def journey(key: str, trigger: str) -> JourneyDefinition:
    return parse_journey(yaml.safe_load(f"""
key: {key}
name: {key}
trigger: {trigger}
nodes:
  done: {{kind: exit}}
"""))


JOURNEYS = {
    "any_order": journey("any_order", "{event: order_paid}"),  # no filter: always a candidate
    "campaign_a": journey("campaign_a", "{event: order_paid, properties: {campaign: a}}"),
    "campaign_ab": journey("campaign_ab", "{event: order_paid, properties: {campaign: [a, b]}}"),
    "vip": journey("vip", "{event: order_paid, properties: {vip: true}}"),
    "tier_5": journey("tier_5", "{event: order_paid, properties: {tier: 5}}"),
    "nan": journey("nan", "{event: order_paid, properties: {score: .nan}}"),
    "later": journey("later", "{kind: after_event, event: order_paid, delay: 1d, properties: {campaign: b}}"),
    "signup_a": journey("signup_a", "{event: signup, properties: {campaign: a}}"),
}


@pytest.fixture
def index() -> TriggerIndex:
    found = TriggerIndex()
    for journey_id, definition in JOURNEYS.items():
        assert definition.trigger.event is not None
        found.add(definition.trigger.event, journey_id, definition)
    return found


def matching(event_type: str, properties: dict[str, Any]) -> list[str]:
    fact = EventFact(event_type, NOW, properties, "e1")
    return [jid for jid, d in JOURNEYS.items() if d.trigger.event == event_type and trigger_matches(d, fact, NOW)]


@pytest.mark.parametrize("properties", [
    {"campaign": "a"}, {"campaign": "b"}, {"campaign": "c"}, {}, {"campaign": None}, {"campaign": ["a"]},
    {"campaign": {"a": 1}}, {"vip": True}, {"vip": 1}, {"tier": 5}, {"tier": 5.0}, {"tier": "5"}, {"tier": True},
    {"score": float("nan")}, {"campaign": "a", "vip": True, "tier": 5},
])
def test_candidates_hold_every_matching_journey_in_routing_order(index: TriggerIndex,
                                                                 properties: dict[str, Any]) -> None:
    candidates = index.candidates("order_paid", properties)
    expected = matching("order_paid", properties)
    assert [jid for jid in candidates if jid in expected] == expected
    order = list(JOURNEYS)
    assert candidates == sorted(candidates, key=order.index)


def test_an_event_is_tested_only_against_journeys_its_values_can_match(index: TriggerIndex) -> None:
    assert index.candidates("order_paid", {"campaign": "a"}) == ["any_order", "campaign_a", "campaign_ab", "nan"]
    assert index.candidates("order_paid", {"campaign": "zzz"}) == ["any_order", "nan"]  # NaN never equals: kept
    assert index.candidates("order_paid", {"vip": 1}) == ["any_order", "vip", "nan"]  # same key; the test decides
    assert index.candidates("signup", {"campaign": "b"}) == []
    assert index.candidates("page_view", {"campaign": "a"}) == []
