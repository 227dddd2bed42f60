"""Guardrail decisions: each check, its order, and the contact's own calendar day and night."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from touchflow.domain.guardrails.model import (
    Allow,
    Defer,
    EmailEngagement,
    FatiguePolicy,
    FrequencyCap,
    GuardFacts,
    GuardrailPolicy,
    QuietHours,
    Skip,
    decide,
    fatigued_until,
    policy_document,
    policy_from_document,
)

NOON_SHANGHAI = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)  # 12:00 in Asia/Shanghai
ADDRESSES = {"email": "li@example.com", "sms": "+8613800000000", "wecom": "wm_1", "wechat_mp": "o_1",
             "onsite": "c1", "webhook": "https://hooks.example.com/x"}


def facts(**kw: object) -> GuardFacts:
    base: dict[str, object] = {"contact_id": "c1", "timezone": "Asia/Shanghai", "addresses": ADDRESSES}
    base.update(kw)
    return GuardFacts(**base)  # type: ignore[arg-type]


def test_plain_message_is_allowed_with_the_channel_address() -> None:
    assert decide("sms", "marketing", facts(), GuardrailPolicy(), NOON_SHANGHAI) == Allow("+8613800000000")


def test_freeze_comes_first_and_holds_for_transactional_messages_too() -> None:
    decision = decide("email", "transactional", facts(frozen=True, consents={"email": "denied"}),
                      GuardrailPolicy(), NOON_SHANGHAI)
    assert isinstance(decision, Skip) and decision.guardrail == "complaint_freeze"


@pytest.mark.parametrize(("kw", "guardrail"), [
    ({"addresses": {}}, "no_address"),
    ({"suppressed": frozenset({"email"})}, "suppressed"),
    ({"consents": {"email": "denied"}}, "consent"),
])
def test_address_suppression_and_consent(kw: dict[str, object], guardrail: str) -> None:
    decision = decide("email", "marketing", facts(**kw), GuardrailPolicy(), NOON_SHANGHAI)
    assert isinstance(decision, Skip) and decision.guardrail == guardrail


def test_consent_required_channels_need_an_explicit_grant_for_marketing_only() -> None:
    policy = GuardrailPolicy(consent_required=frozenset({"sms"}))
    assert isinstance(decide("sms", "marketing", facts(), policy, NOON_SHANGHAI), Skip)
    assert isinstance(decide("sms", "marketing", facts(consents={"sms": "granted"}), policy, NOON_SHANGHAI), Allow)
    assert isinstance(decide("sms", "transactional", facts(), policy, NOON_SHANGHAI), Allow)


def test_quiet_hours_defer_sms_to_the_morning_in_the_contacts_timezone() -> None:
    night_shanghai = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)  # 22:30 in Shanghai
    decision = decide("sms", "marketing", facts(), GuardrailPolicy(), night_shanghai)
    assert isinstance(decision, Defer) and decision.guardrail == "quiet_hours"
    assert decision.until == datetime(2026, 3, 3, 0, 0, tzinfo=UTC)  # 08:00 Shanghai next day
    # the same instant is 14:30 in London: not quiet there
    assert isinstance(decide("sms", "marketing", facts(timezone="Europe/London"), GuardrailPolicy(),
                             night_shanghai), Allow)
    # email is not a quiet-hours channel by default
    assert isinstance(decide("email", "marketing", facts(), GuardrailPolicy(), night_shanghai), Allow)


def test_quiet_hours_after_midnight_defer_to_the_same_morning() -> None:
    early = datetime(2026, 3, 2, 22, 0, tzinfo=UTC)  # 06:00 on 3 March in Shanghai
    decision = decide("wecom", "marketing", facts(), GuardrailPolicy(), early)
    assert isinstance(decision, Defer) and decision.until == datetime(2026, 3, 3, 0, 0, tzinfo=UTC)


def test_quiet_window_not_crossing_midnight() -> None:
    hours = QuietHours(time(12, 0), time(14, 0))
    assert hours.contains(time(12, 0)) and hours.contains(time(13, 59)) and not hours.contains(time(14, 0))
    assert not QuietHours(time(9, 0), time(9, 0)).contains(time(9, 0))


def test_frequency_cap_counts_the_contacts_calendar_day_and_the_batch() -> None:
    policy = GuardrailPolicy(cap=FrequencyCap(per_day=2))
    yesterday_late = datetime(2026, 3, 1, 15, 59, tzinfo=UTC)  # 23:59 on 1 March in Shanghai
    this_morning = datetime(2026, 3, 1, 16, 1, tzinfo=UTC)  # 00:01 on 2 March in Shanghai
    f = facts(touches=[("email", yesterday_late), ("email", this_morning)])
    assert isinstance(decide("email", "marketing", f, policy, NOON_SHANGHAI), Allow)
    decision = decide("email", "marketing", f, policy, NOON_SHANGHAI, allowed_in_batch=[("sms", NOON_SHANGHAI)])
    assert isinstance(decision, Skip) and decision.guardrail == "frequency_cap"
    # webhooks do not count as touches and are never capped
    assert isinstance(decide("webhook", "marketing", f, policy, NOON_SHANGHAI,
                             allowed_in_batch=[("sms", NOON_SHANGHAI)] * 5), Allow)


def test_per_channel_cap_and_defer_policy() -> None:
    policy = GuardrailPolicy(cap=FrequencyCap(per_day=5, per_channel={"sms": 1}, over_cap="defer"))
    f = facts(touches=[("sms", NOON_SHANGHAI - timedelta(hours=1))])
    assert isinstance(decide("email", "marketing", f, policy, NOON_SHANGHAI), Allow)
    decision = decide("sms", "marketing", f, policy, NOON_SHANGHAI)
    assert isinstance(decision, Defer) and decision.guardrail == "frequency_cap"
    assert decision.until == datetime(2026, 3, 2, 16, 0, tzinfo=UTC)  # midnight in Shanghai


def test_transactional_messages_pass_caps_and_quiet_hours() -> None:
    night = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
    f = facts(touches=[("sms", night)] * 9)
    assert isinstance(decide("sms", "transactional", f, GuardrailPolicy(), night), Allow)


def _email(day: int, opened: bool, clicked: bool) -> EmailEngagement:
    sent = datetime(2026, 2, day, 2, 0, tzinfo=UTC)
    return EmailEngagement(sent, sent + timedelta(hours=1) if opened else None, clicked)


def test_fatigue_three_opens_without_a_click_pause_marketing_email() -> None:
    emails = [_email(1, True, True), _email(2, True, False), _email(3, True, False), _email(4, True, False)]
    until = fatigued_until(emails, FatiguePolicy())
    assert until == datetime(2026, 2, 4, 3, 0, tzinfo=UTC) + timedelta(days=14)
    decision = decide("email", "marketing", facts(emails=emails), GuardrailPolicy(), datetime(2026, 2, 10, tzinfo=UTC))
    assert isinstance(decision, Skip) and decision.guardrail == "fatigue"
    assert isinstance(decide("email", "marketing", facts(emails=emails), GuardrailPolicy(), until), Allow)
    # SMS is not paused by email fatigue
    assert isinstance(decide("sms", "marketing", facts(emails=emails), GuardrailPolicy(),
                             datetime(2026, 2, 10, 4, tzinfo=UTC)), Allow)


@pytest.mark.parametrize("last", [_email(4, True, True), _email(4, False, False)])
def test_a_click_or_an_unopened_email_breaks_the_streak(last: EmailEngagement) -> None:
    emails = [_email(2, True, False), _email(3, True, False), last]
    assert fatigued_until(emails, FatiguePolicy()) is None
    assert fatigued_until(emails[:2], FatiguePolicy()) is None  # fewer than three


def test_policy_round_trips_and_bad_fields_are_named() -> None:
    policy = GuardrailPolicy(FrequencyCap(5, {"sms": 1}, "defer"), QuietHours(time(22), time(7), frozenset({"sms"})),
                             FatiguePolicy(4, timedelta(days=7)), frozenset({"sms"}), "Europe/Berlin")
    assert policy_from_document(policy_document(policy)) == policy
    assert policy_from_document({}) == GuardrailPolicy()
    for doc, field in [({"cap": {"per_day": -1}}, "cap.per_day"), ({"quiet_hours": {"start": "9pm"}},
                       "quiet_hours.start"), ({"cap": {"over_cap": "drop"}}, "cap.over_cap"),
                       ({"default_timezone": "Mars/Base"}, "default_timezone")]:
        with pytest.raises(ValueError, match=field.replace(".", r"\.")):
            policy_from_document(doc)
