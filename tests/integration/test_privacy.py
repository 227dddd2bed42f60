"""PIPL on SQLite and PostgreSQL: a person's data exported, erased for good (a re-import does not bring them back,
counts stay right), the consent ledger, and the opt-out of personalised marketing honoured by rendering and by
score-based targeting."""

from __future__ import annotations

import csv
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.domain.actors import Actor
from touchflow.domain.governance.principals import Principal
from touchflow.engine.channel_registry import ChannelRegistry
from touchflow.engine.dispatcher import Dispatcher
from touchflow.engine.importer import import_file
from touchflow.engine.runtime import JourneyRuntime
from touchflow.services.approvals import ApprovalRefused, approve
from touchflow.services.contacts import ContactNotFound, find_contact_id, get_contact_profile, patch_contact
from touchflow.services.content import preview_template, save_template
from touchflow.services.ingest import RawItem, record_events, upsert_contacts
from touchflow.services.journeys import journey_stats, publish_journey
from touchflow.services.privacy import (
    consent_history,
    erase_person,
    export_person,
    request_erasure,
    set_personalisation,
)
from touchflow.services.segments import create_segment, preview_segment, refresh_segment, segment_members
from touchflow.services.segments import update_segments as drain_segments
from touchflow.services.tracking import set_consents
from touchflow.store.tables import audit_log, contact_identities, contacts, events, outbox, rejects

OFFICER = Actor("os:dpo")
WELCOME = """
key: welcome
name: welcome
trigger: {kind: event, event: signup}
start: send
nodes:
  send: {kind: send, channel: email, template: hello, next: done}
  done: {kind: exit}
"""


def _write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def _person_with_history(app: Application, tmp_path: Path) -> tuple[Path, str]:
    """Two people from a CRM file; one signs up, goes through a journey and gets an email."""
    crm = _write_csv(tmp_path / "crm.csv", [
        {"email": "li.na@pipl.test", "phone": "13800000001", "name": "李娜", "consent.email": "granted"},
        {"email": "zhao@pipl.test", "phone": "13800000002", "name": "赵雷", "consent.email": "granted"}])
    assert import_file(app.services, crm, "contacts", "crm").rejected == 0
    save_template(app.services, "hello", "email", "欢迎", "{{ contact.name }}，欢迎！", "text", by="test")
    publish_journey(app.services, WELCOME, actor="test")
    record_events(app.services, "web", [
        RawItem({"id": "s1", "type": "signup", "email": "li.na@pipl.test",
                 "properties": {"page": "/spring", "comment": "我叫李娜，住在静安区", "amount": 3}}),
        RawItem({"id": "s2", "type": "signup", "email": "zhao@pipl.test"})])
    dispatcher = Dispatcher(app.services, channels=ChannelRegistry.capture_all(("email",)))
    try:
        JourneyRuntime(app.services, dispatcher=dispatcher).tick()
    finally:
        dispatcher.close()
    return crm, find_contact_id(app.services, "email:li.na@pipl.test")


def _counts(app: Application) -> tuple[Counter[tuple[str, str]], Counter[tuple[str, str]], int]:
    with app.engine.connect() as c:
        by_day = Counter((t, str(at.date())) for t, at in c.execute(select(events.c.type, events.c.occurred_at)))
        by_channel = Counter((ch, st) for ch, st in c.execute(select(outbox.c.channel, outbox.c.status)))
        people = int(c.execute(select(func.count()).select_from(contacts)).scalar() or 0)
    return by_day, by_channel, people


def test_export_holds_identities_consents_events_and_messages(app: Application, tmp_path: Path,
                                                              clock: VirtualClock) -> None:
    _, contact_id = _person_with_history(app, tmp_path)
    clock.advance(timedelta(hours=1))
    with app.services.uow() as uow:
        set_consents(uow, contact_id, {"email": "denied"}, "preferences", clock.now())
        uow.commit()
    doc = export_person(app.services, "email:li.na@pipl.test", actor=OFFICER)
    assert {(i["kind"], i["value"]) for i in doc["contact"]["identities"]} >= {("email", "li.na@pipl.test")}
    assert doc["contact"]["attributes"]["name"] == "李娜" and doc["contact"]["lineage"]["name"]["source"] == "crm"
    assert [(c["channel"], c["status"], c["source"]) for c in doc["consent_history"]] == [
        ("email", "granted", "crm"), ("email", "denied", "preferences")]  # the ledger keeps the grant too
    assert {e["type"] for e in doc["events"]} >= {"signup", "message_sent"}
    assert [(m["channel"], m["status"], m["address"]) for m in doc["messages"]] == [
        ("email", "sent", "li.na@pipl.test")]
    assert doc["journeys"][0]["journey"] == "welcome" and doc["personalisation"] == "allowed"
    with app.engine.connect() as c:
        assert c.execute(select(audit_log.c.action).where(audit_log.c.subject == contact_id)).scalars().all() == [
            "privacy.export"]
    shown = get_contact_profile(app.services, contact_id)  # `contact show` reads the same ledger
    assert shown.state.consents["email"].status == "denied"
    assert len(consent_history(app.services, contact_id)) == 2


def test_erased_person_stays_erased_when_the_same_file_is_imported_again(app: Application, tmp_path: Path) -> None:
    crm, contact_id = _person_with_history(app, tmp_path)
    before = _counts(app)
    stats_before = journey_stats(app.services, "welcome")
    done = erase_person(app.services, contact_id, actor=OFFICER, request_id="req-42")
    assert done.tombstones == 2 and done.counts.identities == 2
    assert _counts(app) == before  # events by type and day, messages by channel and status, contacts: unchanged
    stats_after = journey_stats(app.services, "welcome")
    assert stats_after.messages_by_status == stats_before.messages_by_status
    assert stats_after.runs_by_status == stats_before.runs_by_status
    with app.engine.connect() as c:
        row = c.execute(select(contacts).where(contacts.c.id == contact_id)).one()
        assert row.name is None and row.custom == {"erased": "req-42"}
        assert c.execute(select(func.count()).select_from(contact_identities)
                         .where(contact_identities.c.contact_id == contact_id)).scalar() == 0
        props = c.execute(select(events.c.properties).where(events.c.id == "s1")).scalar_one()
        assert props == {"amount": 3}  # the free text and the page went; the amount still adds up
        address = c.execute(select(outbox.c.address).where(outbox.c.contact_id == contact_id)).scalar_one()
        assert address is None
    try:
        find_contact_id(app.services, "email:li.na@pipl.test")
        raise AssertionError("the erased identifier still resolves")
    except ContactNotFound:
        pass

    report = import_file(app.services, crm, "contacts", "crm")  # the same CRM file, again
    assert report.rejected == 1 and report.rejects_file is not None
    assert "erased under PIPL request req-42" in report.rejects_file.read_text(encoding="utf-8-sig")
    with app.engine.connect() as c:
        kept = c.execute(select(rejects.c.reason, rejects.c.payload)).all()
        assert [p for r, p in kept if r == "erased under PIPL request req-42"] == [None]  # no PII kept again
    events_report = record_events(app.services, "web", [RawItem({"id": "s9", "type": "signup",
                                                                 "phone": "13800000001"})])
    assert events_report.accepted == 0 and "req-42" in events_report.rejected[0].reason
    try:
        find_contact_id(app.services, "email:li.na@pipl.test")
        raise AssertionError("the re-import resurrected the erased person")
    except ContactNotFound:
        pass
    assert find_contact_id(app.services, "email:zhao@pipl.test")  # the other row imported as before
    assert _counts(app) == before


def test_opt_out_falls_back_to_generic_content(app: Application) -> None:
    upsert_contacts(app.services, "crm", [RawItem({"email": "vip@pipl.test", "name": "钱多"})])
    patch_contact(app.services, "email:vip@pipl.test", actor="test", attributes={"custom.value_tier": "VIP"})
    record_events(app.services, "web", [RawItem({"id": "v1", "type": "product_viewed", "email": "vip@pipl.test",
                                                 "properties": {"product_id": "p1", "name": "真丝围巾"}})])
    body = ("{{ contact.name }}，{% if contact.high_value %}尊享会员专属{% else %}春季新品{% endif %}"
            "{% for r in recommendations %}·{{ r.name }}{% endfor %}")
    save_template(app.services, "dyn", "email", "上新", body, "text", by="test")
    assert preview_template(app.services, "dyn", "email:vip@pipl.test").text == "钱多，尊享会员专属·真丝围巾"
    assert set_personalisation(app.services, "email:vip@pipl.test", opted_out=True, actor=OFFICER)
    assert preview_template(app.services, "dyn", "email:vip@pipl.test").text == "钱多，春季新品"
    assert export_person(app.services, "email:vip@pipl.test", actor=OFFICER)["personalisation"] == "opted_out"


def test_opt_out_excluded_from_score_based_segments(app: Application) -> None:
    upsert_contacts(app.services, "crm", [RawItem({"email": f"{n}@score.test", "city": "上海"}) for n in "abc"])
    for n, score in (("a", 80), ("b", 90), ("c", 10)):
        patch_contact(app.services, f"email:{n}@score.test", actor="test", attributes={"custom.lead_score": score})
    hot = {"key": "hot", "name": "高分线索", "condition": {"attr": "custom.lead_score", "gte": 50}}
    city = {"key": "sh", "name": "上海", "condition": {"attr": "city", "eq": "上海"}}
    create_segment(app.services, hot, actor="test")
    create_segment(app.services, city, actor="test")
    assert len(segment_members(app.services, "hot")) == 2
    set_personalisation(app.services, "email:b@score.test", opted_out=True, actor=OFFICER)
    drain_segments(app.services)
    b = find_contact_id(app.services, "email:b@score.test")
    assert b not in {c for c, _ in segment_members(app.services, "hot")}  # left as the change drained
    assert len(segment_members(app.services, "hot")) == 1
    assert len(segment_members(app.services, "sh")) == 3  # not profiling: the city segment keeps everyone
    refresh_segment(app.services, "hot")
    assert len(segment_members(app.services, "hot")) == 1
    assert preview_segment(app.services, hot).count == 1
    set_personalisation(app.services, "email:b@score.test", opted_out=False, actor=OFFICER)
    drain_segments(app.services)
    assert len(segment_members(app.services, "hot")) == 2
    record_events(app.services, "app", [RawItem({"id": "oo1", "type": "personalisation_opted_out",
                                                 "email": "a@score.test"})])  # stated in the app
    drain_segments(app.services)
    assert {c for c, _ in segment_members(app.services, "hot")} == {b}


def test_erasure_needs_a_second_person(app: Application, tmp_path: Path) -> None:
    _, contact_id = _person_with_history(app, tmp_path)
    request = request_erasure(app.services, "email:li.na@pipl.test", actor=OFFICER, reason="工单 #881")
    assert request.kind == "privacy_erase" and request.state == "pending"
    with pytest.raises(ApprovalRefused):  # the requester cannot approve their own erasure
        approve(app.services, Principal.local_admin(OFFICER), request.id)
    viewer = Principal(Actor("os:viewer"), "custom", frozenset({"approvals.decide"}))
    with pytest.raises(ApprovalRefused):  # deciding needs privacy.manage too
        approve(app.services, viewer, request.id)
    assert find_contact_id(app.services, "email:li.na@pipl.test") == contact_id  # nothing happened yet
    done = approve(app.services, Principal.local_admin(Actor("os:second")), request.id)
    assert done.state == "executed" and done.result["tombstones"] == 2
    with pytest.raises(ContactNotFound):
        find_contact_id(app.services, "email:li.na@pipl.test")
    with app.engine.connect() as c:
        erased = c.execute(select(audit_log.c.actor, audit_log.c.details).where(
            audit_log.c.action == "privacy.erase")).one()
    assert erased.actor == "os:second" and erased.details["request"] == request.id


def test_tombstones_still_match_after_the_key_ring_rotates_past_its_grace(app: Application,
                                                                         clock: VirtualClock) -> None:
    upsert_contacts(app.services, "crm", [RawItem({"email": "rot@pipl.test"})])
    erase_person(app.services, find_contact_id(app.services, "email:rot@pipl.test"), actor=OFFICER,
                 request_id="req-7")
    for _ in range(2):  # the key that sealed the blind-index key is gone after the second rotation
        rotation = app.rotate_secret_key(timedelta(days=1), actor="ops")
        assert "privacy.blind_index" in rotation.resealed
        clock.advance(timedelta(days=2))
    report = upsert_contacts(app.services, "crm", [RawItem({"email": "ROT@pipl.test"})])
    assert report.contact_ids == [None] and report.rejected[0].reason == "erased under PIPL request req-7"


SCORED = """
key: scored
name: scored offer
trigger: {kind: event, event: visit}
start: pick
nodes:
  pick:
    kind: branch
    cases:
      - if: {attr: custom.predicted_ltv, gte: 5000}
        next: vip
    else: generic
  vip: {kind: send, channel: email, template: vip_offer, next: done}
  generic: {kind: send, channel: email, template: news, next: done}
  done: {kind: exit}
"""


def test_opt_out_takes_the_generic_branch_of_a_score_branch(app: Application) -> None:
    for name in ("vip_offer", "news"):
        save_template(app.services, name, "email", name, "{{ contact.email }}", "text", by="test")
    publish_journey(app.services, SCORED, actor="test")
    upsert_contacts(app.services, "crm", [RawItem({"email": f"{n}@branch.test"}) for n in ("in", "out")])
    for n in ("in", "out"):
        patch_contact(app.services, f"email:{n}@branch.test", actor="test", attributes={"predicted_ltv": 8000})
    set_personalisation(app.services, "email:out@branch.test", opted_out=True, actor=OFFICER)
    record_events(app.services, "web", [RawItem({"id": f"v-{n}", "type": "visit", "email": f"{n}@branch.test"})
                                        for n in ("in", "out")])
    JourneyRuntime(app.services).tick()
    with app.engine.connect() as c:
        sent = dict(c.execute(select(outbox.c.contact_id, outbox.c.template)).all())
    assert sent == {find_contact_id(app.services, "email:in@branch.test"): "vip_offer",
                    find_contact_id(app.services, "email:out@branch.test"): "news"}
