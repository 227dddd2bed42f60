"""The builder's API on a real database: drafts with version tokens (409 + both texts when stale), graph
edits, the one validator pinned to nodes, the diff against the live version; and ``journey format``."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

from starlette.exceptions import StarletteDeprecationWarning
from typer.testing import CliRunner

from touchflow.bootstrap import Application
from touchflow.cli import app as cli_app
from touchflow.domain.safe_yaml import load_yaml
from touchflow.services.content import save_template

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

RULE_A = (Path(__file__).parents[2] / "examples" / "journeys" / "rule_a_whitepaper.yaml").read_text(encoding="utf-8")
YAML = {"Content-Type": "application/yaml"}


def _templates(app: Application) -> None:
    for name, channel in (("whitepaper_digest", "email"), ("whitepaper_followup_cs", "wecom")):
        save_template(app.services, name, channel, "白皮书精选", "{{ contact.name }}，白皮书。", "text", by="editor")


def test_two_editors_one_draft_the_second_save_gets_a_merge_view(app: Application, client: TestClient) -> None:
    assert client.get("/v1/journeys/rule_a_whitepaper/definition").status_code == 404
    created = client.put("/v1/journeys/rule_a_whitepaper/definition", content=RULE_A, headers=YAML)
    assert created.status_code == 200, created.text
    token = created.json()["token"]
    assert created.json()["text"] == RULE_A and created.headers["ETag"] == f'"{token}"'
    shown = client.get("/v1/journeys/rule_a_whitepaper/definition").json()
    assert shown["text"] == RULE_A and shown["token"] == token and shown["is_draft"] is True
    assert shown["live_version"] is None

    alice = RULE_A.replace("timeout: 3d", "timeout: 2d")
    bob = RULE_A.replace("sla: 2h", "sla: 1h")
    first = client.put("/v1/journeys/rule_a_whitepaper/definition", content=alice,
                       headers={**YAML, "If-Match": f'"{token}"'})
    assert first.status_code == 200 and first.json()["token"] != token
    second = client.put("/v1/journeys/rule_a_whitepaper/definition", content=bob, headers={**YAML, "If-Match": token})
    assert second.status_code == 409
    body = second.json()
    assert body["current"]["text"] == alice and body["yours"]["text"] == bob  # nothing is lost: both are there
    merged = alice.replace("sla: 2h", "sla: 1h")
    third = client.put("/v1/journeys/rule_a_whitepaper/definition", content=merged,
                       headers={**YAML, "If-Match": body["current"]["token"]})
    assert third.status_code == 200
    assert client.get("/v1/journeys/rule_a_whitepaper/definition").json()["text"] == merged
    missing = client.put("/v1/journeys/rule_a_whitepaper/definition", content=merged, headers=YAML)
    assert missing.status_code == 409 and missing.json()["errors"][0]["field"] == "If-Match"
    audit = client.get("/v1/audit", params={"action": "journey.draft_save"}).json()["items"]
    actions = [row["action"] for row in audit]
    assert actions.count("journey.draft_save") == 3


def test_a_draft_is_never_run_and_publishing_it_goes_live_then_the_diff_shows_v2(
        app: Application, client: TestClient) -> None:
    _templates(app)
    client.put("/v1/journeys/rule_a_whitepaper/definition", content=RULE_A, headers=YAML)
    listed = {j["key"]: j for j in client.get("/v1/journeys").json()["items"]}
    assert listed["rule_a_whitepaper"]["status"] == "draft" and listed["rule_a_whitepaper"]["version"] is None
    published = client.post("/v1/journeys", content=RULE_A, headers=YAML)
    assert published.status_code == 201 and published.json()["status"] == "active"
    token = client.get("/v1/journeys/rule_a_whitepaper/definition").json()["token"]
    v2 = RULE_A.replace("    next: cs_task\n", "    next: done\n").replace("timeout: 3d", "timeout: 2d")
    saved = client.put("/v1/journeys/rule_a_whitepaper/definition", content=v2, headers={**YAML, "If-Match": token})
    assert saved.status_code == 200, saved.text
    diff = client.get("/v1/journeys/rule_a_whitepaper/diff").json()
    assert diff["semantic"]["nodes_changed"] == {"wait_engagement": ["timeout"]}
    assert diff["semantic"]["edges_added"] == [{"from": "wecom_followup", "edge": "next", "to": "done"}]
    assert diff["semantic"]["edges_removed"] == [{"from": "wecom_followup", "edge": "next", "to": "cs_task"}]
    assert "-    timeout: 3d\n+    timeout: 2d\n" in diff["yaml_diff"]
    lint = client.post("/v1/journeys/lint", json={"text": v2}).json()
    assert lint["publishable"] is True
    assert {"code": "unreachable-node", "node": "cs_task"}.items() <= lint["findings"][0].items()
    assert client.post("/v1/journeys", content=v2, headers=YAML).json()["version"] == 2


def test_findings_are_pinned_to_nodes_by_the_rules_publish_applies(app: Application, client: TestClient) -> None:
    broken = RULE_A.replace("    next: cs_task\n", "    next: nowhere\n")
    lint = client.post("/v1/journeys/lint", json={"text": broken}).json()
    assert lint["publishable"] is False
    assert any(f["node"] == "wecom_followup" and f["severity"] == "error" for f in lint["findings"])
    missing = client.post("/v1/journeys/lint", json={"text": RULE_A}).json()  # no templates in the library yet
    assert {f["node"] for f in missing["findings"] if f["code"] == "template-not-in-library"} == {
        "send_digest", "wecom_followup"}
    refused = client.post("/v1/journeys", content=RULE_A, headers=YAML)
    assert refused.status_code == 409  # what the canvas calls an error, publish refuses
    bad_yaml = client.post("/v1/journeys/lint", json={"text": "a: ["}).json()
    assert bad_yaml["findings"][0]["code"] == "yaml"


def test_the_canvas_edits_the_text_by_graph_operations(client: TestClient) -> None:
    answer = client.post("/v1/journeys/edit", json={"text": RULE_A, "ops": [
        {"op": "add_node", "id": "wait_1d", "kind": "wait", "fields": {"duration": "1d"}},
        {"op": "connect", "from": "engaged", "edge": "next", "to": "wait_1d"},
        {"op": "connect", "from": "wait_1d", "edge": "next", "to": "done"}]})
    assert answer.status_code == 200, answer.text
    text = answer.json()["text"]
    assert text.startswith(RULE_A.split("  done:")[0].replace("add_tags: [whitepaper_engaged]\n    next: done",
                                                              "add_tags: [whitepaper_engaged]\n    next: wait_1d"))
    assert load_yaml(text)["nodes"]["wait_1d"] == {"kind": "wait", "duration": "1d", "next": "done"}
    assert {"from": "wait_1d", "edge": "next", "to": "done"} in answer.json()["graph"]["edges"]
    bad = client.post("/v1/journeys/edit", json={"text": RULE_A, "ops": [{"op": "connect", "from": "x"}]})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "ops[0].from"
    hostile = client.put("/v1/journeys/other/definition", content=RULE_A, headers=YAML)
    assert hostile.status_code == 422 and hostile.json()["errors"][0]["field"] == "journey.key"
    not_utf8 = client.put("/v1/journeys/rule_a_whitepaper/definition", content=b"\xff\xfe", headers=YAML)
    assert not_utf8.status_code == 422


def test_journey_format_cli(tmp_path: Path) -> None:
    runner = CliRunner()
    examples = sorted(str(p) for p in (Path(__file__).parents[2] / "examples" / "journeys").glob("*.yaml"))
    checked = runner.invoke(cli_app, ["journey", "format", "--check", "--json", *examples])
    assert checked.exit_code == 0 and json.loads(checked.stdout)["changed"] == 0
    messy = tmp_path / "j.yaml"
    messy.write_text("key: j  # kept\nnodes:\n    a:\n        kind: exit\ntrigger: {manual: true}\n", encoding="utf-8")
    assert runner.invoke(cli_app, ["journey", "format", "--check", str(messy)]).exit_code == 1
    done = runner.invoke(cli_app, ["journey", "format", "--json", str(messy)])
    assert done.exit_code == 0 and json.loads(done.stdout)["files"][0]["changed"] is True
    formatted = "key: j  # kept\nnodes:\n  a:\n    kind: exit\ntrigger: {manual: true}\n"
    assert messy.read_text(encoding="utf-8") == formatted
    bad = tmp_path / "bad.yaml"
    bad.write_text("- a list\n", encoding="utf-8")
    refused = runner.invoke(cli_app, ["journey", "format", str(bad)])
    assert refused.exit_code == 2 and "top level" in refused.stderr
