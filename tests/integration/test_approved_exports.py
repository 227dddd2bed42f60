"""Approved exports, bulk deletion and export-scope API keys (P4), on SQLite and PostgreSQL: nothing leaves or
disappears before a second person approves; an export is produced once, watermarked, kept only as ciphertext,
handed to its requester alone for 24 h, every download audited, frozen by the incident kill switch."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import openpyxl
import pytest
from sqlalchemy import select

from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.domain.actors import Actor
from touchflow.domain.errors import FieldError
from touchflow.domain.governance.principals import Principal
from touchflow.services.accounts import create_user
from touchflow.services.apikeys import authenticate_api_key
from touchflow.services.approval_files import PickupRefused, purge_artifacts
from touchflow.services.approval_kinds import pick_up_key, request_contacts_delete
from touchflow.services.approvals import (
    ApprovalNotFound,
    ApprovalRefused,
    approve,
    execute_approved,
    request_approval,
)
from touchflow.services.contacts import ContactNotFound, find_contact_id
from touchflow.services.context import save_setting
from touchflow.services.exports import (
    KILL_SWITCH_KEY,
    download_export,
    exports_frozen,
    request_export,
)
from touchflow.services.ingest import RawItem, record_events, upsert_contacts
from touchflow.services.segments import add_members, create_segment
from touchflow.store.tables import approval_artifacts, audit_log, contact_identities, contacts, events

ALICE = Actor.os_user("alice")  # asks
BOB = Principal.local_admin(Actor.api_key("k-bob", "bob"))  # approves
MALLORY = Actor.api_key("k-mallory", "mallory")


def people(app: Application) -> None:
    upsert_contacts(app.services, "crm", [
        RawItem({"email": "mei@example.com", "name": "韩梅梅", "company": "=HYPERLINK(\"http://x\")", "city": "上海",
                 "tags": "vip"}),
        RawItem({"phone": "13800138000", "name": "李雷", "city": "北京"}),
    ])


def audit_actions(app: Application, subject: str) -> list[str]:
    with app.engine.connect() as c:
        return [r.action for r in c.execute(select(audit_log).where(audit_log.c.subject == subject)
                                            .order_by(audit_log.c.id))]


def test_csv_export_is_approved_produced_once_sealed_watermarked_and_for_the_requester_only(
        app: Application, clock: VirtualClock) -> None:
    people(app)
    request = request_export(app.services, ALICE, fields=["id", "name", "email", "phone", "company", "tags"],
                             reason="年度客户回访名单")
    with pytest.raises(PickupRefused) as early:
        download_export(app.services, ALICE, request.id)
    assert early.value.code == "not_ready"
    done = approve(app.services, BOB, request.id, note="ok")
    assert done.state == "executed" and done.result["rows"] == 2 and done.result["produced"] is True

    with app.engine.connect() as c:
        stored = c.execute(select(approval_artifacts)).one()
    assert b"mei@example.com" not in stored.ciphertext and "mei@example.com".encode("utf-16-le") not in \
        stored.ciphertext and b"13800138000" not in stored.ciphertext
    assert stored.name == f"touchflow-export-{request.id}.csv"

    got = download_export(app.services, ALICE, request.id)
    assert got.name == stored.name and got.media_type.startswith("text/csv")
    rows = list(csv.reader(io.StringIO(got.data.decode("utf-8-sig"))))
    assert rows[0] == ["export_id", "id", "name", "email", "phone", "company", "tags"]
    by_name = {r[2]: r for r in rows[1:]}
    assert {r[0] for r in rows[1:]} == {request.id}  # the watermark on every row
    assert by_name["韩梅梅"][3:7] == ["mei@example.com", "", "'=HYPERLINK(\"http://x\")", "vip"]
    assert by_name["李雷"][4] == "'+8613800138000"  # formula-safe: a leading + is neutralised
    again = download_export(app.services, ALICE, request.id)
    assert again.data == got.data

    with pytest.raises(ApprovalRefused, match="already executed"):  # a second approval produces nothing
        approve(app.services, Principal.local_admin(Actor.api_key("k-carol", "carol")), request.id)
    with pytest.raises(ApprovalRefused):
        execute_approved(app.services, request.id, by=BOB.actor)
    with app.engine.connect() as c:
        assert len(c.execute(select(approval_artifacts)).all()) == 1

    for other in (MALLORY, BOB.actor):
        with pytest.raises(ApprovalNotFound):
            download_export(app.services, other, request.id)
    subject = f"approval:{request.id}"
    assert audit_actions(app, subject) == ["approval.request", "approval.approve", "export.produce",
                                           "approval.execute", "approval.download", "approval.download",
                                           "approval.download_refused", "approval.download_refused"]

    clock.advance(timedelta(hours=24))
    with pytest.raises(PickupRefused) as late:
        download_export(app.services, ALICE, request.id)
    assert late.value.code == "gone"
    assert purge_artifacts(app.services) == [request.id]
    with app.engine.connect() as c:
        purged = c.execute(select(approval_artifacts)).one()
    assert purged.ciphertext is None and purged.sealed_key is None and purged.purged_at == clock.now()
    assert purged.downloads == 2
    assert purge_artifacts(app.services) == []
    assert audit_actions(app, subject)[-1] == "approval.purge"


def test_xlsx_and_json_exports_of_a_segment_carry_the_watermark(app: Application) -> None:
    people(app)
    create_segment(app.services, {"key": "shanghai", "name": "上海客户", "kind": "static"}, actor="t")
    add_members(app.services, "shanghai", ["email:mei@example.com"], actor="t")
    for fmt in ("xlsx", "json"):
        request = request_export(app.services, ALICE, source="segment", segment="shanghai", fmt=fmt,
                                 fields=["name", "email", "company"], reason="活动邀请")
        approve(app.services, BOB, request.id)
        got = download_export(app.services, ALICE, request.id)
        assert got.name == f"touchflow-export-{request.id}.{fmt}"
        if fmt == "json":
            document = json.loads(got.data)
            assert document["export"]["id"] == request.id and request.id in document["export"]["watermark"]
            assert document["rows"] == [{"export_id": request.id, "name": "韩梅梅", "email": "mei@example.com",
                                         "company": "=HYPERLINK(\"http://x\")"}]
        else:
            book = openpyxl.load_workbook(io.BytesIO(got.data))
            sheet = book["export"]
            values = [[c.value for c in row] for row in sheet.iter_rows()]
            assert values == [["export_id", "name", "email", "company"],
                              [request.id, "韩梅梅", "mei@example.com", "'=HYPERLINK(\"http://x\")"]]
            assert request.id in (book.properties.title or "") and request.id in (book.properties.description or "")
            assert sheet["A1"].comment is not None and request.id in sheet["A1"].comment.text


def test_export_input_is_checked_when_requested(app: Application) -> None:
    with pytest.raises(FieldError, match="format"):
        request_export(app.services, ALICE, fmt="pdf", reason="r")
    with pytest.raises(FieldError, match="unknown field 'password'"):
        request_export(app.services, ALICE, fields=["password"], reason="r")
    with pytest.raises(FieldError, match="no active segment"):
        request_export(app.services, ALICE, source="segment", segment="nope", reason="r")


def test_the_incident_kill_switch_freezes_exports(app: Application) -> None:
    people(app)
    pending = request_export(app.services, ALICE, reason="r")
    produced = request_export(app.services, ALICE, reason="r")
    approve(app.services, BOB, produced.id)
    save_setting(app.services, KILL_SWITCH_KEY, {"on": True, "reason": "INC-7"}, actor="incident", action="kill")
    assert exports_frozen(app.services)
    with pytest.raises(ApprovalRefused, match="frozen"):
        request_export(app.services, ALICE, reason="r")
    with pytest.raises(ApprovalRefused, match="INC-7") as held:
        approve(app.services, BOB, pending.id)
    assert held.value.code == "held"
    with pytest.raises(PickupRefused) as frozen:
        download_export(app.services, ALICE, produced.id)
    assert frozen.value.code == "frozen"
    save_setting(app.services, KILL_SWITCH_KEY, {"on": False}, actor="incident", action="unkill")
    assert not exports_frozen(app.services)
    assert approve(app.services, BOB, pending.id).state == "executed"  # it waited, still pending
    assert download_export(app.services, ALICE, produced.id).data


def test_bulk_deletion_happens_only_after_approval(app: Application) -> None:
    people(app)
    upsert_contacts(app.services, "crm", [RawItem({"email": "keep@example.com", "name": "留下"})])
    record_events(app.services, "web", [RawItem({"email": "mei@example.com", "type": "page_view",
                                                 "occurred_at": app.services.clock.now().isoformat()})])
    create_segment(app.services, {"key": "leaving", "name": "to delete", "kind": "static"}, actor="t")
    add_members(app.services, "leaving", ["email:mei@example.com", "phone:13800138000"], actor="t")
    request = request_contacts_delete(app.services, ALICE, segment="leaving", reason="客户要求删除")
    assert request.payload["count"] == 2
    assert find_contact_id(app.services, "email:mei@example.com")  # still there while pending
    with pytest.raises(ApprovalRefused):
        approve(app.services, Principal.local_admin(ALICE), request.id)
    assert find_contact_id(app.services, "email:mei@example.com")
    done = approve(app.services, BOB, request.id)
    assert done.state == "executed" and done.result["deleted"] == 2
    for gone in ("email:mei@example.com", "phone:13800138000"):
        with pytest.raises(ContactNotFound):
            find_contact_id(app.services, gone)
    with app.engine.connect() as c:
        assert [r.name for r in c.execute(select(contacts))] == ["留下"]
        assert len(c.execute(select(contact_identities)).all()) == 1
        assert c.execute(select(events)).all() == []
    with pytest.raises(FieldError, match="no contact matches"):
        request_contacts_delete(app.services, ALICE, contacts=["email:nobody@example.com"], reason="r")


def test_an_api_key_with_the_export_scope_exists_only_after_approval(app: Application) -> None:
    with pytest.raises(FieldError, match="owner"):  # a personal key needs an enabled account
        request_approval(app.services, ALICE, "apikey_export_scope", "key:crm-sync",
                         {"name": "crm-sync", "owner": "ops@example.com"}, reason="r")
    ops = create_user(app.services, "ops@example.com", "运维", "strategist", "Correct-Horse-42-battery", actor=ALICE)
    request = request_approval(app.services, ALICE, "apikey_export_scope", "key:crm-sync",
                               {"name": "crm-sync", "scopes": ["contacts.read", "contacts.export"],
                                "owner": "ops@example.com"}, reason="CRM 夜间同步")
    with app.services.reader() as uow:
        assert [k.name for k in uow.api_keys.all()] == []
    done = approve(app.services, BOB, request.id)
    assert done.state == "executed" and done.result["scopes"] == ["contacts.export", "contacts.read"]
    assert "tf_" not in json.dumps(dict(done.result))  # the secret is never in the request's record
    with pytest.raises(ApprovalNotFound):
        pick_up_key(app.services, BOB.actor, request.id)
    key = pick_up_key(app.services, ALICE, request.id)
    made = authenticate_api_key(app.services, key["secret"])
    assert key["name"] == "crm-sync" and made is not None
    assert (made.role, made.owner_user_id, made.scopes) == ("strategist", ops.id,
                                                            frozenset({"contacts.read", "contacts.export"}))
    with pytest.raises(PickupRefused) as twice:
        pick_up_key(app.services, ALICE, request.id)
    assert twice.value.code == "gone"
    with app.engine.connect() as c:
        artifact = c.execute(select(approval_artifacts)).one()
    assert artifact.ciphertext is None and artifact.sealed_key is None


def test_a_key_rotation_reseals_waiting_exports(app: Application, clock: VirtualClock) -> None:
    """With no grace the old key stops opening at once: the export's data key was re-sealed with the new one."""
    people(app)
    request = request_export(app.services, ALICE, reason="r")
    approve(app.services, BOB, request.id)
    before = download_export(app.services, ALICE, request.id).data
    rotation = app.rotate_secret_key(timedelta(0), actor="ops")
    assert f"approval:{request.id}" in rotation.resealed
    clock.advance(timedelta(seconds=1))
    assert download_export(app.services, ALICE, request.id).data == before


def test_the_workers_tick_purges_files_and_expires_requests(app: Application, clock: VirtualClock) -> None:
    from touchflow.engine.runtime import JourneyRuntime

    people(app)
    produced = request_export(app.services, ALICE, reason="r")
    approve(app.services, BOB, produced.id)
    waiting = request_export(app.services, ALICE, reason="r")
    runtime = JourneyRuntime(app.services)
    runtime.tick()
    with app.engine.connect() as c:
        assert c.execute(select(approval_artifacts.c.ciphertext)).scalar_one() is not None
    clock.advance(timedelta(days=7))
    runtime.tick()
    with app.engine.connect() as c:
        assert c.execute(select(approval_artifacts.c.ciphertext)).scalar_one() is None
    with app.services.reader() as uow:
        stored = uow.approvals.get(waiting.id)
    assert stored is not None and stored.state == "expired"
