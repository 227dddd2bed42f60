"""One period, three readers: the weekly report, the dashboard's ``/v1/metrics`` and ``touchflow metrics show``
count the same rollups (ADR 0033), so they show the same numbers — SQLite and PostgreSQL."""

from __future__ import annotations

import json
import warnings
from typing import Any

from typer.testing import CliRunner

from tests.integration.reports_support import Scenario, local
from touchflow.bootstrap import Application
from touchflow.cli import app as cli
from touchflow.services.reports import build_report

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from fastapi.testclient import TestClient

FIELDS = ("entered", "sent", "delivered", "opened_unique", "clicked_unique", "converted", "skipped_total")
WEEK = {"from": "2026-02-23", "to": "2026-03-01"}


def _scenario(app: Application) -> None:
    s = Scenario(app)
    s.runs(local(24), entered=10, converted=3)
    s.runs(local(23, hour=0), entered=1)
    s.messages(local(24), sent=8, skipped={"frequency_cap": 2}, delivered=6, opened=4, clicked=2)
    s.messages(local(26), sent=20, delivered=20, opened=10, clicked=5, template="usage_tips")
    s.messages(local(28, hour=23), sent=3, delivered=3, opened=3)  # 23:00 local on Saturday: still this week
    s.messages(local(1, hour=1, month=3), sent=4, delivered=4)  # Sunday 01:00 local, Saturday 17:00 UTC


def _totals(rows: list[dict[str, Any]]) -> dict[str, int]:
    return {f: sum(int(r[f]) for r in rows) for f in FIELDS}


def test_report_dashboard_and_cli_show_the_same_numbers(app: Application, client: TestClient) -> None:
    _scenario(app)
    report = build_report(app.services, "weekly")  # brings the rollups up to date first
    t = report.totals
    from_report = {"entered": t.entered, "sent": t.sent, "delivered": t.delivered, "opened_unique": t.opened,
                   "clicked_unique": t.clicked, "converted": t.converted, "skipped_total": t.skipped}
    assert from_report == {"entered": 11, "sent": 35, "delivered": 33, "opened_unique": 17, "clicked_unique": 7,
                           "converted": 3, "skipped_total": 2}

    by_day = client.get("/v1/metrics", params={**WEEK, "by": "day"}).json()["rows"]
    assert _totals(by_day) == from_report
    report_days = {d.isoformat(): c.sent for d, c in report.daily if c.sent}
    assert {r["day"]: r["sent"] for r in by_day if r["sent"]} == report_days == {
        "2026-02-24": 8, "2026-02-26": 20, "2026-02-28": 3, "2026-03-01": 4}

    env = {"TOUCHFLOW_DATABASE_URL": app.settings.database_url}
    shown = CliRunner().invoke(cli, ["metrics", "show", "--from", WEEK["from"], "--to", WEEK["to"], "--by",
                                     "journey", "--json"], env=env)
    assert shown.exit_code == 0, shown.output
    assert _totals(json.loads(shown.output)["rows"]) == from_report
    [funnel] = report.funnels
    assert (funnel.counts.sent, funnel.counts.opened) == (35, 17)
