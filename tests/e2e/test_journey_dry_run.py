"""The builder's dry run on a real database: one real contact through the draft in the sandbox, virtual time,
every node's outcome — and the real store untouched (row counts of every table the engine writes)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from tests.e2e.journey_support import RULE_A, SCENARIO, TestClient, put_definition, row_counts, save_templates
from touchflow.bootstrap import Application
from touchflow.cli import app as cli_app
from touchflow.services.guarding import set_guardrail_policy
from touchflow.services.ingest import RawItem, upsert_contacts


def _world(app: Application, client: TestClient) -> None:
    save_templates(app)
    report = upsert_contacts(app.services, "crm", [RawItem({"email": "li@example.cn", "name": "李雷", "wecom": "wm-li",
                                                            "industry": "制造业", "tags": "b2b"})])
    assert not report.rejected, report.rejected
    put_definition(client, "rule_a_whitepaper", RULE_A)


def test_dry_run_walks_every_node_in_virtual_time_and_writes_nothing(app: Application, client: TestClient) -> None:
    _world(app, client)
    before = row_counts(app)
    response = client.post("/v1/journeys/rule_a_whitepaper/dry-run", json={"contact": "li@example.cn"})
    assert response.status_code == 200, response.text
    body = response.json()
    nodes = body["nodes"]
    assert nodes["send_digest"]["messages"][0]["channel"] == "email"
    assert nodes["send_digest"]["badge"].startswith("email: sent")
    preview = nodes["send_digest"]["messages"][0]["preview"]
    assert preview["subject"] == "白皮书精选" and preview["text"].startswith("李雷，白皮书。")
    assert nodes["wait_engagement"]["edge"] == "on_timeout" and nodes["wait_engagement"]["offset"] == "3d"
    assert nodes["wecom_followup"]["messages"][0]["channel"] == "wecom"
    assert nodes["cs_task"]["edge"] == "next" and "done" in nodes
    assert "engaged" not in nodes  # no open in the sandbox: the other way was not taken
    assert body["status"] == "completed" and body["entered"] is True
    assert row_counts(app) == before  # nothing sent, nothing written

    # the workspace's quiet hours for WeCom reach the sandbox: the follow-up waits, it is not sent at once
    set_guardrail_policy(app.services, {"quiet_hours": {"start": "00:00", "end": "23:59", "channels": ["wecom"]}},
                         actor="test")
    before = row_counts(app)
    quiet = client.post("/v1/journeys/rule_a_whitepaper/dry-run", json={"contact": "li@example.cn"}).json()
    wecom = quiet["nodes"]["wecom_followup"]["messages"][0]
    assert wecom["created_at"] == "2026-03-05T01:00:00+00:00"  # 09:00 in Shanghai, inside the quiet hours
    assert wecom["sent_at"] == "2026-03-05T15:59:00+00:00"  # deferred to their end (23:59 Shanghai)
    assert quiet["nodes"]["wecom_followup"]["badge"] == "wecom: sent @ +3d14h59m"  # the canvas shows the wait
    assert row_counts(app) == before

    # an edited definition in the body, not the saved draft: the timeout moves
    edited = client.post("/v1/journeys/rule_a_whitepaper/dry-run", json={
        "contact": "li@example.cn", "definition": RULE_A.replace("timeout: 3d", "timeout: 2d")})
    assert edited.status_code == 200 and edited.json()["nodes"]["wait_engagement"]["offset"] == "2d"
    assert row_counts(app) == before


def test_dry_run_hostile_input_names_the_field(app: Application, client: TestClient) -> None:
    _world(app, client)
    url = "/v1/journeys/rule_a_whitepaper/dry-run"
    nobody = client.post(url, json={"contact": "nobody@example.cn"})
    assert nobody.status_code == 422 and nobody.json()["errors"][0]["field"] == "contact"
    broken = client.post(url, json={"contact": "li@example.cn", "definition": RULE_A.replace("next: wait_engagement",
                                                                                             "next: nowhere")})
    assert broken.status_code == 422 and broken.json()["errors"][0]["field"].startswith("definition")
    other = client.post(url, json={"contact": "li@example.cn", "definition": RULE_A.replace(
        "key: rule_a_whitepaper", "key: other")})
    assert other.status_code == 422 and other.json()["errors"][0]["field"] == "definition.key"
    assert client.post(url, json={"contact": ""}).status_code == 422
    assert client.post("/v1/journeys/nope/dry-run", json={"contact": "li@example.cn"}).status_code == 404


def test_journey_dry_run_cli(app: Application, client: TestClient, database_url: str, tmp_path: Path) -> None:
    _world(app, client)
    before = row_counts(app)
    runner = CliRunner()
    env = {"TOUCHFLOW_DATABASE_URL": database_url}
    result = runner.invoke(cli_app, ["journey", "dry-run", "rule_a_whitepaper", "--contact", "li@example.cn",
                                     "--json"], env=env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["nodes"]["wait_engagement"]["edge"] == "on_timeout"
    text = runner.invoke(cli_app, ["journey", "dry-run", "rule_a_whitepaper", "--contact", "li@example.cn"], env=env)
    assert text.exit_code == 0 and "send_digest" in text.output
    bad = runner.invoke(cli_app, ["journey", "dry-run", "rule_a_whitepaper", "--contact", "x@nowhere.cn"], env=env)
    assert bad.exit_code == 2 and "contact" in bad.output
    draft = tmp_path / "draft.yaml"
    draft.write_text(RULE_A.replace("timeout: 3d", "timeout: 1d"), encoding="utf-8")
    from_file = runner.invoke(cli_app, ["journey", "dry-run", "rule_a_whitepaper", "--contact", "li@example.cn",
                                        "--file", str(draft), "--json"], env=env)
    assert from_file.exit_code == 0, from_file.output
    assert json.loads(from_file.output)["nodes"]["wait_engagement"]["offset"] == "1d"
    draft.write_text(RULE_A.replace("next: wait_engagement", "next: nowhere"), encoding="utf-8")
    broken = runner.invoke(cli_app, ["journey", "dry-run", "rule_a_whitepaper", "--contact", "li@example.cn",
                                     "--file", str(draft)], env=env)
    assert broken.exit_code == 2 and "definition" in broken.output
    missing = runner.invoke(cli_app, ["journey", "dry-run", "rule_a_whitepaper", "--contact", "li@example.cn",
                                      "--file", str(tmp_path / "none.yaml")], env=env)
    assert missing.exit_code == 2 and "--file" in missing.output
    assert row_counts(app) == before


def test_scenario_run_counts_every_node_and_writes_nothing(app: Application, client: TestClient) -> None:
    _world(app, client)
    before = row_counts(app)
    url = "/v1/journeys/rule_a_whitepaper/scenario-run"
    response = client.post(url, json={"scenario": SCENARIO})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["summary"]["passed"] is True
    counts = body["counts"]
    assert counts["send_digest"]["entered"] == 106  # reader 3 + ignorer 3 + typical 100; case_reader never enters
    assert counts["wait_engagement"]["left"]["on_timeout"] + counts["wait_engagement"]["left"]["on_event"] == 106
    assert row_counts(app) == before
    bad = client.post(url, json={"scenario": SCENARIO.replace("count: 100", "count: -1")})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"].startswith("scenario.personas")


BRANCHY = """key: by_industry
name: By industry
trigger:
  event: content_download
nodes:
  pick:
    kind: branch
    cases:
      - if: {attr: industry, eq: 金融}
        next: finance
      - if: {attr: industry, eq: 制造业}
        next: factory
    else: done
  finance:
    kind: update_contact
    add_tags: [finance]
    next: done
  factory:
    kind: update_contact
    add_tags: [factory]
    next: done
  done:
    kind: exit
"""


def test_dry_run_shows_the_branch_case_met_and_the_values_read(app: Application, client: TestClient) -> None:
    _world(app, client)
    put_definition(client, "by_industry", BRANCHY)
    before = row_counts(app)
    body = client.post("/v1/journeys/by_industry/dry-run", json={"contact": "email:li@example.cn"}).json()
    pick = body["nodes"]["pick"]
    assert pick["edge"] == "case[1]" and "factory" in body["nodes"] and "finance" not in body["nodes"]
    assert pick["detail"]["conditions"] == [False, True]  # case 0 unmet, case 1 met, with the values read:
    assert pick["detail"]["why"][0][0] == {"attr": "industry", "op": "eq", "expected": "金融", "actual": "制造业",
                                           "result": False}
    assert pick["detail"]["why"][1][0]["result"] is True
    assert row_counts(app) == before  # contact_tags too: the sandbox contact was tagged "factory", the real one not
