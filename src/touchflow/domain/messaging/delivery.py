"""What becomes of a message after one attempt: sent, retried later, handed to a fallback channel, or dead.

Pure: the dispatcher passes the provider's answer and ``now``; this returns the row change, the
lifecycle event to record and (for a fallback) the new message. Retries back off exponentially with
"equal jitter" (half fixed, half random), seeded by the message and attempt so a replay is identical;
a provider's ``Retry-After`` wins when it asks for longer.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from touchflow.domain.channel_names import canonical_channel
from touchflow.domain.journeys.model import DEFAULT_FALLBACK_WINDOW
from touchflow.domain.messaging.ports import MessageUpdate
from touchflow.domain.outbox import OutboxMessage

__all__ = [
    "DEFAULT_FALLBACK_WINDOW",
    "UNDELIVERABLE",
    "Attempt",
    "Outcome",
    "after_attempt",
    "after_hard_bounce",
    "backoff_delay",
    "cannot_deliver",
    "fallback_message",
    "fallback_note",
    "fallback_window",
    "retry_settings",
]

_MAX_BACKOFF = timedelta(hours=6)
# Skips that mean "this channel cannot reach this contact at all": the step's fallback chain is tried.
# Every other guardrail ("not now", "not to this person") is final: a fallback would dodge it.
UNDELIVERABLE = frozenset({"no_address", "suppressed", "invalid_address"})
_WHY = {"no_address": "no address", "suppressed": "address suppressed", "invalid_address": "invalid address",
        "hard_bounce": "hard bounce", "provider_rejected": "rejected by the provider",
        "retries_exhausted": "retries exhausted"}


@dataclass(frozen=True)
class Attempt:
    """The answer for one message: ``sent`` | ``retry`` | ``failed`` | ``frozen`` (stopped at the gate)."""

    status: str
    provider_id: str | None = None
    error: str | None = None
    retry_after: float | None = None


@dataclass(frozen=True)
class Outcome:
    update: MessageUpdate
    event_type: str  # message_sent | message_failed | message_skipped | "" (a quiet retry)
    event_properties: dict[str, Any]
    fallback: OutboxMessage | None = None


def retry_settings(message: OutboxMessage) -> tuple[int, timedelta]:
    retry = message.payload.get("retry") or {}
    attempts = int(retry.get("attempts", 3)) if isinstance(retry, dict) else 3
    backoff = float(retry.get("backoff_s", 300)) if isinstance(retry, dict) else 300.0
    return max(attempts, 0), timedelta(seconds=max(backoff, 1.0))


def backoff_delay(message: OutboxMessage, attempt: int, base: timedelta) -> timedelta:
    """``base · 2^(attempt-1)``, capped, with equal jitter drawn from (message id, attempt)."""
    factor: int = 1 << max(attempt - 1, 0)
    full = min(base * factor, _MAX_BACKOFF)
    seed = hashlib.blake2b(f"{message.id}:{attempt}".encode(), digest_size=8).digest()
    jitter: float = random.Random(seed).random()
    return full / 2 + full / 2 * jitter


def _props(message: OutboxMessage) -> dict[str, Any]:
    return {"message_id": message.id, "channel": message.channel, "journey_id": message.journey_id,
            "node_id": message.node_id, "template": message.template}


def after_attempt(message: OutboxMessage, answer: Attempt, now: datetime, new_id: str) -> Outcome:
    """``message`` as claimed (its ``attempts`` already counts this attempt)."""
    props = _props(message)
    if answer.status == "sent":
        return Outcome(MessageUpdate(message.id, "sent", now, None, None, message.address, now, answer.provider_id),
                       "message_sent", {**props, "provider_id": answer.provider_id})
    if answer.status == "frozen":
        return Outcome(MessageUpdate(message.id, "skipped", now, "complaint_freeze", answer.error),
                       "message_skipped", {**props, "guardrail": "complaint_freeze"})
    error = answer.error or answer.status
    allowed, base = retry_settings(message)
    if answer.status == "retry" and message.attempts <= allowed:
        delay = backoff_delay(message, message.attempts, base)
        if answer.retry_after is not None:
            delay = max(delay, timedelta(seconds=answer.retry_after))
        return Outcome(MessageUpdate(message.id, "queued", now + delay, "retrying", error), "", {})
    reason = "retries_exhausted" if answer.status == "retry" else "provider_rejected"
    follow = fallback_message(message, now, new_id)
    if follow is not None:
        return Outcome(MessageUpdate(message.id, "failed", now, f"fallback:{follow.channel}", f"{reason}: {error}"),
                       "message_failed", {**props, "reason": f"{reason}: {error}"[:500], "fallback": follow.channel},
                       follow)
    return Outcome(MessageUpdate(message.id, "dead", now, reason, error),
                   "message_failed", {**props, "reason": f"{reason}: {error}"[:500], "dead": True})


def fallback_message(message: OutboxMessage, now: datetime, new_id: str) -> OutboxMessage | None:
    """The same message on the next channel of the step's fallback chain, or None when the chain is empty.

    Its idempotency key is derived (``<key>|fb:<channel>``) and unique, so a replay enqueues nothing twice."""
    listed = message.payload.get("fallback") or []
    own = canonical_channel(message.channel)  # the same channel again (wechat after wechat_mp) is no fallback
    chain = [c for c in ([listed] if isinstance(listed, str) else [str(c) for c in listed])
             if canonical_channel(c) != own]
    if not chain:
        return None
    channel, rest = chain[0], chain[1:]
    return replace(message, id=new_id, idempotency_key=f"{message.idempotency_key}|fb:{channel}"[:120],
                   channel=channel, payload={**message.payload, "fallback": rest, "fallback_of": message.id},
                   status="queued", attempts=0, created_at=now, next_attempt_at=now, address=None,
                   sent_at=None, provider_id=None, reason=None, last_error=None)


def cannot_deliver(message: OutboxMessage, guardrail: str, detail: str, now: datetime,
                   new_id: str) -> Outcome | None:
    """The decision skipped ``message`` because its channel cannot reach the contact at all: hand it to the
    fallback chain in the same step. None when the skip is a guardrail's "not now" or there is no chain."""
    if guardrail not in UNDELIVERABLE:
        return None
    follow = fallback_message(message, now, new_id)
    if follow is None:
        return None
    why = f"{guardrail}: {detail}"
    return Outcome(MessageUpdate(message.id, "failed", now, f"fallback:{follow.channel}", why),
                   "message_failed", {**_props(message), "reason": why[:500], "fallback": follow.channel}, follow)


def fallback_window(message: OutboxMessage) -> timedelta:
    seconds = message.payload.get("fallback_window_s")
    if isinstance(seconds, int | float) and not isinstance(seconds, bool) and seconds >= 0:
        return timedelta(seconds=seconds)
    return DEFAULT_FALLBACK_WINDOW


def after_hard_bounce(message: OutboxMessage, error: str | None, now: datetime, new_id: str) -> Outcome | None:
    """A sent message bounced hard: within the step's fallback window the next channel is tried; the row
    becomes ``failed`` (handed to the fallback) and keeps when and where it was sent. None: nothing to do
    (not sent, no chain, or reported after the window)."""
    if message.status != "sent" or message.sent_at is None or now - message.sent_at > fallback_window(message):
        return None
    follow = fallback_message(message, now, new_id)
    if follow is None:
        return None
    why = f"hard_bounce: {error or 'the address does not exist'}"
    return Outcome(MessageUpdate(message.id, "failed", now, f"fallback:{follow.channel}", why, message.address,
                                 message.sent_at, message.provider_id),
                   "message_failed", {**_props(message), "reason": why[:500], "fallback": follow.channel}, follow)


def fallback_note(channel: str, reason: str | None, detail: str | None) -> str | None:
    """``email: no address → fell back to sms`` for a row handed to its fallback; None for any other row."""
    if not reason or not reason.startswith("fallback:"):
        return None
    cause = (detail or "").partition(":")[0].strip()
    return f"{channel}: {_WHY.get(cause, 'failed')} → fell back to {reason.removeprefix('fallback:')}"
