"""Journeys over HTTP (J9: everything by CLI and API), on SQLite and PostgreSQL."""

from __future__ import annotations

import warnings
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

from starlette.exceptions import StarletteDeprecationWarning

from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.engine.runtime import JourneyRuntime
from touchflow.services.content import save_template

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

RULE_A = (Path(__file__).parents[2] / "examples" / "journeys" / "rule_a_whitepaper.yaml").read_text(encoding="utf-8")




def test_publish_run_trace_pause_and_intervene(app: Application, client: TestClient, clock: VirtualClock) -> None:
    refused = client.post("/v1/journeys", content=RULE_A, headers={"Content-Type": "application/yaml"})
    assert refused.status_code == 409 and "template 'whitepaper_digest' does not exist" in refused.json()["detail"]
    for name, channel in (("whitepaper_digest", "email"), ("whitepaper_followup_cs", "wecom")):
        save_template(app.services, name, channel, "白皮书精选", "{{ contact.name }}，这是您关注的白皮书精选。", "text",
                      by="editor")
    published = client.post("/v1/journeys", content=RULE_A, headers={"Content-Type": "application/yaml"})
    assert published.status_code == 201, published.text
    assert published.json()["version"] == 1
    again = client.post("/v1/journeys", content=RULE_A)
    assert again.status_code == 200 and again.json()["unchanged"] is True

    events = client.post("/v1/events", json={"events": [{
        "type": "content_download", "email": "a@x.cn", "occurred_at": clock.now().isoformat(),
        "properties": {"content_id": "wp-1", "content_type": "whitepaper"}}]})
    assert events.status_code == 200, events.text
    runtime = JourneyRuntime(app.services)
    runtime.tick()
    shown = client.get("/v1/journeys/rule_a_whitepaper").json()
    assert shown["runs"] == {"waiting": 1} and shown["at_nodes"] == {"wait_engagement": 1}
    assert shown["messages"] == {"email": 1}

    who = quote("email:a@x.cn", safe="")
    paused = client.post(f"/v1/journeys/rule_a_whitepaper/runs/{who}/pause", json={"reason": "asked to wait"})
    assert paused.status_code == 200 and paused.json()["runs"][0]["status"] == "paused"
    clock.advance(timedelta(days=4))
    runtime.tick()
    assert client.get("/v1/journeys/rule_a_whitepaper").json()["messages"] == {"email": 1}
    client.post(f"/v1/journeys/rule_a_whitepaper/runs/{who}/resume")
    runtime.tick()
    trace = client.get(f"/v1/journeys/rule_a_whitepaper/trace/{who}").json()
    assert trace[0]["status"] == "completed"
    assert [m["channel"] for m in trace[0]["messages"]] == ["email", "wecom"]
    assert any(step["edge"] == "on_timeout" for step in trace[0]["steps"])

    assert client.post("/v1/journeys/rule_a_whitepaper/pause", json={"reason": "review"}).json()["status"] == "paused"
    enrol = client.post("/v1/journeys/rule_a_whitepaper/enrol", json={"contact": "email:a@x.cn"})
    assert enrol.status_code == 409 and "paused" in enrol.json()["detail"]
    assert client.post("/v1/journeys/rule_a_whitepaper/resume").json()["status"] == "active"
    clock.advance(timedelta(days=31))
    enrol = client.post("/v1/journeys/rule_a_whitepaper/enrol", json={"contact": "email:a@x.cn"})
    assert enrol.status_code == 202
    runtime.tick()
    assert client.get("/v1/journeys/rule_a_whitepaper").json()["runs"] == {"completed": 1, "waiting": 1}


def test_errors_are_precise(client: TestClient) -> None:
    bad = RULE_A.replace("timeout: 3d", "timeout: three days")
    response = client.post("/v1/journeys", content=bad)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "nodes.wait_engagement.timeout"
    assert client.get("/v1/journeys/nope").status_code == 404
    client.post("/v1/journeys", content=RULE_A)
    retry = client.post(f"/v1/journeys/rule_a_whitepaper/runs/{quote('email:z@x.cn', safe='')}/retry")
    assert retry.status_code == 404  # no such contact
    assert client.post("/v1/journeys/rule_a_whitepaper/runs/x/explode").status_code == 422
    assert client.get("/v1/journeys", headers={"Authorization": "Bearer nope"}).status_code == 401
