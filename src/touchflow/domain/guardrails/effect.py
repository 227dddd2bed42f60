"""What a guardrail policy would have done to messages already sent (the settings page's preview, G1/G6).

A replay, not a forecast: the messages a journey sent in a recent window are taken in time order and each is
judged as the dispatcher judges frequency caps (every touch channel per local day, and per channel) and quiet
hours (a quiet channel inside the quiet window). A message the cap would have held back does not count as a touch,
as a skipped message does not. Times are local to the workspace zone (contacts' own zones are not replayed).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from touchflow.domain.channel_names import canonical_channel
from touchflow.domain.guardrails.model import TOUCH_CHANNELS, GuardrailPolicy

__all__ = ["PolicyEffect", "SentTouch", "replay_policy"]


@dataclass(frozen=True)
class SentTouch:
    contact_id: str
    channel: str
    sent_at: datetime


@dataclass(frozen=True)
class PolicyEffect:
    messages: int  # touches replayed
    over_cap: int  # would have been held back by the daily caps
    in_quiet_hours: int  # would have waited for the quiet hours to end
    contacts: int  # contacts with at least one message held back or moved


def replay_policy(sent: Iterable[SentTouch], policy: GuardrailPolicy, zone: ZoneInfo) -> PolicyEffect:
    counted: Counter[tuple[str, object]] = Counter()
    per_channel: Counter[tuple[str, object, str]] = Counter()
    messages = over = quiet = 0
    touched: set[str] = set()
    for touch in sorted(sent, key=lambda t: t.sent_at):
        channel = canonical_channel(touch.channel)
        if channel not in TOUCH_CHANNELS:
            continue
        messages += 1
        local = touch.sent_at.astimezone(zone)
        day = local.date()
        limit = policy.cap.per_channel.get(channel)
        if counted[(touch.contact_id, day)] >= policy.cap.per_day or (
                limit is not None and per_channel[(touch.contact_id, day, channel)] >= limit):
            over += 1
            touched.add(touch.contact_id)
            continue
        counted[(touch.contact_id, day)] += 1
        per_channel[(touch.contact_id, day, channel)] += 1
        if channel in policy.quiet.channels and policy.quiet.contains(local.time()):
            quiet += 1
            touched.add(touch.contact_id)
    return PolicyEffect(messages, over, quiet, len(touched))
