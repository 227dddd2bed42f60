"""Alerts on a real store (SQLite and PostgreSQL): the circuit breaker within the hour, shadow mode, cooldown and
re-arm after a person resumes; ``explain`` and the rule API. Messages are written straight into the outbox and
events tables, as the dispatcher and tracking would have."""

from __future__ import annotations

import json
import warnings
from datetime import timedelta
from pathlib import Path

from sqlalchemy import insert
from typer.testing import CliRunner

from touchflow.bootstrap import Application
from touchflow.cli import app as cli
from touchflow.clock import VirtualClock
from touchflow.domain.measurement.alert_rules import DEFAULT_RULES
from touchflow.services.alerts import AlertSweeper, alert_history, evaluate_alerts, set_rule
from touchflow.services.explain import explain
from touchflow.services.ingest import RawItem, upsert_contacts
from touchflow.services.journeys import publish_journey, set_journey_status
from touchflow.store.tables import audit_log, events, outbox

with warnings.catch_warnings():
    from starlette.exceptions import StarletteDeprecationWarning

    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

JOURNEY = """
key: promo
trigger: {event: signup}
nodes:
  mail: {kind: send, channel: email, template: promo_a, next: done}
  done: {kind: exit}
"""
_seq = iter(range(10**9))


def contacts(app: Application, n: int) -> list[str]:
    domains = ("qq.com", "163.com")
    report = upsert_contacts(app.services, "test", [RawItem({"email": f"c{i}@{domains[i % 2]}"}) for i in range(n)])
    return [c for c in report.contact_ids if c is not None]


def send(app: Application, journey_id: str, people: list[str], *, complaints: int = 0, opens: float = 0.0,
         template: str = "promo_a", minutes_ago: int = 30) -> None:
    """One message to each of ``people`` sent ``minutes_ago``; the first ``complaints`` complain, a share opens."""
    now = app.services.clock.now()
    at = now - timedelta(minutes=minutes_ago)
    rows, outcome = [], []
    for index, contact in enumerate(people):
        mid = f"m{next(_seq)}"
        domain = "qq.com" if index % 2 == 0 else "163.com"
        rows.append({"id": mid, "idempotency_key": mid, "contact_id": contact, "journey_id": journey_id,
                     "node_id": "mail", "channel": "email", "template": template, "payload": {}, "status": "sent",
                     "attempts": 1, "created_at": at, "updated_at": at, "next_attempt_at": at, "sent_at": at,
                     "address": f"x{index}@{domain}"})
        props = {"message_id": mid, "journey_id": journey_id, "channel": "email"}
        if index < complaints:
            outcome.append({"id": f"m_{mid}_complained", "contact_id": contact, "type": "message_complained",
                            "occurred_at": at + timedelta(minutes=5), "received_at": now, "source": "t",
                            "properties": props})
        if index < opens * len(people):
            outcome.append({"id": f"m_{mid}_opened", "contact_id": contact, "type": "message_opened",
                            "occurred_at": at + timedelta(minutes=10), "received_at": now, "source": "t",
                            "properties": props})
    with app.engine.begin() as c:
        c.execute(insert(outbox), rows)
        if outcome:
            c.execute(insert(events), outcome)


def setup(app: Application) -> tuple[str, list[str]]:
    record = publish_journey(app.services, JOURNEY, actor="test").journey
    return record.id, contacts(app, 400)


def status(app: Application) -> tuple[str, str]:
    with app.services.reader() as uow:
        record = uow.journeys.get("promo")
        assert record is not None
        return record.status, record.status_reason


def test_complaint_spike_pauses_within_the_hour_and_re_arms_after_resume(app: Application,
                                                                          clock: VirtualClock) -> None:
    journey_id, people = setup(app)
    sweeper = AlertSweeper(app.services)
    send(app, journey_id, people, complaints=1)
    sweeper()
    assert status(app)[0] == "active"  # 1 complaint in 400: below the ceiling's noise
    clock.advance(timedelta(minutes=5))
    send(app, journey_id, people, complaints=12, minutes_ago=10)  # 13 in 800 = 1.6 % against a 0.3 % ceiling
    sweeper()
    state, reason = status(app)
    assert state == "paused" and "complaint rate" in reason and "投诉率" in reason
    with app.engine.connect() as c:
        actors = {(r.actor, r.action) for r in c.execute(audit_log.select())}
    assert ("system:alerts", "journey.pause") in actors and ("system:alerts", "alert.fired") in actors
    # a person resumes it: the rule is armed again but cools down for a day
    set_journey_status(app.services, "promo", "active", actor="ops", reason="fixed the list")
    clock.advance(timedelta(minutes=10))
    send(app, journey_id, people, complaints=12, minutes_ago=5)
    [outcome] = [o for o in evaluate_alerts(app.services, daily=False) if o.decision.rule == "complaint-breaker"]
    assert outcome.decision.suppressed == "cooldown" and status(app)[0] == "active"
    clock.advance(timedelta(days=1))
    send(app, journey_id, people, complaints=12, minutes_ago=5)
    evaluate_alerts(app.services, daily=False)
    assert status(app)[0] == "paused"
    assert [h.status for h in alert_history(app.services, "promo") if h.acted] == ["trigger", "trigger"]


def test_shadow_mode_never_pauses(app: Application) -> None:
    set_rule(app.services, {**DEFAULT_RULES[1], "shadow": True}, actor="ops")
    journey_id, people = setup(app)
    send(app, journey_id, people, complaints=20)
    [outcome] = [o for o in evaluate_alerts(app.services, daily=False) if o.decision.rule == "complaint-breaker"]
    assert outcome.decision.status == "trigger" and outcome.decision.suppressed == "shadow" and not outcome.paused
    assert status(app)[0] == "active"
    [record] = alert_history(app.services, "promo")
    assert record.suppressed == "shadow" and not record.acted


def test_explain_by_provider_and_the_api(app: Application, client: TestClient, clock: VirtualClock) -> None:
    journey_id, people = setup(app)
    send(app, journey_id, people, opens=0.3, minutes_ago=60 * 24)  # yesterday (09:00 Shanghai)
    send(app, journey_id, people[:200], opens=0.1, template="promo_b", minutes_ago=60)
    now = clock.now()
    found = explain(app.services, "open_rate", "promo", now - timedelta(hours=2), now + timedelta(hours=1),
                    by="template", base_start=now - timedelta(days=2), base_end=now - timedelta(hours=2))
    assert found.result.rate0 is not None and found.result.rate1 is not None
    assert found.result.change == found.result.mix + found.result.rate
    local = (now + timedelta(hours=8)).date()
    response = client.get("/v1/journeys/promo/explain", params={"metric": "open_rate", "from": local.isoformat(),
                                                                "to": local.isoformat(), "by": "provider"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert {s["key"] for s in body["segments"]} == {"qq.com", "163.com"} and body["rate_change"] < 0
    bad = client.get("/v1/journeys/promo/explain", params={"metric": "open_rate", "from": local.isoformat(),
                                                           "to": local.isoformat(), "by": "colour"})
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "by"
    assert client.get("/v1/journeys/nope/explain", params={"metric": "open_rate", "from": local.isoformat(),
                                                           "to": local.isoformat()}).status_code == 404


def test_rules_over_http(client: TestClient) -> None:
    listed = client.get("/v1/alerts").json()
    assert [r["name"] for r in listed["rules"]][:1] == ["open-rate-drop"]
    bad = client.put("/v1/alerts/open-rate-drop", json={**DEFAULT_RULES[0], "threshold": 2})
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "threshold"
    ok = client.put("/v1/alerts/open-rate-drop", json={**DEFAULT_RULES[0], "shadow": True})
    assert ok.status_code == 200 and ok.json()["shadow"] is True
    assert client.get("/v1/alerts").json()["rules"][0]["shadow"] is True


def cli_run(app: Application, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), env={"TOUCHFLOW_DATABASE_URL": app.settings.database_url})
    return result.exit_code, result.output


def test_cli_rules_explain_and_history(app: Application, tmp_path: Path, clock: VirtualClock) -> None:
    journey_id, people = setup(app)
    send(app, journey_id, people, opens=0.3, minutes_ago=60 * 24)
    send(app, journey_id, people[:200], opens=0.1, template="promo_b", minutes_ago=60)
    code, out = cli_run(app, "alert", "list", "--json")
    assert code == 0 and json.loads(out)[0]["name"] == "open-rate-drop"
    rule = tmp_path / "rule.yaml"
    rule.write_text("name: open-rate-drop\nmetric: open_rate\nthreshold: 1.5\n", encoding="utf-8")
    code, out = cli_run(app, "alert", "set", str(rule))
    assert code == 2 and "threshold" in out
    rule.write_text("name: click-drop\nmetric: click_rate\nshadow: true\n", encoding="utf-8")
    code, out = cli_run(app, "alert", "set", str(rule), "--json")
    assert code == 0 and json.loads(out)["shadow"] is True
    day = (clock.now() + timedelta(hours=8)).date().isoformat()
    code, out = cli_run(app, "metrics", "explain", "open_rate", "--journey", "promo", "--from", day, "--to", day,
                        "--by", "template", "--json")
    assert code == 0, out
    body = json.loads(out)
    assert body["segments"][0]["key"] in ("promo_a", "promo_b") and body["change"] < 0
    code, out = cli_run(app, "metrics", "explain", "open_rate", "--journey", "promo", "--from", day, "--to", day,
                        "--by", "colour")
    assert code == 2 and "--by" in out
    code, out = cli_run(app, "alert", "history", "--journey", "promo", "--json")
    assert code == 0 and json.loads(out) == []
    code, out = cli_run(app, "alert", "test", "open-rate-drop", "--journey", "promo", "--days", "3", "--json")
    assert code == 0 and len(json.loads(out)) == 3
