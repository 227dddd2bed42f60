"""The effect of a guardrail policy change before it is saved: the recent messages replayed under the current
policy and under the proposed one (``domain/guardrails/effect.replay_policy``). Reads only."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from touchflow.domain.guardrails.effect import PolicyEffect, SentTouch, replay_policy
from touchflow.domain.guardrails.model import merge_policy_document, policy_document, policy_from_document
from touchflow.services.context import ServiceContext
from touchflow.services.guarding import guardrail_policy, policy_changes

__all__ = ["PolicyPreview", "preview_policy"]


@dataclass(frozen=True)
class PolicyPreview:
    changed: list[tuple[str, object, object]]  # (field path, now, after)
    days: int
    now: PolicyEffect
    after: PolicyEffect


def preview_policy(ctx: ServiceContext, change: Mapping[str, Any], *, days: int = 7) -> PolicyPreview:
    """What ``change`` would alter, field by field, and what each policy would have done to the messages of the
    last ``days`` days. An unknown or bad field raises ``FieldError``/``ValueError`` naming it."""
    until = ctx.clock.now()
    with ctx.reader() as uow:
        current = guardrail_policy(uow)
        sent = [SentTouch(m.contact_id, m.channel, m.sent_at)
                for m in uow.alerts.sent_between(until - timedelta(days=days), until)]
    before = policy_document(current)
    merged, _ = merge_policy_document(before, change)
    proposed = policy_from_document(merged)
    after = policy_document(proposed)
    changed = [(k, was, now) for k, (was, now) in sorted(policy_changes(before, after).items())]
    zone = ZoneInfo(current.default_timezone)
    return PolicyPreview(changed, days, replay_policy(sent, current, zone),
                         replay_policy(sent, proposed, ZoneInfo(proposed.default_timezone)))
