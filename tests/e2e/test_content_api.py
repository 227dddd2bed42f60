"""The content library over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import warnings

from starlette.exceptions import StarletteDeprecationWarning

from touchflow.bootstrap import Application
from touchflow.services.content import MAX_ASSET_BYTES
from touchflow.services.ingest import RawItem, upsert_contacts

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient




def test_templates_reviews_preview_and_assets_over_http(app: Application, client: TestClient) -> None:
    saved = client.post("/v1/templates", json={
        "name": "care_plan", "subject": "健康计划", "body": "<p>{{ contact.name }}，您的体检提醒</p>",
        "tags": ["medical"], "by": "amy"})
    assert saved.status_code == 201, saved.text
    assert (saved.json()["version"], saved.json()["status"]) == (1, "pending_review")

    bad = client.post("/v1/templates", json={"name": "x", "body": "{% if contact.is_new %}", "subject": "s"})
    assert bad.status_code == 422 and "x:body, line 1" in bad.json()["detail"]

    [review] = client.get("/v1/reviews").json()["items"]
    own = client.post(f"/v1/reviews/{review['id']}/approve", json={"reviewer": "amy"})
    assert own.status_code == 409 and "second person" in own.json()["detail"]
    no_reason = client.post(f"/v1/reviews/{review['id']}/reject", json={"reviewer": "carol"})
    assert no_reason.status_code == 422
    approved = client.post(f"/v1/reviews/{review['id']}/approve", json={"reviewer": "carol", "comment": "ok"})
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    assert client.post("/v1/reviews/nope/approve", json={"reviewer": "carol"}).status_code == 404

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
