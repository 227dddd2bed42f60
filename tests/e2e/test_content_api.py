"""The content library over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import warnings

from sqlalchemy import select
from starlette.exceptions import StarletteDeprecationWarning

from touchflow.bootstrap import Application
from touchflow.services.apikeys import create_api_key
from touchflow.services.content import MAX_ASSET_BYTES
from touchflow.services.ingest import RawItem, upsert_contacts
from touchflow.store.tables import audit_log

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient




def test_templates_reviews_preview_and_assets_over_http(app: Application, client: TestClient) -> None:
    saved = client.post("/v1/templates", json={
        "name": "care_plan", "subject": "健康计划", "body": "<p>{{ contact.name }}，您的体检提醒</p>",
        "tags": ["medical"]})
    assert saved.status_code == 201, saved.text
    assert (saved.json()["version"], saved.json()["status"]) == (1, "pending_review")

    bad = client.post("/v1/templates", json={"name": "x", "body": "{% if contact.is_new %}", "subject": "s"})
    assert bad.status_code == 422 and "x:body, line 1" in bad.json()["detail"]

    [review] = client.get("/v1/reviews").json()["items"]
    own = client.post(f"/v1/reviews/{review['id']}/approve")
    assert own.status_code == 409 and "second person" in own.json()["detail"]
    reviewer = create_api_key(app.services, "carol-compliance", actor="test").secret
    as_carol = {"Authorization": f"Bearer {reviewer}"}
    no_reason = client.post(f"/v1/reviews/{review['id']}/reject", json={}, headers=as_carol)
    assert no_reason.status_code == 422
    approved = client.post(f"/v1/reviews/{review['id']}/approve", json={"comment": "ok"}, headers=as_carol)
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    assert client.post("/v1/reviews/nope/approve", headers=as_carol).status_code == 404

    shown = client.get("/v1/templates/care_plan").json()
    assert shown["status"] == "approved" and shown["body"].startswith("<p>")
    assert [h["version"] for h in shown["history"]] == [1]
    assert client.get("/v1/templates/none").status_code == 404

    upsert_contacts(app.services, "crm", [RawItem({"email": "mei@example.com", "name": "韩梅梅"})])
    preview = client.post("/v1/templates/care_plan/preview", json={"contact": "email:mei@example.com"})
    assert preview.status_code == 200, preview.text
    assert preview.json()["text"].startswith("韩梅梅，您的体检提醒")
    assert client.post("/v1/templates/care_plan/preview", json={"contact": "email:x@y.cn"}).status_code == 404

    png = b"\x89PNG\r\n\x1a\nimage"
    added = client.post("/v1/assets", json={"name": "logo.png", "content_base64": base64.b64encode(png).decode()})
    assert added.status_code == 201 and added.json()["kind"] == "image"
    got = client.get("/v1/assets/logo.png/content")
    assert got.content == png and got.headers["content-type"] == "image/png"
    huge = base64.b64encode(b"x" * (MAX_ASSET_BYTES + 1)).decode()
    assert client.post("/v1/assets", json={"name": "big.bin", "content_base64": huge}).status_code == 413
    assert client.post("/v1/assets", json={"name": "b", "content_base64": "***"}).status_code == 422


def test_one_key_cannot_approve_its_own_copy_by_typing_another_name(app: Application, client: TestClient) -> None:
    """Issue 10 item 5: the approver is the calling API key, never a name in the body."""
    saved = client.post("/v1/templates", json={"name": "fund_news", "channel": "sms", "layout": "text",
                                               "body": "稳健理财，年化收益 4.2%，详询客户经理", "tags": ["finance"]})
    assert saved.status_code == 201 and saved.json()["status"] == "pending_review"
    assert saved.json()["created_by"].startswith("apikey:")
    assert saved.json()["review_reasons"] == ["tag finance", "finance copy: 年化收益"]
    [review] = client.get("/v1/reviews").json()["items"]
    disguised = client.post(f"/v1/reviews/{review['id']}/approve", json={"reviewer": "carol", "comment": "ok"})
    assert disguised.status_code == 422 and disguised.json()["errors"] == [
        {"field": "reviewer", "in": "body", "reason": "unknown field"}]
    typed = client.post("/v1/templates", json={"name": "fund_news", "channel": "sms", "layout": "text",
                                               "body": "稳健理财", "by": "amy"})
    assert typed.status_code == 422 and typed.json()["errors"] == [
        {"field": "by", "in": "body", "reason": "unknown field"}]
    own = client.post(f"/v1/reviews/{review['id']}/approve", json={"comment": "looks fine"})
    assert own.status_code == 409 and "second person" in own.json()["detail"]
    assert client.get("/v1/templates/fund_news").json()["status"] == "pending_review"

    second = create_api_key(app.services, "compliance-desk", actor="test")
    approved = client.post(f"/v1/reviews/{review['id']}/approve", json={"comment": "风险提示齐全"},
                           headers={"Authorization": f"Bearer {second.secret}"})
    assert approved.status_code == 200, approved.text
    assert approved.json()["reviewer"] == f"apikey:{second.id} (compliance-desk)"
    assert client.get("/v1/templates/fund_news").json()["status"] == "approved"
    with app.engine.connect() as c:
        row = c.execute(select(audit_log).where(audit_log.c.action == "template.review_approve")).one()
    assert row.actor == f"apikey:{second.id} (compliance-desk)"
    assert row.details["author"] == saved.json()["created_by"] and row.details["reviewer"] == row.actor
