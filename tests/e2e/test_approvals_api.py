"""Four-eyes exports over HTTP (P4), on SQLite and PostgreSQL: one key requests, the same key may not approve,
another key approves, only the requesting key downloads, within 24 h, every download in the audit log."""

from __future__ import annotations

import csv
import io
import warnings
from datetime import timedelta

from sqlalchemy import select
from starlette.exceptions import StarletteDeprecationWarning

from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.domain.actors import Actor
from touchflow.domain.governance.principals import Principal
from touchflow.services.apikeys import create_api_key
from touchflow.services.context import save_setting
from touchflow.services.exports import KILL_SWITCH_KEY
from touchflow.services.ingest import RawItem, upsert_contacts
from touchflow.store.tables import approval_artifacts, audit_log

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient


def bearer(app: Application, name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_api_key(app.services, name, actor='test').secret}"}


def test_export_requested_approved_by_another_key_and_downloaded_by_the_requester(
        app: Application, client: TestClient, clock: VirtualClock) -> None:
    upsert_contacts(app.services, "crm", [RawItem({"email": "mei@example.com", "name": "韩梅梅"})])
    carol = bearer(app, "carol-approver")
    bad = client.post("/v1/exports", json={"format": "pdf", "reason": "r"})
    assert bad.status_code == 422
    unknown = client.post("/v1/exports", json={"fields": ["secret"], "reason": "r"})
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"].startswith("fields")
    assert client.post("/v1/exports", json={"reason": "r", "by": "carol"}).status_code == 422  # no typed identity

    asked = client.post("/v1/exports", json={"fields": ["name", "email"], "reason": "客户回访"})
    assert asked.status_code == 201, asked.text
    request_id = asked.json()["id"]
    assert asked.json()["state"] == "pending" and asked.json()["requested_by"].endswith("(tests)")
    assert client.get(f"/v1/exports/{request_id}/download").status_code == 409  # not approved yet
    assert client.get(f"/v1/exports/{request_id}").json()["state"] == "pending"
    assert client.get(f"/v1/exports/{request_id}", headers=carol).status_code == 404  # not carol's

    own = client.post(f"/v1/approvals/{request_id}/approve", json={"note": "mine"})
    assert own.status_code == 403 and "four-eyes" in own.json()["detail"]
    pending = client.get("/v1/approvals", params={"state": "pending"}, headers=carol).json()["items"]
    assert [p["id"] for p in pending] == [request_id] and pending[0]["label"]["zh"] == "导出客户数据"

    approved = client.post(f"/v1/approvals/{request_id}/approve", json={"note": "ok"}, headers=carol)
    assert approved.status_code == 200 and approved.json()["state"] == "executed"
    assert approved.json()["decided_by"].endswith("(carol-approver)")
    again = client.post(f"/v1/approvals/{request_id}/approve", headers=bearer(app, "dave"))
    assert again.status_code == 409 and "already executed" in again.json()["detail"]

    assert client.get(f"/v1/exports/{request_id}/download", headers=carol).status_code == 404
    got = client.get(f"/v1/exports/{request_id}/download")
    assert got.status_code == 200
    assert request_id in got.headers["content-disposition"] and got.headers["cache-control"] == "no-store"
    rows = list(csv.reader(io.StringIO(got.content.decode("utf-8-sig"))))
    assert rows == [["export_id", "name", "email"], [request_id, "韩梅梅", "mei@example.com"]]
    with app.engine.connect() as c:
        downloads = c.execute(select(audit_log).where(audit_log.c.action == "approval.download")).all()
        assert [d.subject for d in downloads] == [f"approval:{request_id}"]
        assert downloads[0].actor.endswith("(tests)") and downloads[0].details["file"].endswith(".csv")
        stored = c.execute(select(approval_artifacts)).one()
    assert b"mei@example.com" not in stored.ciphertext

    clock.advance(timedelta(hours=24, seconds=1))
    gone = client.get(f"/v1/exports/{request_id}/download")
    assert gone.status_code == 410 and "gone" in gone.json()["detail"]
    assert client.get("/v1/exports/ffff/download").status_code == 404


def test_reject_needs_a_note_and_the_kill_switch_holds_exports(app: Application, client: TestClient) -> None:
    carol = bearer(app, "carol")
    request_id = client.post("/v1/exports", json={"reason": "r"}).json()["id"]
    assert client.post(f"/v1/approvals/{request_id}/reject", json={"note": ""}, headers=carol).status_code == 422
    save_setting(app.services, KILL_SWITCH_KEY, {"on": True}, actor="incident", action="kill")
    held = client.post(f"/v1/approvals/{request_id}/approve", headers=carol)
    assert held.status_code == 409 and "frozen" in held.json()["detail"]
    assert client.post("/v1/exports", json={"reason": "r"}).status_code == 409
    rejected = client.post(f"/v1/approvals/{request_id}/reject", json={"note": "during an incident"}, headers=carol)
    assert rejected.status_code == 200 and rejected.json()["state"] == "rejected"
    assert client.get(f"/v1/approvals/{request_id}", headers=carol).json()["note"] == "during an incident"


def test_an_approver_without_the_permission_is_refused(app: Application, client: TestClient) -> None:
    from touchflow.api.permissions import current_principal

    request_id = client.post("/v1/exports", json={"reason": "r"}).json()["id"]
    fastapi_app = client.app
    assert hasattr(fastapi_app, "dependency_overrides")
    viewer = Principal(Actor.api_key("k-viewer", "viewer"), "viewer", frozenset({"reports.read"}))
    decider_only = Principal(Actor.api_key("k-rev", "reviewer"), "reviewer", frozenset({"approvals.decide"}))
    for who, reason in ((viewer, "approvals.decide"), (decider_only, "contacts.export")):
        fastapi_app.dependency_overrides[current_principal] = lambda who=who: who
        refused = client.post(f"/v1/approvals/{request_id}/approve")
        assert refused.status_code == 403 and reason in refused.json()["detail"], refused.text
    fastapi_app.dependency_overrides.clear()
    assert client.get(f"/v1/approvals/{request_id}").json()["state"] == "pending"
