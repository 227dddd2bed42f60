"""Metrics over HTTP and on the command line: counts from the rollups, NPS from survey answers, bad input → 4xx."""

from __future__ import annotations

import json
import warnings
from datetime import timedelta

from typer.testing import CliRunner

from touchflow.bootstrap import Application
from touchflow.cli import app as cli
from touchflow.clock import VirtualClock
from touchflow.domain.events import EventInput
from touchflow.services.ingest import RawItem, record_events, upsert_contacts
from touchflow.services.metrics import refresh_rollups

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from fastapi.testclient import TestClient


def seed(app: Application, clock: VirtualClock) -> None:
    (a,) = [c for c in upsert_contacts(app.services, "crm", [RawItem({"email": "k@metrics.test"})]).contact_ids if c]
    now = clock.now()
    props = {"message_id": "k1", "channel": "sms", "journey_id": "", "node_id": "n1", "template": "promo"}
    with app.services.uow() as uow:
        uow.events.insert([(EventInput(f"m_k1_{stage}", f"message_{stage}", (), now, "touchflow", props), a)
                           for stage in ("queued", "sent", "delivered", "opened")], now)
        uow.commit()
    record_events(app.services, "survey", [RawItem({"type": "survey_response", "email": "k@metrics.test",
                                                    "properties": {"score": s, "survey_id": "q1"},
                                                    "event_id": f"s{n}"})
                                           for n, s in enumerate((10, 9, 3, 8))])
    clock.advance(timedelta(minutes=5))


def test_metrics_api(app: Application, clock: VirtualClock, client: TestClient) -> None:
    seed(app, clock)
    refresh_rollups(app.services)
    body = client.get("/v1/metrics", params={"from": "2026-03-01", "to": "2026-03-03", "by": "channel"}).json()
    (row,) = body["rows"]
    assert (row["channel"], row["sent"], row["delivered"], row["opened_unique"]) == ("sms", 1, 1, 1)
    assert row["rates"]["open_rate"] == 1.0 and row["rates"]["click_rate"] == 0.0
    assert row["rates"]["conversion_rate"] is None
    bad = client.get("/v1/metrics", params={"by": "hour"})
    assert bad.status_code == 422 and "by" in bad.json()["errors"][0]["field"]
    assert client.get("/v1/metrics", params={"from": "2026-03-05", "to": "2026-03-01"}).status_code == 400
    assert client.get("/v1/metrics", params={"from": "yesterday"}).status_code == 422
    assert client.get("/v1/metrics", params={"to": "0"}).status_code == 422
    assert client.get("/v1/metrics", params={"to": "2026-02-30"}).json()["errors"][0]["field"] == "to"
    assert client.get("/v1/metrics", params={"journey": "nope"}).status_code == 400
    nps = client.get("/v1/metrics/nps", params={"from": "2026-03-01", "to": "2026-03-03"}).json()
    assert (nps["responses"], nps["promoters"], nps["detractors"], nps["nps"]) == (4, 2, 1, 25.0)
    times = client.get("/v1/metrics/response-times").json()
    assert times["ingest"]["batches"] == 1 and times["ingest"]["p95_s"] is not None


def test_metrics_cli_json(app: Application, clock: VirtualClock) -> None:
    seed(app, clock)
    env = {"TOUCHFLOW_DATABASE_URL": app.settings.database_url}
    shown = CliRunner().invoke(cli, ["metrics", "show", "--from", "2026-03-01", "--to", "2026-03-03", "--by",
                                     "template", "--json"], env=env)
    assert shown.exit_code == 0, shown.output
    (row,) = json.loads(shown.output)["rows"]
    assert (row["template"], row["queued"], row["sent"], row["opened"]) == ("promo", 1, 1, 1)
    table = CliRunner().invoke(cli, ["metrics", "show", "--from", "2026-03-01", "--to", "2026-03-03"], env=env)
    assert table.exit_code == 0 and "打开率" in table.output and "100.0%" in table.output
    bad = CliRunner().invoke(cli, ["metrics", "show", "--by", "hour"], env=env)
    assert bad.exit_code == 2 and "by" in bad.output
    nps = CliRunner().invoke(cli, ["metrics", "nps", "--from", "2026-03-01", "--to", "2026-03-03", "--json"], env=env)
    assert json.loads(nps.output)["nps"] == 25.0
    rebuilt = CliRunner().invoke(cli, ["metrics", "rebuild", "--json"], env=env)
    assert rebuilt.exit_code == 0 and json.loads(rebuilt.output)["events"] == 4
