"""Versions of a journey through the builder's API: every publish listed, newest first; restoring one loads
its text as the draft (If-Match, audit ``journey.restore``), and publishing that makes a new version while
the old ones stay as they were."""

from __future__ import annotations

import warnings

from starlette.exceptions import StarletteDeprecationWarning

from tests.e2e.test_journey_builder_api import RULE_A, YAML, _templates
from touchflow.bootstrap import Application
from touchflow.domain.safe_yaml import load_yaml

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

BASE = "/v1/journeys/rule_a_whitepaper"


def test_restore_an_old_version_as_the_draft_then_publish_it_as_v3(app: Application, client: TestClient) -> None:
    _templates(app)
    assert client.get(f"{BASE}/versions").status_code == 404
    assert client.post("/v1/journeys", content=RULE_A, headers=YAML).status_code in (200, 201)
    v2 = RULE_A.replace("timeout: 3d", "timeout: 2d")
    assert client.post("/v1/journeys", content=v2, headers=YAML).status_code in (200, 201)
    listed = client.get(f"{BASE}/versions").json()
    assert listed["live_version"] == 2
    assert [(v["version"], v["live"], v["running"]) for v in listed["versions"]] == [(2, True, 0), (1, False, 0)]
    assert all(v["published_by"] and v["published_at"] for v in listed["versions"])

    token = client.get(f"{BASE}/definition").json()["token"]
    stale = client.post(f"{BASE}/versions/1/restore", headers={"If-Match": '"not-the-token"'})
    assert stale.status_code == 409 and stale.json()["errors"][0]["field"] == "If-Match"
    missing = client.post(f"{BASE}/versions/7/restore", headers={"If-Match": token})
    assert missing.status_code == 404 and missing.json()["errors"][0]["field"] == "version"
    assert client.post(f"{BASE}/versions/0/restore", headers={"If-Match": token}).status_code == 422
    assert client.post(f"{BASE}/versions/abc/restore", headers={"If-Match": token}).status_code == 422

    restored = client.post(f"{BASE}/versions/1/restore", headers={"If-Match": f'"{token}"'})
    assert restored.status_code == 200, restored.text
    draft = restored.json()
    assert draft["is_draft"] is True and draft["live_version"] == 2 and "timeout: 3d" in draft["text"]
    assert client.get(f"{BASE}/definition").json()["token"] == draft["token"]
    assert client.get(f"{BASE}/diff").json()["semantic"]["nodes_changed"] == {"wait_engagement": ["timeout"]}
    audit = client.get("/v1/audit", params={"action": "journey.restore"}).json()["items"]
    assert [(r["subject"], r["details"]["version"]) for r in audit] == [("rule_a_whitepaper", 1)]

    published = client.post("/v1/journeys", content=draft["text"], headers=YAML)
    assert published.status_code in (200, 201) and published.json()["version"] == 3
    listed = client.get(f"{BASE}/versions").json()["versions"]
    assert [v["version"] for v in listed] == [3, 2, 1]
    with app.services.reader() as uow:
        record = uow.journeys.get("rule_a_whitepaper")
        assert record is not None
        assert load_yaml(uow.journeys.source_text(record.id, 2) or "")["nodes"]["wait_engagement"]["timeout"] == "2d"
        assert uow.journeys.version(record.id, 3) == uow.journeys.version(record.id, 1)
