"""Experiments over HTTP and the CLI: a draft with the plan, edited, started (governance refusals naming the
rule), show, stop; ``create --start`` / ``start: true`` keep one-step scripts working."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
from starlette.exceptions import StarletteDeprecationWarning
from typer.testing import CliRunner

from touchflow.bootstrap import Application, bootstrap
from touchflow.clock import VirtualClock
from touchflow.services.journeys import publish_journey
from touchflow.services.segments import create_segment

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

JOURNEY = """
key: %s
name: 发送时间实验
trigger: {event: signup}
goal: {event: order_paid}
nodes:
  split: {kind: split, paths: [{percent: %d, next: morning}, {percent: %d, next: afternoon}]}
  morning: {kind: send, channel: email, template: nine, next: done}
  afternoon: {kind: send, channel: email, template: fifteen, next: done}
  done: {kind: exit}
"""
SPEC = {"key": "send_time", "journey": "send_time_test", "split": "split", "arms": ["09:00", "15:00"],
        "variable": "send_time", "strata": ["vip"], "baseline": 0.1, "mde": 0.03}


@pytest.fixture
def journeys(app: Application) -> None:
    publish_journey(app.services, JOURNEY % ("send_time_test", 50, 50), actor="t")
    publish_journey(app.services, JOURNEY % ("lopsided", 96, 4), actor="t")
    create_segment(app.services, {"key": "vip", "name": "VIP", "kind": "dynamic", "condition": {"tag": "vip"}},
                   actor="t")


@pytest.mark.usefixtures("journeys")
def test_experiments_api(client: TestClient) -> None:
    refused = client.post("/v1/experiments", json={**SPEC, "key": "small", "journey": "lopsided", "start": True})
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "arm-share"
    assert "4 %" in refused.json()["errors"][0]["reason"]
    assert client.post("/v1/experiments", json={**SPEC, "start": "yes"}).json()["errors"][0]["field"] == "start"
    draft = client.post("/v1/experiments", json={**SPEC, "key": "small", "journey": "lopsided"})
    assert draft.status_code == 201 and draft.json()["state"] == "draft" and draft.json()["started_at"] is None
    assert client.post("/v1/experiments/small/start").json()["errors"][0]["field"] == "arm-share"
    edited = client.patch("/v1/experiments/small", json={"mde": 0.05, "arms": ["a", "b"]})
    assert edited.status_code == 200, edited.text
    assert edited.json()["plan"]["fixed_per_arm"][0] < draft.json()["plan"]["fixed_per_arm"][0]
    assert client.patch("/v1/experiments/small", json={"key": "x"}).json()["errors"][0]["field"] == "key"
    assert client.patch("/v1/experiments/small", json={"power": 2}).json()["errors"][0]["field"] == "power"
    assert client.post("/v1/experiments/small/stop", json={"reason": "discard"}).json()["state"] == "stopped"
    assert client.patch("/v1/experiments/small", json={"mde": 0.04}).status_code == 409
    bad = client.post("/v1/experiments", json={**SPEC, "mde": "big"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "mde"
    assert client.post("/v1/experiments", content=b"{", headers={"content-type": "application/json"}
                       ).status_code == 400
    created = client.post("/v1/experiments", json=SPEC)
    assert created.status_code == 201, created.text
    assert created.json()["state"] == "draft" and created.json()["plan"]["sequential_per_arm"][0] > 0
    started = client.post("/v1/experiments/send_time/start")
    assert started.status_code == 200 and started.json()["state"] == "running" and started.json()["started_at"]
    assert client.post("/v1/experiments/send_time/start").status_code == 409
    assert client.post("/v1/experiments", json=SPEC).status_code == 409
    assert [e["key"] for e in client.get("/v1/experiments").json()["items"]] == ["send_time", "small"]
    shown = client.get("/v1/experiments/send_time").json()
    assert shown["analysis"]["sizes"] == [0, 0] and shown["spec"]["arms"][1]["name"] == "15:00"
    assert client.get("/v1/experiments/nope").status_code == 404
    early = client.post("/v1/experiments/send_time/rollout", json={})
    assert early.status_code == 422
    assert {"min-duration", "confidence"} <= {e["field"] for e in early.json()["errors"]}
    assert client.post("/v1/experiments/send_time/stop", json={}).status_code == 422
    assert client.post("/v1/experiments/send_time/stop", json={"reason": "holiday"}).json()["state"] == "stopped"
    assert client.post("/v1/experiments/send_time/stop", json={"reason": "x"}).status_code == 409


@pytest.fixture
def env(app: Application, clock: VirtualClock, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setattr("touchflow.cli.common.bootstrap", lambda: bootstrap(app.settings, clock=clock))
    return {"TOUCHFLOW_DATABASE_URL": app.settings.database_url}


def run(env: dict[str, str], *args: str) -> tuple[int, str]:
    from touchflow.cli import app as cli

    result = CliRunner().invoke(cli, list(args), env=env)
    return result.exit_code, result.output


@pytest.mark.usefixtures("journeys")
def test_experiment_commands(env: dict[str, str], tmp_path: Path) -> None:
    spec = tmp_path / "exp.json"
    spec.write_text(json.dumps(SPEC), encoding="utf-8")
    code, out = run(env, "experiment", "plan", str(spec), "--json")
    assert code == 0 and json.loads(out)["plan"]["fixed_per_arm"][0] > 0
    code, out = run(env, "experiment", "plan", str(spec))
    assert code == 0 and "样本量规划" in out
    small = tmp_path / "small.json"
    small.write_text(json.dumps({**SPEC, "key": "small", "journey": "lopsided"}), encoding="utf-8")
    code, out = run(env, "experiment", "create", str(small), "--start")
    assert code == 2 and "arm-share" in out
    code, out = run(env, "experiment", "create", str(spec), "--json")
    assert code == 0 and json.loads(out)["state"] == "draft"
    change = tmp_path / "change.yaml"
    change.write_text("primary: revenue\nrevenue_mde: 500\n", encoding="utf-8")
    code, out = run(env, "experiment", "edit", "send_time", str(change))
    assert code == 2 and "revenue_sd" in out  # a revenue primary needs its spread for the plan
    change.write_text("primary: revenue\nrevenue_mde: 500\nrevenue_sd: 4000\nrevenue_baseline: 1200\n",
                      encoding="utf-8")
    code, out = run(env, "experiment", "edit", "send_time", str(change), "--json")
    assert code == 0 and json.loads(out)["plan"]["metric"] == "revenue" and json.loads(out)["plan"]["sd"] == 4000
    code, out = run(env, "experiment", "start", "send_time", "--json")
    assert code == 0 and json.loads(out)["state"] == "running"
    code, out = run(env, "experiment", "start", "send_time")
    assert code == 2 and "not a draft" in out
    code, out = run(env, "experiment", "show", "send_time", "--json")
    assert code == 0 and json.loads(out)["analysis"]["srm"]["flagged"] is False
    code, out = run(env, "experiment", "show", "send_time", "--lang", "en")
    assert code == 0 and "sample-ratio mismatch: none" in out
    code, out = run(env, "experiment", "show", "--json")
    assert code == 0 and json.loads(out)["items"][0]["key"] == "send_time"
    code, out = run(env, "experiment", "rollout", "send_time")
    assert code == 2 and "min-duration" in out and "confidence" in out
    code, out = run(env, "experiment", "stop", "send_time", "--reason", "节假日", "--json")
    assert code == 0 and json.loads(out)["stop_reason"] == "节假日"
