"""Runs per key and dates from the data (issue 11 item 6): a journey may run once per order or appointment,
and a wait may end at a moment the data names ("1 day before the appointment", "2 days before the coupon
expires") — on SQLite and PostgreSQL, and in the sandbox."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.domain.journeys.parse import DefinitionError, parse_journey
from touchflow.engine.runtime import JourneyRuntime
from touchflow.services.ingest import RawItem, record_events, upsert_contacts
from touchflow.services.journeys import publish_journey
from touchflow.store.tables import journey_runs, outbox


def journey(key: str, trigger: dict[str, Any], nodes: dict[str, Any], **extra: Any) -> str:
    return yaml.safe_dump({"key": key, "trigger": trigger, **extra, "nodes": nodes}, allow_unicode=True,
                          sort_keys=False)


SEND = {"kind": "send", "channel": "email", "template": "reminder_mail", "next": "end"}


def emit(app: Application, kind: str, email: str, **props: Any) -> None:
    record_events(app.services, "shop", [RawItem({"type": kind, "email": email,
                                                  "occurred_at": app.services.clock.now().isoformat(),
                                                  "properties": props})])


def runs(app: Application) -> list[tuple[str | None, str]]:
    with app.engine.connect() as c:
        return sorted(((r.entry_key, r.status) for r in c.execute(select(journey_runs.c.entry_key,
                                                                         journey_runs.c.status))),
                      key=lambda x: (x[0] or "", x[1]))


def sends(app: Application) -> list[Any]:
    with app.engine.connect() as c:
        return list(c.execute(select(outbox.c.created_at).order_by(outbox.c.created_at)).scalars())


def test_one_run_per_order_not_per_contact(app: Application) -> None:
    publish_journey(app.services, journey("order_followup", {"event": "order_paid"}, {
        "wait_2d": {"kind": "wait", "duration": "2d", "next": "thanks"}, "thanks": SEND},
        entry={"key": "properties.order_id"}), actor="t")
    publish_journey(app.services, journey("per_contact", {"event": "order_paid"}, {
        "wait_2d": {"kind": "wait", "duration": "2d", "next": "thanks"}, "thanks": SEND}), actor="t")
    runtime = JourneyRuntime(app.services)
    emit(app, "order_paid", "buyer@x.cn", order_id="A-1", amount=10)
    emit(app, "order_paid", "buyer@x.cn", order_id="A-2", amount=20)  # a second order while the first waits
    emit(app, "order_paid", "buyer@x.cn", order_id="A-1", amount=10)  # the shop sent A-1 again
    emit(app, "order_paid", "buyer@x.cn", amount=5)  # no order id: the keyed journey has nothing to run for
    runtime.tick()
    assert runs(app) == [(None, "waiting"), ("A-1", "waiting"), ("A-2", "waiting")]


def test_wait_until_a_day_before_the_appointment(app: Application, clock: VirtualClock) -> None:
    publish_journey(app.services, journey("appointment", {"event": "appointment_booked"}, {
        "wait": {"kind": "wait", "until_date": {"date": "properties.appointment_at", "before": "1d"},
                 "next": "remind"}, "remind": SEND}, entry={"key": "properties.booking_id", "max_entries": 5}),
        actor="t")
    runtime = JourneyRuntime(app.services)
    start = clock.now()
    at = start + timedelta(days=3, hours=5)
    emit(app, "appointment_booked", "p@x.cn", booking_id="B1", appointment_at=at.isoformat())
    emit(app, "appointment_booked", "p@x.cn", booking_id="B2",  # tomorrow morning: "a day before" has passed
         appointment_at=(start + timedelta(hours=20)).isoformat())
    emit(app, "appointment_booked", "p@x.cn", booking_id="B3")  # no date: nothing to remind of
    emit(app, "appointment_booked", "p@x.cn", booking_id="B4", appointment_at="下周三")
    runtime.tick()
    assert sends(app) == [start]  # B2 at once
    assert runs(app) == [("B1", "waiting"), ("B2", "completed"), ("B3", "exited"), ("B4", "exited")]
    clock.advance(timedelta(days=2, hours=4, minutes=59))
    runtime.tick()
    assert len(sends(app)) == 1
    clock.advance(timedelta(minutes=1))
    runtime.tick()
    assert sends(app)[1] == at - timedelta(days=1)
    with app.engine.connect() as c:
        reasons = dict(c.execute(select(journey_runs.c.entry_key, journey_runs.c.status)).all())
    assert reasons["B1"] == "completed"


def test_wait_relative_to_a_contact_date_attribute_in_the_contacts_zone(app: Application, clock: VirtualClock
                                                                       ) -> None:
    publish_journey(app.services, journey("coupon", {"event": "coupon_claimed"}, {
        "wait": {"kind": "wait", "until_date": {"date": "custom.coupon_expires_at", "before": "2d"},
                 "next": "remind"}, "remind": SEND}), actor="t")
    # A date alone is midnight where the contact lives: 2026-03-10 00:00 in Berlin is 23:00 UTC on the 9th.
    upsert_contacts(app.services, "crm", [RawItem({"email": "c@x.cn", "custom.coupon_expires_at": "2026-03-10",
                                                   "timezone": "Europe/Berlin"})])
    runtime = JourneyRuntime(app.services)
    emit(app, "coupon_claimed", "c@x.cn", coupon_id="spring")
    runtime.tick()
    clock.advance(timedelta(days=5, hours=21, minutes=59))  # 2026-03-07 22:59 UTC
    runtime.tick()
    assert sends(app) == []
    clock.advance(timedelta(minutes=1))
    runtime.tick()
    assert [s.isoformat() for s in sends(app)] == ["2026-03-07T23:00:00+00:00"]


@pytest.mark.parametrize(("document", "where"), [
    ({"trigger": {"inactive_for": "90d"}, "entry": {"key": "properties.order_id"}}, "entry.key"),
    ({"trigger": {"event": "order_paid"}, "entry": {"key": "order_id"}}, "entry.key"),
    ({"trigger": {"inactive_for": "90d"}, "nodes": {"w": {"kind": "wait", "until_date": {
        "date": "properties.appointment_at"}, "next": "end"}}}, "nodes.w.until_date.date"),
    ({"trigger": {"event": "x"}, "nodes": {"w": {"kind": "wait", "until_date": {
        "date": "properties.at", "before": "1d", "after": "1d"}, "next": "end"}}}, "nodes.w.until_date"),
    ({"trigger": {"event": "x"}, "nodes": {"w": {"kind": "wait", "duration": "1d", "until_date": {
        "date": "properties.at"}, "next": "end"}}}, "nodes.w"),
])
def test_definition_errors_name_the_place(document: dict[str, Any], where: str) -> None:
    base: dict[str, Any] = {"key": "k", "nodes": {"hello": SEND}}
    with pytest.raises(DefinitionError) as caught:
        parse_journey({**base, **document})
    assert caught.value.path == where


def test_the_sandbox_runs_per_booking_and_waits_for_the_date_in_the_event() -> None:
    """The same journey in ``journey simulate``: two bookings of one person, two reminders, each a day before."""
    from touchflow.bootstrap import open_sandbox
    from touchflow.domain.journeys.scenarios import parse_scenario
    from touchflow.engine.simulator import simulate

    definition = journey("appointment", {"event": "appointment_booked"}, {
        "wait": {"kind": "wait", "until_date": {"date": "properties.appointment_at", "before": "1d"},
                 "next": "remind"}, "remind": {**SEND, "template": "appointment_reminder"}},
        entry={"key": "properties.booking_id", "max_entries": 10})
    scenario = parse_scenario({"name": "two bookings", "start": "2026-03-02T09:00:00+08:00", "duration": "10d",
                               "personas": [{"name": "patient", "count": 2, "events": [
                                   {"at": "0d", "type": "appointment_booked", "properties": {
                                       "booking_id": "B1", "appointment_at": "2026-03-05T10:00:00+08:00"}},
                                   {"at": "1d", "type": "appointment_booked", "properties": {
                                       "booking_id": "B2", "appointment_at": "2026-03-09T15:30:00+08:00"}}]}],
                               "expect": [
                                   {"name": "first reminder a day before", "persona": "patient",
                                    "template": "appointment_reminder", "between": ["2d1h", "2d1h1m"]},
                                   {"name": "second reminder a day before", "persona": "patient",
                                    "template": "appointment_reminder", "between": ["6d6h30m", "6d6h31m"]}]})
    result = simulate([definition], scenario, open_store=open_sandbox)
    assert [f"{c.name}: {c.detail}" for c in result.checks if not c.passed] == []
    assert result.passed


def test_trace_names_the_key_of_each_run(app: Application) -> None:
    from touchflow.services.journeys import trace_contact

    publish_journey(app.services, journey("order_followup", {"event": "order_paid"}, {
        "wait_2d": {"kind": "wait", "duration": "2d", "next": "thanks"}, "thanks": SEND},
        entry={"key": "properties.order_id"}), actor="t")
    emit(app, "order_paid", "buyer@x.cn", order_id="A-7", amount=10)
    JourneyRuntime(app.services).tick()
    assert [t.document()["key"] for t in trace_contact(app.services, "order_followup", "email:buyer@x.cn")] == ["A-7"]
