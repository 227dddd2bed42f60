"""``/v1/attribution…``, ``/v1/journeys/{key}/uplift`` and ``touchflow attribution …``: one JSON shape, clear 4xx /
exit 2 on bad input, costs audited."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert, select
from typer.testing import CliRunner

from touchflow.bootstrap import Application
from touchflow.cli import app as cli
from touchflow.clock import VirtualClock
from touchflow.services.ingest import RawItem, record_events
from touchflow.services.journeys import publish_journey
from touchflow.store.tables import audit_log, contact_identities, outbox

JOURNEY = """
key: welcome
trigger: {event: signup}
holdout: {share: 0.2}
nodes:
  hello: {kind: send, channel: email, template: hello}
"""


@pytest.fixture
def seeded(app: Application, clock: VirtualClock) -> dict[str, str]:
    """Two contacts: a's email touch earns order SO1 (¥88.80), b's order has no touch."""
    publish_journey(app.services, JOURNEY, actor="test")
    t0 = clock.now()
    record_events(app.services, "shop", [
        RawItem({"type": "order_paid", "email": "a@x.cn", "occurred_at": (t0 + timedelta(days=1)).isoformat(),
                 "properties": {"order_id": "SO1", "amount": "88.80"}}),
        RawItem({"type": "order_paid", "email": "b@x.cn", "occurred_at": (t0 + timedelta(days=1)).isoformat(),
                 "properties": {"order_id": "SO2", "amount": 10}})], route=False)
    with app.engine.begin() as c:
        cid = c.execute(select(contact_identities.c.contact_id).where(contact_identities.c.value == "a@x.cn")
                        ).scalar_one()
        c.execute(insert(outbox).values(
            id="m1", idempotency_key="k1", contact_id=cid, journey_id=None, node_id="hello", channel="email",
            template="hello", payload={}, status="sent", attempts=1, created_at=t0, updated_at=t0,
            next_attempt_at=t0, sent_at=t0))
    return {"from": t0.isoformat(), "to": (t0 + timedelta(days=3)).isoformat()}


def test_api_reads(client: TestClient, seeded: dict[str, str]) -> None:
    answer = client.get("/v1/attribution", params={"model": "linear", **seeded})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["orders"] == 2 and body["attributed"] == {"orders": 1, "revenue": "88.80", "revenue_cents": 8880}
    assert body["unattributed"]["revenue"] == "10.00" and body["by_channel"][0]["name"] == "email"
    roi = client.get("/v1/attribution/roi", params={"by": "channel", **seeded}).json()
    assert roi["rows"][0]["group"] == "email" and roi["rows"][0]["touches"] == 1
    assert roi["sales_cycle"][0]["median_days"] == 1.0
    ranking = client.get("/v1/attribution/touchpoints", params=seeded).json()
    assert ranking["touchpoints"][0]["group"] == "-/hello/hello"
    uplift = client.get("/v1/journeys/welcome/uplift").json()
    assert uplift["holdouts"][0]["share"] == 0.2 and uplift["holdouts"][0]["uplift"] is None  # nobody entered yet


def test_api_refuses_bad_input_by_name(client: TestClient, seeded: dict[str, str]) -> None:
    naive = client.get("/v1/attribution", params={"from": "2026-03-01T00:00:00"})
    assert naive.status_code == 422 and "from" in naive.text
    assert client.get("/v1/attribution", params={"model": "best"}).status_code == 422
    assert client.get("/v1/attribution", params={"from": seeded["to"], "to": seeded["from"]}).status_code == 422
    assert client.get("/v1/attribution", params={"journey": "nope"}).status_code == 404
    assert client.get("/v1/journeys/nope/uplift").status_code == 404
    bad = client.put("/v1/attribution/settings", json={"costs": {"sms": "-1"}})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "sms"
    assert client.put("/v1/attribution/settings", json={"window": "1y"}).status_code == 422
    assert client.put("/v1/attribution/settings", json={}).status_code == 422
    good = client.put("/v1/attribution/settings", json={"costs": {"sms": "0.05"}, "window": "14d"})
    assert good.status_code == 200 and good.json() == {"window": "14d", "costs": {"sms": "0.05"}}
    assert client.get("/v1/attribution/settings").json()["window"] == "14d"


def run(app: Application, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), env={"TOUCHFLOW_DATABASE_URL": app.settings.database_url})
    return result.exit_code, result.output


def as_json(app: Application, *args: str) -> Any:
    code, out = run(app, *args, "--json")
    assert code == 0, out
    return orjson.loads(out)


def test_cli(app: Application, seeded: dict[str, str]) -> None:
    span = ["--from", seeded["from"], "--to", seeded["to"]]
    shown = as_json(app, "attribution", "show", "--model", "first", *span)
    assert shown["attributed"]["orders"] == 1 and shown["model"] == "first"
    assert as_json(app, "attribution", "roi", "--by", "period", "--period", "day", *span)["rows"][0]["group"] == \
        "2026-03-02"
    assert as_json(app, "attribution", "touchpoints", *span)["channels"][0]["group"] == "email"
    local = as_json(app, "attribution", "roi", "--from", "2026-03-01", "--to", "2026-03-05")  # dates: +08:00
    assert local["from"] == "2026-03-01T00:00:00+08:00" and local["sales_cycle"][0]["contacts"] == 1
    assert local["total"]["cpa"] == "0.0010"  # one email at the default ¥0.001 earned one order
    assert as_json(app, "attribution", "uplift", "--journey", "welcome")["journey"] == "welcome"
    assert as_json(app, "attribution", "costs", "set", "sms=0.045", "email=0.001")["costs"] == {
        "email": "0.001", "sms": "0.045"}
    assert as_json(app, "attribution", "costs", "show")["costs"]["sms"] == "0.045"
    assert as_json(app, "attribution", "window", "10d")["window"] == "10d"
    code, out = run(app, "attribution", "show", *span)  # the table, in Chinese by default
    assert code == 0 and "已归因" in out and "88.80" in out
    code, out = run(app, "attribution", "roi", "--lang", "en", *span)
    assert code == 0 and "sales cycle" in out
    for args, says in ((["show", "--model", "best"], "--model"), (["show", "--from", "soon"], "--from"),
                       (["roi", "--by", "city"], "--by"), (["uplift", "--journey", "nope"], "nope"),
                       (["costs", "set", "sms"], "channel=cost"), (["costs", "set", "sms=-1"], "sms"),
                       (["window", "never"], "window")):
        code, out = run(app, "attribution", *args)
        assert code == 2 and says in out, (args, out)
    with app.engine.connect() as c:
        actions = list(c.execute(select(audit_log.c.action, audit_log.c.actor)).all())
    assert [a for a, _ in actions if a.startswith("attribution.")] == ["attribution.costs", "attribution.window"]
    assert all(actor.startswith("os:") for a, actor in actions if a.startswith("attribution."))


def test_cli_workspace_holdout(app: Application, clock: VirtualClock) -> None:
    assert as_json(app, "attribution", "holdout", "show") == {"holdouts": []}
    started = as_json(app, "attribution", "holdout", "set", "--share", "0.05", "--key", "q3")
    assert started["share"] == 0.05 and started["key"] == "q3" and started["ended_at"] is None
    assert started["set_by"].startswith("os:")
    clock.advance(timedelta(days=1))
    ended = as_json(app, "attribution", "holdout", "end")
    assert ended["id"] == started["id"] and ended["ended_at"] is not None
    shown = as_json(app, "attribution", "holdout", "show")["holdouts"]
    assert [(g["key"], g["ended_at"] is not None) for g in shown] == [("q3", True)]
    uplift = as_json(app, "attribution", "uplift", "--workspace")
    assert uplift["scope"] == "workspace" and uplift["holdouts"][0]["key"] == "q3"
    code, out = run(app, "attribution", "uplift", "--workspace", "--lang", "en")
    assert code == 0 and "workspace holdout q3" in out
    for args, says in ((["holdout", "set", "--share", "0.5"], "share"), (["holdout", "end"], "no workspace"),
                       (["uplift"], "--workspace"), (["uplift", "--workspace", "--journey", "welcome"], "--workspace")):
        code, out = run(app, "attribution", *args)
        assert code == 2 and says in out, (args, out)


def test_api_workspace_holdout(client: TestClient, app: Application, clock: VirtualClock) -> None:
    assert client.get("/v1/attribution/holdout").json() == {"holdouts": []}
    assert client.delete("/v1/attribution/holdout").status_code == 409
    bad = client.put("/v1/attribution/holdout", json={"share": 0.3})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "share"
    assert client.put("/v1/attribution/holdout", json={"share": 0.1, "extra": 1}).status_code == 422
    started = client.put("/v1/attribution/holdout", json={"share": 0.1, "key": "q3"})
    assert started.status_code == 200 and started.json()["ended_at"] is None
    clock.advance(timedelta(hours=1))
    ended = client.delete("/v1/attribution/holdout").json()
    assert ended["id"] == started.json()["id"] and ended["ended_at"] is not None
    assert client.get("/v1/attribution/holdout").json()["holdouts"][0]["ended_at"] == ended["ended_at"]
    uplift = client.get("/v1/attribution/holdout/uplift").json()
    assert uplift["scope"] == "workspace" and uplift["holdouts"][0]["key"] == "q3"
    with app.engine.connect() as c:
        actions = [a for a in c.execute(select(audit_log.c.action)).scalars() if a.startswith("holdout.")]
    assert actions == ["holdout.workspace.set", "holdout.workspace.end"]
