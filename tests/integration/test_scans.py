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
    clock.advance(timedelta(days=30, hours=2))  # old@ went quiet 90 days ago two hours ago
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
                                                          "delay": "30d", "late_entry": "30d"}), actor="t")
    upsert_contacts(app.services, "crm", [RawItem({"email": "a@x.cn", "custom.contract_start": "2026-01-20"}),
                                          RawItem({"email": "b@x.cn", "custom.contract_start": "2026-02-15"}),
                                          RawItem({"email": "c@x.cn", "custom.contract_start": "2025-06-01"})])
    runtime = JourneyRuntime(app.services)
    runtime.tick()  # 2026-03-02: a's date + 30 d has passed (11 days ago), b's has not; c's is long past
    assert len(sent(app)) == 1
    clock.advance(timedelta(days=20))
    runtime.tick()
    assert len(sent(app)) == 2


def test_history_enters_nothing_late_entry_says_how_late_is_too_late(app: Application, clock: VirtualClock) -> None:
    """Issue 11 item 14: importing last month's events, or publishing a dormancy journey over a year of
    quiet contacts, must not start thousands of runs at once; what happened within late_entry still does."""
    publish_journey(app.services, journey("signup_hello", {"event": "signup"}), actor="t")
    publish_journey(app.services, journey("survey", {"after_event": "order_paid", "delay": "30d"}), actor="t")
    publish_journey(app.services, journey("dormant", {"inactive_for": "90d"}), actor="t")
    publish_journey(app.services, journey("dormant_catch_up", {"inactive_for": "90d", "late_entry": "365d"}),
                    actor="t")
    now = clock.now()

    def event(kind: str, email: str, ago: timedelta, **props: object) -> RawItem:
        return RawItem({"type": kind, "email": email, "occurred_at": (now - ago).isoformat(), "properties": props})

    record_events(app.services, "import", [
        event("signup", "stale@x.cn", timedelta(days=10)), event("signup", "fresh@x.cn", timedelta(hours=3)),
        event("order_paid", "buyer@x.cn", timedelta(days=10), order_id="o1", amount=1),   # survey due in 20 days
        event("order_paid", "old_buyer@x.cn", timedelta(days=40), order_id="o2", amount=1),  # was due 10 days ago
        event("page_view", "asleep@x.cn", timedelta(days=300), url="/"),  # quiet since 210 days
    ])
    runtime = JourneyRuntime(app.services)
    runtime.tick()
    clock.advance(timedelta(days=20, hours=1))
    runtime.tick()
    with app.engine.connect() as c:
        from touchflow.store.tables import contact_identities

        emails = dict(c.execute(select(contact_identities.c.contact_id, contact_identities.c.value)).all())
    entered = sorted((emails[cid], template) for cid, template in sent(app))
    assert entered == [("asleep@x.cn", "dormant_catch_up_mail"), ("buyer@x.cn", "survey_mail"),
                       ("fresh@x.cn", "signup_hello_mail")]


def test_a_ticks_report_counts_the_contacts_scans_entered(app: Application, clock: VirtualClock) -> None:
    """`worker --once` and the tick's report say how many entered, scans included (not only "scanned")."""
    publish_journey(app.services, journey("dormant", {"inactive_for": "90d"}), actor="t")
    views = [RawItem({"type": "page_view", "email": e, "properties": {"url": "/"},
                      "occurred_at": clock.now().isoformat()}) for e in ("a@x.cn", "b@x.cn")]
    record_events(app.services, "web", views, route=False)
    clock.advance(timedelta(days=90, hours=1))
    runtime = JourneyRuntime(app.services)
    total = 0
    for _ in range(5):  # a tick may leave part of a backlog for the next (ADR 0021)
        total += runtime.tick().entered
    assert total == 2 and len(sent(app)) == 2
