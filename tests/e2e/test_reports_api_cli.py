"""Reports, goals and reviews through the API (``reports.read``) and the CLI (every command has ``--json``)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tests.integration.reports_support import Scenario, local
from touchflow.bootstrap import Application
from touchflow.cli import app as cli


def test_report_and_goals_over_http(app: Application, client: TestClient) -> None:
    scenario = Scenario(app)
    scenario.runs(local(24), entered=10, converted=3)
    scenario.messages(local(24), sent=8, delivered=6, opened=4)

    page = client.get("/v1/reports/weekly", params={"date": "2026-02-24"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "营销自动化周报" in page.text and "新用户欢迎流程" in page.text and "<svg" in page.text
    assert "style-src 'unsafe-inline'" in page.headers["content-security-policy"]  # styled, and no script
    assert "script-src" not in page.headers["content-security-policy"]
    english = client.get("/v1/reports/weekly", params={"lang": "en", "format": "json"})
    data = english.json()
    assert data["period"]["label"].startswith("2026-W09") and data["totals"]["sent"] == 8
    assert {k["key"]: k["value"] for k in data["kpis"]}["open_rate"] == pytest.approx(4 / 6)

    assert client.get("/v1/reports/hourly").status_code == 422
    assert client.get("/v1/reports/daily", params={"date": "yesterday"}).status_code == 422

    goals = client.get("/v1/goals").json()
    assert goals["launch"] == "2026-03-02" and len(goals["key_results"]) == 9
    nps = next(g for g in goals["key_results"] if g["key"] == "nps")
    assert nps["measured"] is False and nps["value"] is None and nps["target"] == 50


def test_report_goals_and_review_commands(app: Application, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOUCHFLOW_DATABASE_URL", str(app.engine.url.render_as_string(hide_password=False)))
    scenario = Scenario(app)
    scenario.runs(local(24), entered=10, converted=3)
    runner = CliRunner()

    html = tmp_path / "weekly.html"
    done = runner.invoke(cli, ["report", "weekly", "--date", "2026-02-24", "--html", str(html), "--json"])
    assert done.exit_code == 0, done.output
    assert orjson.loads(done.output)["totals"]["entered"] == 10
    assert "营销自动化周报" in html.read_text(encoding="utf-8")
    bad = runner.invoke(cli, ["report", "daily", "--lang", "fr"])
    assert bad.exit_code == 2 and "--lang" in bad.output

    shown = runner.invoke(cli, ["goals", "show", "--json"])
    assert shown.exit_code == 0, shown.output
    assert len(orjson.loads(shown.output)["key_results"]) == 9
    table = tmp_path / "goals.yaml"
    table.write_text("phases: []\n", encoding="utf-8")
    refused = runner.invoke(cli, ["goals", "set", str(table)])
    assert refused.exit_code == 2 and "phases" in refused.output

    decided = runner.invoke(cli, ["review", "decide", "welcome", "--decision", "keep", "--note", "稳定",
                                  "--quarter", "2026Q1", "--json"])
    assert decided.exit_code == 0, decided.output
    assert orjson.loads(decided.output)["decision"] == "keep"
    review = runner.invoke(cli, ["review", "quarterly", "--quarter", "2026Q1", "--json"])
    assert review.exit_code == 0, review.output
    [journey] = orjson.loads(review.output)["journeys"]
    assert journey["key"] == "welcome" and journey["review"]["decision"] == "keep"
    assert runner.invoke(cli, ["review", "decide", "welcome", "--decision", "maybe"]).exit_code == 2
