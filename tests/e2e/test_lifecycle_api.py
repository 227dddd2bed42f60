"""Lifecycle and score reads over HTTP: a contact's score with its parts, its stages, the configuration."""

from __future__ import annotations

import warnings

from touchflow.bootstrap import Application
from touchflow.services.lifecycle_pass import refresh_touched

with warnings.catch_warnings():
    from starlette.exceptions import StarletteDeprecationWarning

    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient


def test_score_stages_and_configuration(client: TestClient, app: Application) -> None:
    sent = client.post("/v1/events", json={"events": [
        {"type": "signup", "email": "api@score.test"},
        {"type": "content_download", "email": "api@score.test", "properties": {"content_id": "wp1"}}]})
    assert sent.status_code == 200, sent.text
    refresh_touched(app.services)
    score = client.get("/v1/contacts/email:api@score.test/score")
    assert score.status_code == 200, score.text
    body = score.json()
    assert body["parts"] == {"signup": 10, "downloads": 10} and body["score"] == 20  # the default model
    assert body["model_version"] == 0 and len(body["history"]) == 1
    stages = client.get("/v1/contacts/email:api@score.test/stages").json()
    assert stages["stage"] == "prospect"
    assert [h["rule"] for h in stages["history"]] == ["initial", "signup"]
    assert client.get("/v1/contacts/email:nobody@score.test/score").status_code == 404
    config = client.get("/v1/lifecycle").json()
    assert config["lifecycle"]["initial"] == "new_visitor" and config["scoring_model"]["thresholds"]["mql"] == 50
    assert "activity" in config["tiers"]
    profile = client.get("/v1/contacts/email:api@score.test")  # the contacts route still answers
    assert profile.status_code == 200
