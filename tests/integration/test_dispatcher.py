"""The dispatcher against real providers and real races: faults, the frequency-cap race, the complaint race.

Each test runs on SQLite and on PostgreSQL (the ``app`` fixture).
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select

from tests.fakes.fixtures import fake_providers  # noqa: F401  (a fixture, used by name)
from tests.fakes.providers import FakeProviders, FaultPlan
from touchflow.bootstrap import Application
from touchflow.channels.base import Delivery, Outgoing
from touchflow.channels.sms import HttpSmsChannel, HttpSmsSettings
from touchflow.clock import VirtualClock
from touchflow.domain.messaging.ports import MessageUpdate
from touchflow.domain.outbox import OutboxMessage
from touchflow.engine.channel_registry import ChannelRegistry
from touchflow.engine.dispatcher import Dispatcher
from touchflow.engine.runtime import JourneyRuntime
from touchflow.services.content import save_template
from touchflow.services.guarding import set_guardrail_policy
from touchflow.services.ingest import RawItem, record_events, upsert_contacts
from touchflow.services.journeys import publish_journey
from touchflow.store.tables import contact_freezes, events, outbox, tasks


def make_contacts(app: Application, count: int) -> list[str]:
    report = upsert_contacts(app.services, "crm", [RawItem({
        "email": f"d{n}@dispatch.test", "phone": f"+86137{n:08d}"}) for n in range(count)])
    return [c for c in report.contact_ids if c is not None]


def enqueue(app: Application, messages: Sequence[tuple[str, str, dict[str, Any]]]) -> list[str]:
    """(contact_id, channel, payload) → queued outbox rows with the template ``t_<channel>``; their ids."""
    now = app.services.clock.now()
    for channel in sorted({channel for _, channel, _ in messages}):
        save_template(app.services, f"t_{channel}", channel, "春季上新", "{{ contact.email }}，春季新品已上市。",
                      "text", by="test")
    rows = [OutboxMessage(app.services.ids.new(now), f"test:{n}", None, contact_id, None, f"node{n}", channel,
                          f"t_{channel}", payload, "queued", 0, now, now) for n, (contact_id, channel, payload) in
            enumerate(messages)]
    with app.services.uow() as uow:
        uow.messages.enqueue(rows)
        uow.commit()
    return [r.id for r in rows]


def outbox_rows(app: Application) -> list[Any]:
    with app.engine.connect() as c:
        return list(c.execute(select(outbox).order_by(outbox.c.created_at, outbox.c.id)))


def test_provider_faults_end_every_message_sent_fallen_back_or_dead(app: Application, clock: VirtualClock,
                                                                    fake_providers: FakeProviders,  # noqa: F811
                                                                    ) -> None:
    fake = fake_providers
    contacts = make_contacts(app, 120)
    invalid = {f"+86137{n:08d}" for n in range(0, 120, 15)}  # 8 numbers the provider rejects for good
    fake.invalid.update(invalid)
    fake.set_faults(FaultPlan(error_5xx=0.3, timeout=0.1, rate_429=0.08, retry_after_s=1, stall_s=0.6, seed=4))
    retry = {"attempts": 6, "backoff_s": 2}
    ids = enqueue(app, [(cid, "sms", {"retry": retry, **({"fallback": ["email"]} if n % 2 else {})})
                        for n, cid in enumerate(contacts)])
    channels = ChannelRegistry.capture_all(("email",))
    channels.add("sms", HttpSmsChannel(HttpSmsSettings(f"{fake.url}/sms", fake.SMS_TOKEN, max_batch=10,
                                                       timeout=httpx.Timeout(0.3))), kind="sms_http")
    dispatcher = Dispatcher(app.services, batch_size=500, channels=channels)
    try:
        for _ in range(40):
            dispatcher.dispatch_all()
            if not any(r.status in ("queued", "sending") for r in outbox_rows(app)):
                break
            clock.advance(timedelta(minutes=5))
    finally:
        dispatcher.close()
    rows = {r.id: r for r in outbox_rows(app)}
    originals = [rows[i] for i in ids]
    assert {r.status for r in rows.values()} <= {"sent", "failed", "dead"}
    assert Counter(r.status for r in originals)["sent"] >= 100  # retries got most of them through
    for r in originals:
        if r.status == "sent":
            assert r.provider_id and r.sent_at is not None
        elif r.status == "failed":  # handed to its fallback channel
            assert r.reason == "fallback:email" and r.last_error
            follow = [f for f in rows.values() if f.payload.get("fallback_of") == r.id]
            assert len(follow) == 1 and follow[0].channel == "email" and follow[0].status == "sent"
        else:
            assert r.status == "dead" and r.reason in ("provider_rejected", "retries_exhausted") and r.last_error
    assert {r.address for r in originals if r.status != "sent"} >= invalid - {r.address for r in originals
                                                                               if r.status == "sent"}
    # every attempt of a message carried the same idempotency key, and none was accepted twice
    keys_by_number: dict[str, set[str]] = defaultdict(set)
    for _, path, body in fake.arrivals:
        if path == "/sms/messages":
            for m in json.loads(body)["messages"]:
                keys_by_number[m["to"]].add(m["idempotency_key"])
    assert keys_by_number and all(len(k) == 1 for k in keys_by_number.values())
    assert sum(len(json.loads(b)["messages"]) for _, p, b in fake.arrivals if p == "/sms/messages") > len(ids)
    with app.engine.connect() as c:
        lifecycle = Counter(c.execute(select(events.c.type).where(events.c.type.like("message_%"))).scalars())
    assert lifecycle["message_sent"] == sum(1 for r in rows.values() if r.status == "sent")
    assert lifecycle["message_failed"] == sum(1 for r in originals if r.status in ("failed", "dead"))


CAP_JOURNEY = """
key: cap_race_{n}
name: cap race {n}
trigger: {{kind: event, event: signup}}
start: send
nodes:
  send: {{kind: send, channel: email, template: cap_{n}, next: done}}
  done: {{kind: exit}}
"""


def test_cap_race_fifty_journeys_one_contact_one_send(app: Application) -> None:
    set_guardrail_policy(app.services, {"cap": {"per_day": 1}}, actor="test")
    for n in range(50):
        publish_journey(app.services, CAP_JOURNEY.format(n=n), actor="test")
    record_events(app.services, "website", [RawItem({"id": "s1", "type": "signup", "email": "race@cap.test"})])
    JourneyRuntime(app.services).tick()  # no dispatcher: 50 messages wait in the outbox
    assert len(outbox_rows(app)) == 50
    capture = ChannelRegistry.capture_all(("email",))
    dispatchers = [Dispatcher(app.services, batch_size=7, channels=capture) for _ in range(2)]
    start = threading.Barrier(2)

    def drain(d: Dispatcher) -> None:
        start.wait()
        d.dispatch_all()

    threads = [threading.Thread(target=drain, args=(d,)) for d in dispatchers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for d in dispatchers:
        d.close()
    rows = outbox_rows(app)
    assert Counter(r.status for r in rows) == {"sent": 1, "skipped": 49}
    assert {r.reason for r in rows if r.status == "skipped"} == {"frequency_cap"}
    assert len(capture.channels["email"].channel.sent) == 1  # type: ignore[attr-defined]


class SlowRecordingChannel:
    """A provider that takes ``delay`` per call and notes when each call started and ended."""

    name = "sms"
    max_batch = 5

    def __init__(self, delay: float, watch: str) -> None:
        self.delay = delay
        self.watch = watch
        self.in_call = threading.Event()  # set while a call to ``watch`` is in flight
        self.calls: list[tuple[float, float, list[str]]] = []
        self._lock = threading.Lock()

    def send(self, messages: Sequence[Outgoing]) -> list[Delivery]:
        started = time.monotonic()
        if any(m.contact_id == self.watch for m in messages):
            self.in_call.set()
        time.sleep(self.delay)
        with self._lock:
            self.calls.append((started, time.monotonic(), [m.contact_id for m in messages]))
        return [Delivery(m.message_id, "sent", provider_id=f"p-{m.message_id}") for m in messages]

    def close(self) -> None:
        pass


def test_complaint_race_nothing_is_sent_after_the_freeze_commits(app: Application, clock: VirtualClock) -> None:
    set_guardrail_policy(app.services, {"cap": {"per_day": 1000}, "quiet_hours": {"channels": []}}, actor="test")
    victim, other = make_contacts(app, 2)
    before = clock.now() - timedelta(minutes=1)
    # 100 messages for the victim, some of them already retrying, interleaved with another contact's
    enqueue(app, [(victim if n % 3 else other, "sms", {}) for n in range(150)])
    with app.services.uow() as uow:
        retrying = uow.messages.pending_of(victim)[:20]
        uow.messages.apply([MessageUpdate(m.id, "queued", before, "retrying", "503", attempted=True)
                            for m in retrying], clock.now())
        uow.commit()
    channel = SlowRecordingChannel(delay=0.05, watch=victim)
    registry = ChannelRegistry()
    registry.add("sms", channel, concurrency=2, kind="test")
    dispatcher = Dispatcher(app.services, batch_size=10, channels=registry, threads=2)
    worker = threading.Thread(target=dispatcher.dispatch_all)
    worker.start()
    assert channel.in_call.wait(30)  # the complaint arrives while a message to the victim is with the provider
    record_events(app.services, "service", [RawItem({  # the victim is d0@dispatch.test
        "id": "cpl-1", "type": "complaint", "email": "d0@dispatch.test", "properties": {"reason": "harassment"}})])
    committed = time.monotonic()
    worker.join(60)
    dispatcher.close()
    victim_calls = [(s, e) for s, e, ids in channel.calls if victim in ids]
    assert victim_calls, "the victim got nothing before the complaint: the race was not exercised"
    # the gate: a freeze commits only once every call to that contact has returned, and none starts later
    assert all(ended <= committed for _, ended in victim_calls)
    rows = [r for r in outbox_rows(app) if r.contact_id == victim]
    skipped = [r for r in rows if r.status == "skipped"]
    assert len(rows) == 100 and skipped and {r.reason for r in skipped} == {"complaint_freeze"}
    assert all(r.status in ("sent", "skipped") for r in rows)
    assert all(r.status == "sent" for r in outbox_rows(app) if r.contact_id == other)  # others unaffected
    with app.engine.connect() as c:
        freeze = c.execute(select(contact_freezes).where(contact_freezes.c.contact_id == victim)).one()
        task = c.execute(select(tasks).where(tasks.c.id == freeze.task_id)).one()
    assert task.queue == "service" and task.due_at - task.created_at == timedelta(hours=2)



FINANCE_JOURNEY = """
key: wealth_offer
name: 理财推荐
trigger: {kind: event, event: signup}
start: send
nodes:
  send: {kind: send, channel: email, template: wealth_offer, next: done}
  done: {kind: exit}
"""


def test_publishing_is_stopped_by_blocking_findings_and_pending_review(app: Application) -> None:
    import pytest

    from touchflow.services.content import decide_review, list_reviews
    from touchflow.services.journeys import JourneyError

    save_template(app.services, "wealth_offer", "email", "稳赚不赔的理财", "<p>保本保息，零风险</p>", "html",
                  by="editor")
    with pytest.raises(JourneyError, match="blocking Advertising-Law findings"):
        publish_journey(app.services, FINANCE_JOURNEY, actor="designer")
    save_template(app.services, "wealth_offer", "email", "稳健理财", "<p>历史年化收益仅供参考，理财有风险。</p>",
                  "html", tags=["finance"], by="editor")
    with pytest.raises(JourneyError, match="waits for compliance review"):
        publish_journey(app.services, FINANCE_JOURNEY, actor="designer")
    (review,) = list_reviews(app.services)
    decide_review(app.services, review.id, True, "compliance-officer")
    assert publish_journey(app.services, FINANCE_JOURNEY, actor="designer").version == 1


def test_provider_templates_fill_the_wechat_template_fields(app: Application, fake_providers: FakeProviders,  # noqa: F811
                                                           ) -> None:
    from touchflow.channels.wechat_mp import WechatMpChannel, WechatMpSettings

    fake = fake_providers
    report = upsert_contacts(app.services, "crm", [RawItem({"openid": "o-fan-1", "name": "李雷"})])
    (contact,) = [c for c in report.contact_ids if c]
    save_template(app.services, "order_shipped", "wechat_mp", "发货通知", json.dumps({
        "template_id": "TPL-SHIP-1", "url": "https://shop.example.cn/orders",
        "fields": {"first": "{{ contact.name }}，您的订单已发货", "remark": "感谢支持"}}, ensure_ascii=False),
        "text", by="editor")
    now = app.services.clock.now()
    with app.services.uow() as uow:
        uow.messages.enqueue([OutboxMessage("m-wx-1", "k-wx-1", None, contact, None, "ship", "wechat_mp",
                                            "order_shipped", {"purpose": "transactional"}, "queued", 0, now, now)])
        uow.commit()
    registry = ChannelRegistry()
    registry.add("wechat_mp", WechatMpChannel(WechatMpSettings(fake.MP_APP, fake.MP_SECRET, base_url=f"{fake.url}/mp")),
                 kind="wechat_mp")
    dispatcher = Dispatcher(app.services, channels=registry)
    dispatcher.dispatch_all()
    dispatcher.close()
    (row,) = outbox_rows(app)
    assert row.status == "sent", (row.reason, row.last_error)
    (sent,) = [r.json() for r in fake.requests("mp") if "template/send" in r.path]
    assert sent["touser"] == "o-fan-1" and sent["template_id"] == "TPL-SHIP-1"
    assert sent["data"]["first"]["value"] == "李雷，您的订单已发货"


def test_a_tick_dispatches_a_bounded_share_and_the_next_tick_goes_on(app: Application) -> None:
    """Behind a large broadcast a tick used to dispatch until the outbox was empty, and events waited for
    routing the whole time; now a tick claims at most ``tick_limit`` messages and the next tick goes on."""
    contacts = make_contacts(app, 30)
    enqueue(app, [(cid, "email", {}) for cid in contacts])
    dispatcher = Dispatcher(app.services, batch_size=4, channels=ChannelRegistry.capture_all(("email",)))
    runtime = JourneyRuntime(app.services, batch_size=4, dispatcher=dispatcher, contact_pass=False, tick_limit=8)
    try:
        counts = []
        while sum(counts) < len(contacts) and len(counts) < 20:
            counts.append(runtime.tick().dispatched)
        assert counts[0] == 8 and max(counts) <= 8, counts
        assert sum(counts) == len(contacts)
        assert dispatcher.dispatch_all() == 0  # every message went exactly once
        assert {r.status for r in outbox_rows(app)} == {"sent"}
    finally:
        dispatcher.close()
