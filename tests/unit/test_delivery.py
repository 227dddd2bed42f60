"""After one attempt: sent, retried with backoff and jitter, handed to the fallback channel, or dead."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from touchflow.domain.messaging.delivery import Attempt, after_attempt, backoff_delay
from touchflow.domain.outbox import OutboxMessage

NOW = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)


def message(attempts: int = 1, fallback: tuple[str, ...] = (), tries: int = 3) -> OutboxMessage:
    return OutboxMessage("m1", "run1:send", "run1", "c1", "j1", "send", "email", "welcome",
                         {"fallback": list(fallback), "retry": {"attempts": tries, "backoff_s": 60}},
                         "sending", attempts, NOW, NOW, address="li@example.com", sent_at=NOW)


def test_sent_records_the_provider_id_and_a_message_sent_event() -> None:
    outcome = after_attempt(message(), Attempt("sent", provider_id="<abc@x>"), NOW, "new")
    assert outcome.update.status == "sent" and outcome.update.provider_id == "<abc@x>"
    assert outcome.event_type == "message_sent" and outcome.fallback is None


def test_retries_back_off_exponentially_with_deterministic_jitter() -> None:
    delays = [after_attempt(message(n), Attempt("retry", error="503"), NOW, "x").update.next_attempt_at - NOW
              for n in (1, 2, 3)]
    for n, delay in enumerate(delays, start=1):
        full = timedelta(seconds=60 * 2 ** (n - 1))
        assert full / 2 <= delay <= full
    assert delays == [backoff_delay(message(n), n, timedelta(seconds=60)) for n in (1, 2, 3)]
    first = after_attempt(message(1), Attempt("retry"), NOW, "x")
    assert first.update.status == "queued" and first.update.reason == "retrying" and first.event_type == ""


def test_retry_after_from_the_provider_wins_when_longer() -> None:
    outcome = after_attempt(message(1), Attempt("retry", error="429", retry_after=3600), NOW, "x")
    assert outcome.update.next_attempt_at == NOW + timedelta(seconds=3600)


def test_exhausted_retries_go_to_the_fallback_channel_with_a_derived_key() -> None:
    outcome = after_attempt(message(4, fallback=("sms", "wecom")), Attempt("retry", error="timeout"), NOW, "m2")
    assert outcome.update.status == "failed" and outcome.update.reason == "fallback:sms"
    follow = outcome.fallback
    assert follow is not None and follow.id == "m2" and follow.channel == "sms" and follow.attempts == 0
    assert follow.idempotency_key == "run1:send|fb:sms" and follow.payload["fallback"] == ["wecom"]
    assert outcome.event_properties["fallback"] == "sms"


def test_a_permanent_failure_without_fallback_is_dead_with_its_reason() -> None:
    outcome = after_attempt(message(1), Attempt("failed", error="550 no such user"), NOW, "x")
    assert outcome.update.status == "dead" and outcome.update.reason == "provider_rejected"
    assert outcome.event_type == "message_failed" and "550" in outcome.event_properties["reason"]


def test_stopped_at_the_gate_is_a_complaint_freeze_skip() -> None:
    outcome = after_attempt(message(1), Attempt("frozen"), NOW, "x")
    assert outcome.update.status == "skipped" and outcome.update.reason == "complaint_freeze"


def test_only_an_undeliverable_channel_falls_back_at_decide_time() -> None:
    from touchflow.domain.messaging.delivery import UNDELIVERABLE, cannot_deliver, fallback_note

    now = datetime(2026, 3, 2, tzinfo=UTC)
    message = OutboxMessage("m1", "run:3", "run", "c1", "j1", "send", "email", "t", {"fallback": ["sms", "wecom"]},
                            "queued", 0, now, now)
    for guardrail in ("frequency_cap", "quiet_hours", "consent", "fatigue", "complaint_freeze"):
        assert cannot_deliver(message, guardrail, "not now", now, "m2") is None
    assert cannot_deliver(replace(message, payload={}), "no_address", "none", now, "m2") is None
    for guardrail in UNDELIVERABLE:
        outcome = cannot_deliver(message, guardrail, "why", now, "m2")
        assert outcome is not None and outcome.fallback is not None
        assert outcome.update.status == "failed" and outcome.update.reason == "fallback:sms"
        assert outcome.fallback.idempotency_key == "run:3|fb:sms" and outcome.fallback.payload["fallback"] == ["wecom"]
        note = fallback_note("email", outcome.update.reason, outcome.update.last_error)
        assert note is not None and note.startswith("email: ") and note.endswith(" → fell back to sms")


def test_a_fallback_to_the_same_channel_is_no_fallback() -> None:
    """``fallback: [wechat_mp]`` on a ``wechat`` step (an alias of itself) would only repeat the same refusal."""
    from touchflow.domain.messaging.delivery import fallback_message

    now = datetime(2026, 3, 2, tzinfo=UTC)
    same = replace(message(fallback=("wechat_mp",)), channel="wechat")
    assert fallback_message(same, now, "m2") is None
    onward = replace(message(fallback=("wechat_mp", "sms")), channel="wechat")
    follow = fallback_message(onward, now, "m2")
    assert follow is not None and follow.channel == "sms"
