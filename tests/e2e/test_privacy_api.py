"""``/v1/privacy`` and ``/v1/incidents`` over HTTP: an erasure approved by another key, the opt-out, an incident
whose kill switch freezes the export, clear 4xx on hostile input."""

from __future__ import annotations

import warnings

from starlette.exceptions import StarletteDeprecationWarning

from tests.e2e.test_approvals_api import bearer
from touchflow.bootstrap import Application
from touchflow.services.ingest import RawItem, upsert_contacts

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient


def test_erasure_over_http_needs_another_key(app: Application, client: TestClient) -> None:
    upsert_contacts(app.services, "crm", [RawItem({"email": "api@pipl.test", "name": "孙丽"})])
    got = client.get("/v1/privacy/export", params={"contact": "email:api@pipl.test"})
    assert got.status_code == 200 and got.json()["contact"]["attributes"]["name"] == "孙丽"
    assert got.headers["Cache-Control"] == "no-store"
    assert client.get("/v1/privacy/export", params={"contact": "email:none@pipl.test"}).status_code == 404
    asked = client.post("/v1/privacy/erasures", json={"contact": "email:api@pipl.test", "reason": "工单 12"})
    assert asked.status_code == 201 and asked.json()["kind"] == "privacy_erase"
    request_id = asked.json()["id"]
    assert client.post(f"/v1/approvals/{request_id}/approve").status_code == 403  # the requester's own
    done = client.post(f"/v1/approvals/{request_id}/approve", headers=bearer(app, "dpo"))
    assert done.status_code == 200 and done.json()["state"] == "executed"
    assert client.get("/v1/privacy/export", params={"contact": "email:api@pipl.test"}).status_code == 404
    assert client.post("/v1/privacy/erasures", json={"contact": "x", "reason": " "}).status_code == 422


def test_opt_out_and_incident_over_http(app: Application, client: TestClient) -> None:
    upsert_contacts(app.services, "crm", [RawItem({"email": "o@pipl.test"})])
    put = client.put("/v1/privacy/personalisation", json={"contact": "email:o@pipl.test", "opted_out": True})
    assert put.status_code == 200 and put.json()["personalisation"] == "opted_out"
    opened = client.post("/v1/incidents", json={"summary": "泄露", "since": "2026-03-01T00:00:00+08:00"})
    assert opened.status_code == 201 and opened.json()["kill_switch"] is True
    incident_id = opened.json()["id"]
    frozen = client.get("/v1/privacy/export", params={"contact": "email:o@pipl.test"})
    assert frozen.status_code == 409 and "frozen" in frozen.json()["detail"]
    step = client.post(f"/v1/incidents/{incident_id}/steps/isolate/done", json={"note": "ok"})
    assert step.status_code == 200 and step.json()["clocks"][0]["state"] == "done"
    assert client.post(f"/v1/incidents/{incident_id}/steps/isolate/done").status_code == 409
    assert client.post(f"/v1/incidents/{incident_id}/steps/lunch/done").status_code == 422
    assert client.get(f"/v1/incidents/{incident_id}/affected").json()["count"] == 1
    notify = client.post(f"/v1/incidents/{incident_id}/notify", json={"channels": ["email"]})
    assert notify.status_code == 201 and notify.json()["kind"] == "incident_notify"
    assert client.post("/v1/incidents", json={"summary": "x", "since": "2026-03-01T00:00:00"}).status_code == 422
    assert client.get("/v1/incidents/zzz").status_code == 422
    assert client.get("/v1/incidents/abc").status_code == 404
    assert client.post("/v1/incidents", json={"summary": "x", "since": 0}).status_code == 422
    assert client.get("/v1/kill-switch").json() == {"on": True}
    assert client.delete("/v1/kill-switch").json() == {"resumed": True, "incident": incident_id}
    timeline = client.get(f"/v1/incidents/{incident_id}/timeline").json()["items"]
    assert timeline[0]["action"] == "incident.open" and timeline[-1]["action"] == "incident.resume"
    assert [i["id"] for i in client.get("/v1/incidents", params={"status": "open"}).json()["items"]] == [incident_id]
