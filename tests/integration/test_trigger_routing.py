"""Routing through the trigger index on a real database: journeys with and without an equality filter on one
event type each take exactly the events their trigger matches, and runs hear later events of their contact."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from sqlalchemy import event, func, select

from touchflow.bootstrap import Application
from touchflow.engine.runtime import JourneyRuntime
from touchflow.services.ingest import RawItem, record_events
from touchflow.services.journeys import publish_journey
from touchflow.store.tables import event_inbox, events, journey_runs, journeys

TRIGGERS = {
    "any_order": "{event: order_paid}",
    "campaign_a": "{event: order_paid, properties: {campaign: a}}",
    "campaign_ab": "{event: order_paid, properties: {campaign: [a, b]}}",
    "tier_5": "{event: order_paid, properties: {tier: 5}}",
}


def publish(app: Application, key: str, trigger: str) -> None:
    publish_journey(app.services, f"""
key: {key}
name: {key}
trigger: {trigger}
entry: {{max_entries: 5}}
exit_when: [{{event: refund_issued}}]
nodes:
  wait_day: {{kind: wait, duration: 1d, next: done}}
  done: {{kind: exit}}
""", actor="test")


def paid(app: Application, who: str, n: int, **properties: Any) -> None:
    report = record_events(app.services, "shop", [RawItem({
        "id": f"{who}-{n}", "type": "order_paid", "email": who, "occurred_at": app.services.clock.now().isoformat(),
        "properties": {"order_id": f"o-{who}-{n}", "amount": 100, **properties}})])
    assert report.accepted == 1, report.rejected


def runs(app: Application) -> list[tuple[str, str, str]]:
    """(who, journey key, status) of every run; ``who`` is the email the contact's first order came with."""
    with app.engine.connect() as c:
        who = {cid: eid.rsplit("-", 1)[0] for eid, cid in c.execute(select(events.c.id, events.c.contact_id))}
        rows = c.execute(select(journey_runs.c.contact_id, journeys.c.key, journey_runs.c.status)
                         .join(journeys, journeys.c.id == journey_runs.c.journey_id))
        return sorted((who[cid], str(k), str(s)) for cid, k, s in rows)


@contextmanager
def traced(app: Application, statements: list[str]) -> Iterator[None]:
    """Every statement the driver runs while inside, SQLAlchemy's and the raw cursors' alike."""
    recording = type("Recording", (psycopg.Cursor,), {"execute": lambda self, query, *a, **k: (
        statements.append(str(query)), psycopg.Cursor.execute(self, query, *a, **k))[1]})

    def checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        if isinstance(dbapi_connection, sqlite3.Connection):
            dbapi_connection.set_trace_callback(statements.append)
        else:
            dbapi_connection.cursor_factory = recording

    def checkin(dbapi_connection: Any, record: Any) -> None:
        if isinstance(dbapi_connection, sqlite3.Connection):
            dbapi_connection.set_trace_callback(None)
        else:
            dbapi_connection.cursor_factory = psycopg.Cursor

    event.listen(app.engine, "checkout", checkout)
    event.listen(app.engine, "checkin", checkin)
    try:
        yield
    finally:
        event.remove(app.engine, "checkout", checkout)
        event.remove(app.engine, "checkin", checkin)


def test_each_journey_takes_the_events_its_trigger_matches(app: Application) -> None:
    for key, trigger in TRIGGERS.items():
        publish(app, key, trigger)
    paid(app, "a@x.cn", 1, campaign="a")
    paid(app, "b@x.cn", 1, campaign="b", tier=5.0)
    paid(app, "c@x.cn", 1, campaign="c", tier="5")
    paid(app, "d@x.cn", 1)
    report = JourneyRuntime(app.services).route_events()
    assert report.events == 4
    assert runs(app) == [
        ("a@x.cn", "any_order", "waiting"), ("a@x.cn", "campaign_a", "waiting"), ("a@x.cn", "campaign_ab", "waiting"),
        ("b@x.cn", "any_order", "waiting"), ("b@x.cn", "campaign_ab", "waiting"), ("b@x.cn", "tier_5", "waiting"),
        ("c@x.cn", "any_order", "waiting"),
        ("d@x.cn", "any_order", "waiting"),
    ]

    # a later event of a contact with live runs reaches them (their facts are read under the lock)
    record_events(app.services, "shop", [RawItem({
        "id": "a@x.cn-refund", "type": "refund_issued", "email": "a@x.cn",
        "occurred_at": app.services.clock.now().isoformat(), "properties": {}})])
    assert JourneyRuntime(app.services).route_events().events == 1
    after = runs(app)
    assert [s for e, _, s in after if e == "a@x.cn"] == ["exited"] * 3
    assert [s for e, _, s in after if e != "a@x.cn"] == ["waiting"] * 5


def test_events_no_journey_hears_leave_the_inbox_without_reading_runs_or_properties(app: Application) -> None:
    """A busy inbox is mostly page views and sends nobody waits for (ADR 0065): routing takes them out with the
    claim and the delete alone, and still routes the events a journey hears in the same batch."""
    publish(app, "any_order", TRIGGERS["any_order"])
    paid(app, "a@x.cn", 1)
    record_events(app.services, "web", [RawItem({
        "id": f"view-{n}", "type": "page_view", "email": f"v{n}@x.cn",
        "occurred_at": app.services.clock.now().isoformat(), "properties": {"url": "/"}}) for n in range(20)])
    statements: list[str] = []
    runtime = JourneyRuntime(app.services)
    with traced(app, statements):  # what reaches the driver, the router's own cursors included
        report = runtime.route_events(limit=1)  # the order alone: it enters
        assert report.events == 1 and report.entered == 1
        statements.clear()
        report = runtime.route_events()  # twenty page views
    assert report.events == 20 and report.entered == 0
    read = [s for s in statements if "journey_runs" in s or "properties" in s]
    assert read == [], read
    with app.engine.connect() as c:
        assert c.execute(select(func.count()).select_from(event_inbox)).scalar_one() == 0
    assert runs(app) == [("a@x.cn", "any_order", "waiting")]
