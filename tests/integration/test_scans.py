"""Triggers that are not events: delayed starts, inactivity, schedules, date attributes (J2)."""

from __future__ import annotations

from datetime import timedelta

import yaml
from sqlalchemy import select

from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.engine.runtime import JourneyRuntime
from touchflow.services.ingest import RawItem, record_events, upsert_contacts
from touchflow.services.journeys import publish_journey
from touchflow.store.tables import outbox


def journey(key: str, trigger: dict[str, object], **extra: object) -> str:
    return yaml.safe_dump({"key": key, "trigger": trigger, **extra, "nodes": {
        "hello": {"kind": "send", "channel": "email", "template": f"{key}_mail", "next": "end"}}})


def sent(app: Application) -> list[tuple[str, str]]:
    with app.engine.connect() as c:
        rows = c.execute(select(outbox.c.contact_id, outbox.c.template).order_by(outbox.c.created_at, outbox.c.id))
        return [(r.contact_id, r.template) for r in rows]


def test_after_event_starts_the_run_later(app: Application, clock: VirtualClock) -> None:
    publish_journey(app.services, journey("survey", {"after_event": "order_paid", "delay": "30d"}), actor="t")
    runtime = JourneyRuntime(app.services)
    record_events(app.services, "shop", [RawItem({"type": "order_paid", "phone": "13800138000",
                                                  "occurred_at": clock.now().isoformat(),
                                                  "properties": {"order_id": "o1", "amount": 99}})])
    runtime.tick()
    assert sent(app) == []
    clock.advance(timedelta(days=29, hours=23))
    runtime.tick()
    assert sent(app) == []
    clock.advance(timedelta(hours=1))
    runtime.tick()
    assert [t for _, t in sent(app)] == ["survey_mail"]


def test_inactivity_enters_only_contacts_quiet_for_the_whole_window(app: Application, clock: VirtualClock) -> None:
    publish_journey(app.services, journey("dormant", {"inactive_for": "90d"}), actor="t")
    runtime = JourneyRuntime(app.services)
    now = clock.now().isoformat()
    record_events(app.services, "web", [RawItem({"type": "page_view", "email": e, "occurred_at": now,
                                                 "properties": {"url": "/"}}) for e in ("old@x.cn", "busy@x.cn")],
                  route=False)
    upsert_contacts(app.services, "crm", [RawItem({"email": "never@x.cn"})])  # no history at all: not "dormant"
    clock.advance(timedelta(days=60))
    record_events(app.services, "web", [RawItem({"type": "page_view", "email": "busy@x.cn",
                                                 "occurred_at": clock.now().isoformat(), "properties": {"url": "/"}})],
                  route=False)
    runtime.tick()
    assert sent(app) == []
    clock.advance(timedelta(days=31))
    runtime.tick()
    with app.engine.connect() as c:
        from touchflow.store.tables import contact_identities

        old = c.execute(select(contact_identities.c.contact_id).where(contact_identities.c.value == "old@x.cn")
                        ).scalar_one()
    assert sent(app) == [(old, "dormant_mail")]
    clock.advance(timedelta(hours=2))
    runtime.tick()  # scanned again: entry rules keep it to one entry
    assert len(sent(app)) == 1


def test_schedule_enters_the_audience_at_the_time_of_day(app: Application, clock: VirtualClock) -> None:
    publish_journey(app.services, journey("monthly", {"schedule": {"every": "1d", "at": "09:00"},
                                                      "audience": {"tag": "vip"}},
                                          entry={"max_entries": 5, "cooldown": "1d"}), actor="t")
    upsert_contacts(app.services, "crm", [RawItem({"email": "vip@x.cn", "tags": "vip"}),
                                          RawItem({"email": "plain@x.cn"})])
    runtime = JourneyRuntime(app.services)
    # the clock starts at 09:00 Shanghai (01:00 UTC): the first firing is now
    runtime.tick()
    assert len(sent(app)) == 1
    clock.advance(timedelta(hours=12))
    runtime.tick()
    assert len(sent(app)) == 1
    clock.advance(timedelta(hours=12))
    runtime.tick()
    assert len(sent(app)) == 2


def test_date_attribute_trigger(app: Application, clock: VirtualClock) -> None:
    publish_journey(app.services, journey("anniversary", {"after_attribute": "custom.contract_start",
                                                          "delay": "30d"}), actor="t")
    upsert_contacts(app.services, "crm", [RawItem({"email": "a@x.cn", "custom.contract_start": "2026-01-20"}),
                                          RawItem({"email": "b@x.cn", "custom.contract_start": "2026-02-15"})])
    runtime = JourneyRuntime(app.services)
    runtime.tick()  # 2026-03-02: a's date + 30 d has passed, b's has not
    assert len(sent(app)) == 1
    clock.advance(timedelta(days=20))
    runtime.tick()
    assert len(sent(app)) == 2
