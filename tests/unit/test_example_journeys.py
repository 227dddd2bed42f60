"""The example journeys (J3–J6): each parses, lints clean, conforms to the schema, and walks its
main paths as the spec describes — read as timelines in virtual time."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from touchflow.domain.conditions.predicates import ContactFacts, EvalContext, EventFact, evaluate
from touchflow.domain.journeys.lint import has_errors, lint_journey
from touchflow.domain.journeys.model import JourneyDefinition
from touchflow.domain.journeys.parse import parse_journey
from touchflow.domain.journeys.schema import validate_against_schema
from touchflow.domain.journeys.transitions import (
    Advance,
    CreateTask,
    Effect,
    Entered,
    EventArrived,
    Run,
    SendMessage,
    TimerDue,
    UpdateContactEffect,
    advance,
)

ROOT = Path(__file__).parents[2]
EXAMPLES = ROOT / "examples" / "journeys"
DOCS = ROOT / "docs" / "subsystems" / "journeys.md"
T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def load(name: str) -> JourneyDefinition:
    return parse_journey(yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text(encoding="utf-8")))


def facts(*events: EventFact) -> ContactFacts:
    return ContactFacts(contact_id="c1", values={}, tags=frozenset(), events=tuple(events))


def enter(journey: JourneyDefinition, *events: EventFact) -> Advance:
    return advance(journey, Run("r1", "j1", 1, "c1", journey.start, "active", T0), facts(*events), Entered(), T0)


def summary(effects: list[Effect]) -> list[tuple[str, str]]:
    """(effect, what): the channel:template of a message, the queue of a task, the tags/stage of an update."""
    out: list[tuple[str, str]] = []
    for effect in effects:
        if isinstance(effect, SendMessage):
            out.append(("send", f"{effect.channel}:{effect.template}"))
        elif isinstance(effect, CreateTask):
            out.append(("task", effect.queue))
        elif isinstance(effect, UpdateContactEffect):
            out.append(("update", ",".join([*effect.add_tags, *([effect.stage] if effect.stage else [])])))
        else:
            out.append((type(effect).__name__, ""))
    return out


# --- every example ------------------------------------------------------------------------------

NAMES = sorted(p.stem for p in EXAMPLES.glob("*.yaml") if not p.name.endswith(".scenario.yaml"))


def test_the_spec_flows_all_have_an_example() -> None:
    assert {"rule_a_whitepaper", "rule_b_post_purchase", "intent_whitepapers", "intent_consulted", "intent_quote",
            "welcome", "dormant_reactivation"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_each_example_parses_lints_clean_and_conforms(name: str) -> None:
    text = (EXAMPLES / f"{name}.yaml").read_text(encoding="utf-8")
    assert re.match(r"#.*\(J\d+", text), "start with a comment citing the requirement, e.g. '# 规则B (J4): …'"
    data = yaml.safe_load(text)
    journey = parse_journey(data)
    assert journey.key == name
    assert lint_journey(journey) == []
    assert validate_against_schema(data) == []


# --- rule B (J4) --------------------------------------------------------------------------------


def survey(score: int | None, at: datetime, survey_id: str = "post_purchase_30d") -> EventFact:
    props: dict[str, Any] = {"survey_id": survey_id}
    if score is not None:
        props["score"] = score
    return EventFact("survey_response", at, props)


def test_rule_b_enters_30_days_after_payment_and_sends_the_survey() -> None:
    journey = load("rule_b_post_purchase")
    assert (journey.trigger.kind, journey.trigger.event, journey.trigger.delay) == (
        "after_event", "order_paid", timedelta(days=30))
    first = enter(journey)
    assert summary(first.effects) == [("send", "email:satisfaction_survey_30d")]
    assert first.effects[0].fallback == ("sms",)  # type: ignore[union-attr]
    assert first.run.waiting_for == ("survey_response",) and first.run.wake_at == day(7)


def test_rule_b_negative_answer_goes_to_customer_service() -> None:
    journey = load("rule_b_post_purchase")
    first = enter(journey)
    answer = survey(4, day(2))
    result = advance(journey, first.run, facts(answer), EventArrived(answer), day(2))
    assert summary(result.effects) == [("update", "nps_detractor"), ("task", "service"),
                                       ("send", "wecom:service_care_followup")]
    task = result.effects[1]
    assert isinstance(task, CreateTask) and task.due_at == day(2) + timedelta(hours=2)
    assert result.run.status == "completed"


@pytest.mark.parametrize("score", [7, 9, 10])
def test_rule_b_positive_answer_gets_a_repurchase_coupon(score: int) -> None:
    journey = load("rule_b_post_purchase")
    first = enter(journey)
    answer = survey(score, day(1))
    result = advance(journey, first.run, facts(answer), EventArrived(answer), day(1))
    assert summary(result.effects) == [("send", "email:repurchase_coupon")]
    assert result.run.status == "completed"


def test_rule_b_other_surveys_do_not_count_and_silence_times_out() -> None:
    journey = load("rule_b_post_purchase")
    first = enter(journey)
    other = survey(2, day(1), survey_id="nps_quarterly")
    assert advance(journey, first.run, facts(other), EventArrived(other), day(1)).run == first.run
    no_score = survey(None, day(1))
    unscored = advance(journey, first.run, facts(no_score), EventArrived(no_score), day(1))
    assert unscored.effects == [] and unscored.run.status == "completed"
    silent = advance(journey, first.run, facts(other), TimerDue(), day(7))
    assert silent.effects == [] and silent.run.status == "completed" and silent.run.node_id == "no_response"


# --- intent plan (J5) ---------------------------------------------------------------------------


def download(at: datetime, content_type: str = "whitepaper") -> EventFact:
    return EventFact("content_download", at, {"content_id": "wp", "content_type": content_type})


def test_intent_rule_1_needs_two_whitepapers_within_30_days_then_emails_at_once() -> None:
    journey = load("intent_whitepapers")
    assert journey.trigger.event == "content_download"
    audience = journey.trigger.audience

    def qualifies(*events: EventFact) -> bool:
        return evaluate(audience, facts(*events), EvalContext(now=T0))

    assert not qualifies(download(T0))
    assert not qualifies(download(T0), download(day(-40)))
    assert not qualifies(download(T0), download(day(-1), "datasheet"))
    assert qualifies(download(T0), download(day(-20)))
    result = enter(journey, download(T0), download(day(-20)))
    assert summary(result.effects) == [("update", "intent_whitepapers,intent"),
                                       ("send", "email:intent_case_study_comparison")]
    assert result.run.status == "completed"


def test_intent_rule_2_consulted_not_ordered_gets_wecom_after_3_days_unless_ordered() -> None:
    journey = load("intent_consulted")
    assert journey.trigger.event == "consult" and [(f.prop, f.value) for f in journey.trigger.properties] == [
        ("converted", False)]
    first = enter(journey)
    assert first.effects == [] and first.run.wake_at == day(3)
    assert advance(journey, first.run, facts(), TimerDue(), day(2)).run == first.run
    later = advance(journey, first.run, facts(), TimerDue(), day(3))
    assert summary(later.effects) == [("send", "wecom:trial_invite_exclusive_offer")]
    paid = EventFact("order_paid", day(1), {"order_id": "o1", "amount": 99})
    converted = advance(journey, first.run, facts(paid), TimerDue(), day(3))
    assert converted.run.status == "converted" and converted.effects == []


def test_intent_rule_3_quote_opened_gets_the_offer_after_7_days_unless_paid() -> None:
    journey = load("intent_quote")
    assert journey.trigger.event == "quote_opened"
    first = enter(journey)
    assert first.effects == [] and first.run.wake_at == day(7)
    later = advance(journey, first.run, facts(), TimerDue(), day(7))
    assert summary(later.effects) == [("send", "email:limited_time_offer_faq")]
    paid = EventFact("order_paid", day(6), {"order_id": "o1", "amount": 99})
    assert advance(journey, first.run, facts(paid), TimerDue(), day(7)).run.status == "converted"


# --- welcome and dormant reactivation (J6) -----------------------------------------------------


def test_welcome_email_with_sms_fallback_then_an_sms_reminder_when_not_opened_in_24h() -> None:
    journey = load("welcome")
    assert journey.trigger.event == "signup"
    first = enter(journey)
    assert summary(first.effects) == [("send", "email:welcome_activation_guide")]
    send = first.effects[0]
    assert isinstance(send, SendMessage) and send.fallback == ("sms",) and send.retry.attempts == 3
    assert first.run.wake_at == T0 + timedelta(hours=24)
    ignored = advance(journey, first.run, facts(), TimerDue(), T0 + timedelta(hours=24))
    assert summary(ignored.effects) == [("send", "sms:welcome_activation_reminder")]
    opened = EventFact("message_opened", T0 + timedelta(hours=2),
                       {"message_id": "m1", "channel": "email", "journey_id": "j1", "node_id": "send_welcome"})
    engaged = advance(journey, first.run, facts(opened), TimerDue(), T0 + timedelta(hours=24))
    assert summary(engaged.effects) == [("update", "welcome_opened")]
    assert engaged.run.status == "completed"


def claimed(at: datetime) -> EventFact:
    return EventFact("coupon_claimed", at, {"coupon_id": "welcome_back"})


def test_dormant_contacts_get_the_coupon_and_a_claim_goes_to_sales_within_2h() -> None:
    journey = load("dormant_reactivation")
    assert (journey.trigger.kind, journey.trigger.inactive_for) == ("inactivity", timedelta(days=90))
    first = enter(journey)
    assert summary(first.effects) == [("update", "reactivation_sent,dormant"),
                                      ("send", "email:welcome_back_coupon_features")]
    assert first.run.waiting_for == ("coupon_claimed",) and first.run.wake_at == day(7)
    claim = claimed(day(2))
    handed = advance(journey, first.run, facts(claim), EventArrived(claim), day(2))
    assert summary(handed.effects) == [("task", "sales")]
    task = handed.effects[0]
    assert isinstance(task, CreateTask) and task.due_at == day(2) + timedelta(hours=2)
    assert handed.run.status == "waiting" and handed.run.waiting_for == ("coupon_redeemed",)
    used = EventFact("coupon_redeemed", day(5), {"coupon_id": "welcome_back", "order_id": "o9"})
    assert advance(journey, handed.run, facts(claim, used), EventArrived(used), day(5)).run.status == "converted"


def test_dormant_unclaimed_coupon_gets_a_reminder_before_it_expires() -> None:
    journey = load("dormant_reactivation")
    first = enter(journey)
    reminded = advance(journey, first.run, facts(), TimerDue(), day(7))
    assert summary(reminded.effects) == [("send", "sms:coupon_expiry_reminder")]
    assert reminded.run.waiting_for == ("coupon_claimed",) and reminded.run.wake_at == day(14)
    claim = claimed(day(10))
    late = advance(journey, reminded.run, facts(claim), EventArrived(claim), day(10))
    assert summary(late.effects) == [("task", "sales")]
    expired = advance(journey, reminded.run, facts(), TimerDue(), day(14))
    assert expired.effects == [] and expired.run.status == "completed" and expired.run.node_id == "expired"


# --- the reference page's YAML ------------------------------------------------------------------


def _doc_blocks() -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", DOCS.read_text(encoding="utf-8"), flags=re.DOTALL)


def test_the_reference_page_has_yaml_examples() -> None:
    assert len(_doc_blocks()) >= 15


@pytest.mark.parametrize("index", range(len(_doc_blocks()) if DOCS.exists() else 0))
def test_every_yaml_block_in_the_reference_conforms(index: int) -> None:
    block = yaml.safe_load(_doc_blocks()[index])
    assert isinstance(block, dict)
    document = {"key": "doc", "trigger": {"manual": True}, "nodes": {"n": {"kind": "exit"}}, **block}
    assert validate_against_schema(document) == []
    if "key" in block:  # a complete journey: it also parses and lints without errors
        assert not has_errors(lint_journey(parse_journey(block)))
