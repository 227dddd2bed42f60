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

from touchflow.domain.messaging_ports import MessageUpdate
from touchflow.domain.ports import OutboxMessage

__all__ = ["Attempt", "Outcome", "after_attempt", "backoff_delay", "retry_settings"]

_MAX_BACKOFF = timedelta(hours=6)


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
    fallback = [str(c) for c in message.payload.get("fallback") or []]
    if fallback:
        channel, rest = fallback[0], fallback[1:]
        follow = replace(message, id=new_id, idempotency_key=f"{message.idempotency_key}|fb:{channel}"[:120],
                         channel=channel, payload={**message.payload, "fallback": rest, "fallback_of": message.id},
                         status="queued", attempts=0, created_at=now, next_attempt_at=now, address=None,
                         sent_at=None, provider_id=None, reason=None, last_error=None)
        return Outcome(MessageUpdate(message.id, "failed", now, f"fallback:{channel}", error),
                       "message_failed", {**props, "reason": f"{reason}: {error}"[:500], "fallback": channel},
                       follow)
    return Outcome(MessageUpdate(message.id, "dead", now, reason, error),
                   "message_failed", {**props, "reason": f"{reason}: {error}"[:500], "dead": True})
