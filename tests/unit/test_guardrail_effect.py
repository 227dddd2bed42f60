"""The guardrail preview's replay: caps per local day (all channels, and per channel) hold messages back and a held
message is no touch; quiet channels inside the quiet window are moved; other channels (webhooks) do not count."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from touchflow.domain.guardrails.effect import SentTouch, replay_policy
from touchflow.domain.guardrails.model import FrequencyCap, GuardrailPolicy, QuietHours

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(day: int, hour: int) -> datetime:
    return datetime(2026, 3, day, hour, tzinfo=SHANGHAI).astimezone(UTC)


def test_caps_count_local_days_and_held_messages_are_no_touch() -> None:
    sent = [SentTouch("a", "email", at(2, h)) for h in (9, 10, 11, 12)] + [SentTouch("a", "email", at(3, 0))]
    sent += [SentTouch("b", "sms", at(2, 10)), SentTouch("b", "sms", at(2, 11)), SentTouch("b", "webhook", at(2, 12))]
    effect = replay_policy(sent, GuardrailPolicy(cap=FrequencyCap(per_day=2, per_channel={"sms": 1})), SHANGHAI)
    # a: 2 of 4 on the 2nd held (the 3rd at 00:00 local is a new day); b: the 2nd sms over its channel cap
    assert (effect.messages, effect.over_cap, effect.in_quiet_hours, effect.contacts) == (7, 3, 0, 2)


def test_quiet_hours_move_quiet_channels_only() -> None:
    sent = [SentTouch("a", "sms", at(2, 22)), SentTouch("b", "email", at(2, 22)), SentTouch("c", "sms", at(2, 9))]
    policy = GuardrailPolicy(quiet=QuietHours(time(21), time(8), frozenset({"sms"})))
    effect = replay_policy(sent, policy, SHANGHAI)
    assert (effect.over_cap, effect.in_quiet_hours, effect.contacts) == (0, 1, 1)
