"""A step's fallback chain is tried when its channel cannot deliver to the contact at all (J8).

No address, a suppressed or invalid address, or a hard bounce reported within the step's fallback window
hand the message to the next channel in the same step. A guardrail's "not now / not to this person" (cap,
quiet hours, consent, freeze) does not. Each test runs on SQLite and on PostgreSQL (the ``app`` fixture).
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select

from touchflow.bootstrap import Application
from touchflow.channels.bounces import BounceReport
from touchflow.channels.capture import CaptureChannel
from touchflow.clock import VirtualClock
from touchflow.domain.guardrails.ports import Suppression
from touchflow.domain.outbox import OutboxMessage
from touchflow.engine.channel_registry import ChannelRegistry
from touchflow.engine.dispatcher import Dispatcher
from touchflow.engine.runtime import JourneyRuntime
from touchflow.services.content import save_template
from touchflow.services.guarding import set_guardrail_policy
from touchflow.services.ingest import RawItem, record_events, upsert_contacts
from touchflow.services.journeys import publish_journey, trace_contact
from touchflow.services.tracking import delivery_receipt, email_report
from touchflow.store.tables import contact_identities, events, outbox

FALLBACK = {"fallback": ["sms"], "retry": {"attempts": 1, "backoff_s": 60}}


def contact(app: Application, **identities: str) -> str:
    (cid,) = upsert_contacts(app.services, "crm", [RawItem(dict(identities))]).contact_ids
    assert cid is not None
    return cid


def queue(app: Application, contact_id: str, channel: str, payload: dict[str, Any], key: str) -> str:
    now = app.services.clock.now()
    for name in ("email", "sms"):
        save_template(app.services, f"t_{name}", name, "春季上新", "春季新品已上市。", "text", by="test")
    message = OutboxMessage(app.services.ids.new(now), key, None, contact_id, None, "send_1", channel,
                            f"t_{channel}", payload, "queued", 0, now, now)
    with app.services.uow() as uow:
        uow.messages.enqueue([message])
        uow.commit()
    return message.id


def rows(app: Application) -> list[Any]:
    with app.engine.connect() as c:
        return list(c.execute(select(outbox).order_by(outbox.c.created_at, outbox.c.id)))


def sent_on(registry: ChannelRegistry, name: str) -> list[Any]:
    channel = registry.channels[name].channel
    assert isinstance(channel, CaptureChannel)
    return channel.sent


def drain(app: Application, registry: ChannelRegistry, times: int = 2) -> None:
    dispatcher = Dispatcher(app.services, channels=registry)
    try:
        for _ in range(times):  # a second pass replays nothing
            dispatcher.dispatch_all()
    finally:
        dispatcher.close()


def assert_fell_back(app: Application, original_id: str, cause: str, registry: ChannelRegistry,
                     emails: int = 0) -> Any:
    by_id = {r.id: r for r in rows(app)}
    original = by_id[original_id]
    assert original.status == "failed" and original.reason == "fallback:sms"
    assert original.last_error.startswith(f"{cause}:")
    (follow,) = [r for r in by_id.values() if r.payload.get("fallback_of") == original_id]
    assert follow.channel == "sms" and follow.status == "sent"
    assert follow.idempotency_key == f"{original.idempotency_key}|fb:sms" != original.idempotency_key
    assert [m.message_id for m in sent_on(registry, "sms")] == [follow.id]  # the fallback went out once
    assert len(sent_on(registry, "email")) == emails
    with app.engine.connect() as c:
        failed = c.execute(select(events.c.properties).where(events.c.type == "message_failed")).scalars().all()
    assert [p["fallback"] for p in failed] == ["sms"] and failed[0]["reason"].startswith(cause)
    return follow


def test_no_email_address_falls_back_to_sms_in_the_same_step(app: Application) -> None:
    cid = contact(app, phone="+8613712345678")
    mid = queue(app, cid, "email", FALLBACK, "run1:3")
    registry = ChannelRegistry.capture_all(("email", "sms"))
    drain(app, registry)
    follow = assert_fell_back(app, mid, "no_address", registry)
    assert follow.address == "+8613712345678"


def test_a_suppressed_address_falls_back(app: Application, clock: VirtualClock) -> None:
    cid = contact(app, email="gone@fallback.test", phone="+8613712345678")
    with app.services.uow() as uow:
        uow.guards.suppress([Suppression("email", "gone@fallback.test", "hard_bounce", "touchflow", clock.now())])
        uow.commit()
    mid = queue(app, cid, "email", FALLBACK, "run1:3")
    registry = ChannelRegistry.capture_all(("email", "sms"))
    drain(app, registry)
    assert_fell_back(app, mid, "suppressed", registry)


def test_an_invalid_stored_address_falls_back(app: Application, clock: VirtualClock) -> None:
    cid = contact(app, phone="+8613712345678")
    with app.engine.begin() as c:  # a row stored before addresses were checked
        c.execute(insert(contact_identities).values(kind="email", value="not-an-address", contact_id=cid,
                                                    source="legacy", created_at=clock.now()))
    mid = queue(app, cid, "email", FALLBACK, "run1:3")
    registry = ChannelRegistry.capture_all(("email", "sms"))
    drain(app, registry)
    assert_fell_back(app, mid, "invalid_address", registry)


@pytest.mark.parametrize("report", ["receipt", "returned_mail"])
def test_a_hard_bounce_within_the_window_falls_back_once(app: Application, clock: VirtualClock,
                                                        report: str) -> None:
    cid = contact(app, email="typo@fallback.test", phone="+8613712345678")
    mid = queue(app, cid, "email", {**FALLBACK, "fallback_window_s": 6 * 3600}, "run1:3")
    registry = ChannelRegistry.capture_all(("email", "sms"))
    drain(app, registry)
    (sent,) = rows(app)
    assert sent.status == "sent" and sent_on(registry, "sms") == []
    clock.advance(timedelta(hours=5))
    for _ in range(2):  # the provider reports it twice
        if report == "receipt":
            delivery_receipt(app.services, sent.provider_id, "bounced", "550 no such user", hard=True)
        else:
            email_report(app.services, BounceReport("bounce", True, "typo@fallback.test", mid, None, "5.1.1",
                                                  "550 no such user"))
    drain(app, registry)
    follow = assert_fell_back(app, mid, "hard_bounce", registry, emails=1)
    original = {r.id: r for r in rows(app)}[mid]
    assert original.sent_at == sent.sent_at and original.provider_id == sent.provider_id  # when it went out
    assert follow.address == "+8613712345678"


def test_a_hard_bounce_after_the_window_does_not_fall_back(app: Application, clock: VirtualClock) -> None:
    cid = contact(app, email="late@fallback.test", phone="+8613712345678")
    queue(app, cid, "email", FALLBACK, "run1:3")  # the default window: 24 h
    registry = ChannelRegistry.capture_all(("email", "sms"))
    drain(app, registry)
    (sent,) = rows(app)
    clock.advance(timedelta(hours=25))
    delivery_receipt(app.services, sent.provider_id, "bounced", "550 no such user", hard=True)
    drain(app, registry)
    (after,) = rows(app)
    assert after.status == "sent" and sent_on(registry, "sms") == []
    # a soft bounce within the window does not fall back either
    queue(app, cid, "sms", {"fallback": ["email"]}, "run2:3")
    drain(app, registry)
    (sms,) = [r for r in rows(app) if r.channel == "sms"]
    delivery_receipt(app.services, sms.provider_id, "bounced", "mailbox full", hard=False)
    drain(app, registry)
    assert len(rows(app)) == 2 and {r.status for r in rows(app)} == {"sent"}


def _guardrail_case(app: Application, clock: VirtualClock, case: str) -> tuple[str, str]:
    """A contact with both addresses and a message that a guardrail (not the address) stops."""
    cid = contact(app, email="busy@fallback.test", phone="+8613712345678",
                  **({"consent.email": "denied"} if case == "consent" else {}))
    channel = "email"
    if case == "cap":
        set_guardrail_policy(app.services, {"cap": {"per_day": 1}}, actor="test")
        queue(app, cid, "email", {}, "earlier:1")
        drain(app, ChannelRegistry.capture_all(("email", "sms")))
    elif case == "quiet_hours":
        channel = "sms"
        clock.advance(timedelta(hours=13))  # 22:00 in Shanghai
    elif case == "complaint_freeze":
        record_events(app.services, "service", [RawItem({"id": "cpl-1", "type": "complaint",
                                                         "email": "busy@fallback.test"})])
    return cid, queue(app, cid, channel, {"fallback": ["wecom", "sms" if channel == "email" else "email"]},
                      "run1:3")


@pytest.mark.parametrize("case", ["cap", "quiet_hours", "consent", "complaint_freeze"])
def test_a_guardrail_skip_does_not_fall_back(app: Application, clock: VirtualClock, case: str) -> None:
    _, mid = _guardrail_case(app, clock, case)
    registry = ChannelRegistry.capture_all(("email", "sms", "wecom"))
    drain(app, registry)
    message = {r.id: r for r in rows(app)}[mid]
    if case == "quiet_hours":
        assert message.status == "queued" and message.reason == "quiet_hours"
    else:
        assert message.status == "skipped" and message.reason == {"cap": "frequency_cap"}.get(case, case)
    assert not [r for r in rows(app) if r.payload.get("fallback_of")]
    assert sent_on(registry, "wecom") == [] and sent_on(registry, "sms") == []


JOURNEY = """
key: reactivate
name: 唤醒
trigger: {kind: event, event: signup}
start: mail
nodes:
  mail: {kind: send, channel: email, template: t_email, fallback: [sms], fallback_window: 12h, next: done}
  done: {kind: exit}
"""


def test_journey_trace_says_why_it_fell_back(app: Application) -> None:
    for name in ("email", "sms"):
        save_template(app.services, f"t_{name}", name, "好久不见", "好久不见，回来看看新品。", "text", by="test")
    publish_journey(app.services, JOURNEY, actor="test")
    record_events(app.services, "website", [RawItem({"id": "s1", "type": "signup", "phone": "+8613712345678"})])
    registry = ChannelRegistry.capture_all(("email", "sms"))
    runtime = JourneyRuntime(app.services, dispatcher=Dispatcher(app.services, channels=registry))
    try:
        runtime.tick()
    finally:
        assert runtime.dispatcher is not None
        runtime.dispatcher.close()
    (trace,) = trace_contact(app.services, "reactivate", "phone:+8613712345678")
    email, sms = trace.messages
    assert email["note"] == "email: no address → fell back to sms" and email["status"] == "failed"
    assert sms["channel"] == "sms" and sms["status"] == "sent" and sms["fallback_of"] == email["id"]
    (queued,) = [r for r in rows(app) if r.channel == "email"]
    assert queued.payload["fallback_window_s"] == 12 * 3600
    assert Counter(r.status for r in rows(app)) == {"failed": 1, "sent": 1}


def test_a_mangled_message_is_a_dead_letter_and_the_others_go_out(app: Application) -> None:
    good = contact(app, email="ok@fallback.test", phone="+8613712345678")
    ids = [queue(app, good, "email", {}, "run1:3"), queue(app, good, "sms", {}, "run2:3")]
    with app.engine.begin() as c:  # a row written by an older version, or by hand
        c.execute(outbox.update().where(outbox.c.id == ids[0]).values(payload=["not", "a", "mapping"]))
    registry = ChannelRegistry.capture_all(("email", "sms"))
    drain(app, registry)
    by_id = {r.id: r for r in rows(app)}
    assert by_id[ids[0]].status == "dead" and by_id[ids[0]].reason == "engine_error"
    assert "AttributeError" in by_id[ids[0]].last_error
    assert by_id[ids[1]].status == "sent" and len(sent_on(registry, "sms")) == 1
