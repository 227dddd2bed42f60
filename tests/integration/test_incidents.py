"""Breach response (P7) on SQLite and PostgreSQL: the kill switch stops a broadcast within one batch, exports are
refused while it is on, the three clocks go overdue on the virtual clock, affected people and the timeline."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import timedelta

import pytest
from sqlalchemy import select

from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.domain.actors import Actor
from touchflow.domain.errors import FieldError
from touchflow.domain.governance.account_ports import SessionRecord
from touchflow.domain.governance.principals import Principal
from touchflow.domain.outbox import OutboxMessage
from touchflow.engine.channel_registry import ChannelRegistry
from touchflow.engine.dispatcher import Dispatcher
from touchflow.engine.runtime import JourneyRuntime
from touchflow.services.accounts import create_user
from touchflow.services.apikeys import create_api_key
from touchflow.services.approvals import ApprovalRefused, approve
from touchflow.services.content import save_template
from touchflow.services.exports import exports_frozen as approved_exports_frozen
from touchflow.services.incident_state import ExportsFrozen, exports_frozen
from touchflow.services.incidents import (
    affected_contacts,
    close_incident,
    draft_notifications,
    get_incident,
    incident_timeline,
    list_incidents,
    mark_step_done,
    open_incident,
    resume_sending,
    send_notifications,
)
from touchflow.services.ingest import RawItem, record_events, upsert_contacts
from touchflow.services.journeys import publish_journey
from touchflow.services.privacy import export_person
from touchflow.store.tables import api_keys, outbox, sessions

BROADCAST = """
key: spring_broadcast
name: spring broadcast
trigger: {kind: event, event: campaign_go}
start: send
nodes:
  send: {kind: send, channel: email, template: spring, next: done}
  done: {kind: exit}
"""

RESPONDER = Actor("os:responder")


def _broadcast(app: Application, people: int) -> None:
    save_template(app.services, "spring", "email", "春季上新", "{{ contact.name }}，新品上市。", "text", by="test")
    publish_journey(app.services, BROADCAST, actor="test")
    record_events(app.services, "website", [RawItem({"id": f"go{n}", "type": "campaign_go",
                                                      "email": f"p{n}@kill.test"}) for n in range(people)])
    JourneyRuntime(app.services).tick()  # no dispatcher: every message waits in the outbox


def test_kill_switch_stops_an_in_flight_broadcast_within_one_batch(app: Application) -> None:
    _broadcast(app, 60)
    capture = ChannelRegistry.capture_all(("email",))
    opened: list[str] = []

    def open_after_first_batch(sent: Sequence[OutboxMessage], _: object) -> None:
        if not opened:  # the breach is noticed while the broadcast is going out
            opened.append(open_incident(app.services, actor=RESPONDER, summary="leaked export").incident.id)

    dispatcher = Dispatcher(app.services, batch_size=10, channels=capture, on_sent=open_after_first_batch)
    try:
        dispatcher.dispatch_all()
        dispatcher.dispatch_all()  # a later worker pass claims nothing either
        sent_while_on = len(capture.channels["email"].channel.sent)  # type: ignore[attr-defined]
        with app.engine.connect() as c:
            statuses = Counter(c.execute(select(outbox.c.status)).scalars())
        assert opened and sent_while_on == 10  # the batch already claimed finished; nothing after it
        assert statuses == {"sent": 10, "queued": 50}
        assert dispatcher.report.halted >= 2
        assert resume_sending(app.services, actor=RESPONDER) == opened[0]
        dispatcher.dispatch_all()
        assert len(capture.channels["email"].channel.sent) == 60  # type: ignore[attr-defined]
    finally:
        dispatcher.close()


def test_exports_refused_while_the_kill_switch_is_on(app: Application) -> None:
    upsert_contacts(app.services, "crm", [RawItem({"email": "frozen@export.test", "name": "王五"})])
    assert not exports_frozen(app.services)
    incident = open_incident(app.services, actor=RESPONDER, summary="suspicious login").incident
    assert exports_frozen(app.services) and approved_exports_frozen(app.services)  # the approvals' exports too
    with pytest.raises(ExportsFrozen):
        export_person(app.services, "email:frozen@export.test", actor=RESPONDER)
    resume_sending(app.services, actor=RESPONDER)
    assert not approved_exports_frozen(app.services)
    assert export_person(app.services, "email:frozen@export.test", actor=RESPONDER)["contact"]["identities"]
    actions = [row["action"] for row in incident_timeline(app.services, incident.id)]
    assert actions == ["incident.open", "incident.kill_switch", "incident.resume"]


def test_clocks_go_overdue_on_the_virtual_clock(app: Application, clock: VirtualClock) -> None:
    view = open_incident(app.services, actor=RESPONDER, summary="laptop stolen")
    assert {c.step: c.state for c in view.clocks} == {"isolate": "open", "report": "open", "notify": "open"}
    assert {c.step: c.due_at - view.incident.opened_at for c in view.clocks} == {
        "isolate": timedelta(hours=1), "report": timedelta(hours=4), "notify": timedelta(hours=24)}
    clock.advance(timedelta(minutes=30))
    mark_step_done(app.services, view.incident.id, "isolate", actor=RESPONDER, note="keys revoked")
    clock.advance(timedelta(hours=4))  # 4 h 30 m in: the regulator report is late
    states = {c.step: (c.state, c.document()["left"]) for c in get_incident(app.services, view.incident.id).clocks}
    assert states["isolate"][0] == "done"
    assert states["report"] == ("overdue", "overdue by 0h 30m")
    assert states["notify"] == ("open", "19h 30m left")
    with pytest.raises(FieldError):
        mark_step_done(app.services, view.incident.id, "isolate", actor=RESPONDER)
    closed = close_incident(app.services, view.incident.id, actor=RESPONDER)
    assert closed.incident.status == "closed" and [i.incident.status for i in list_incidents(app.services)] == [
        "closed"]


def test_revoke_access_revokes_every_api_key_and_session(app: Application, clock: VirtualClock) -> None:
    create_api_key(app.services, "crm-sync", actor="test")
    create_api_key(app.services, "bi", actor="test")
    user = create_user(app.services, "ops@incident.test", "值班", "admin", "correct horse battery 42",
                       actor=RESPONDER)
    now = clock.now()
    with app.services.uow() as uow:
        uow.accounts.add_session(SessionRecord("s" * 64, user.id, "active", "csrf", now, now, now + timedelta(hours=1)))
        uow.commit()
    view = open_incident(app.services, actor=RESPONDER, summary="key in a public repo", revoke_access=True)
    assert view.revoked == {"api_keys": 2, "sessions": 1}
    with app.engine.connect() as c:
        assert all(r is not None for r in c.execute(select(api_keys.c.revoked_at)).scalars())
        assert all(r is not None for r in c.execute(select(sessions.c.revoked_at)).scalars())


def test_affected_people_and_notices_queued(app: Application, clock: VirtualClock) -> None:
    upsert_contacts(app.services, "crm", [RawItem({"email": "old@aff.test"})])
    clock.advance(timedelta(days=3))
    since = clock.now()
    clock.advance(timedelta(hours=1))
    report = upsert_contacts(app.services, "crm", [RawItem({"email": "new@aff.test", "phone": "+8613700000001"})])
    view = open_incident(app.services, actor=RESPONDER, summary="crm sync leaked", since=since)
    assert affected_contacts(app.services, view.incident.id) == [report.contact_ids[0]]
    queued = send_notifications(app.services, view.incident.id, ["sms", "email"], actor=RESPONDER)
    assert queued == 2
    assert send_notifications(app.services, view.incident.id, ["sms", "email"], actor=RESPONDER) == 2  # idempotent
    with app.engine.connect() as c:
        rows = list(c.execute(select(outbox.c.channel, outbox.c.payload)))
    assert len(rows) == 2 and all("安全事件" in r.payload["text"] for r in rows)


def test_notices_go_out_only_after_a_second_person_approves(app: Application) -> None:
    upsert_contacts(app.services, "crm", [RawItem({"email": "n1@aff.test", "phone": "+8613700000009"})])
    view = open_incident(app.services, actor=RESPONDER, summary="短信平台账号泄露")
    request = draft_notifications(app.services, view.incident.id, actor=RESPONDER, channels=("sms",))
    assert "短信平台账号泄露" in request.payload["drafts"]["sms"] and request.payload["affected"] == 1
    with app.engine.connect() as c:
        assert c.execute(select(outbox.c.id)).first() is None  # drafted, not queued
    with pytest.raises(ApprovalRefused):
        approve(app.services, Principal.local_admin(RESPONDER), request.id)
    done = approve(app.services, Principal.local_admin(Actor("os:ciso")), request.id)
    assert done.state == "executed" and done.result == {"queued": 1}
    actions = [row["action"] for row in incident_timeline(app.services, view.incident.id)]
    assert actions[-2:] == ["incident.notify.drafted", "incident.notify.queued"]
