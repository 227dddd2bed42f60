"""``touchflow connector writeback|dead-letters``: the error report, retry and discard, audited as the OS user;
an unknown connector or two actions at once exit 2."""

from __future__ import annotations

import base64

import httpx
import orjson
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from touchflow.bootstrap import Application
from touchflow.cli import app as cli
from touchflow.cli.common import local_actor
from touchflow.domain.events import EventInput
from touchflow.engine.connectors.kinds import kind_requirements
from touchflow.engine.connectors.writeback_sender import ship_writebacks
from touchflow.services.connectors import add_connector
from touchflow.services.context import emit_events
from touchflow.services.ingest import RawItem, upsert_contacts
from touchflow.store.tables import audit_log

KEY = base64.urlsafe_b64encode(bytes(range(32))).decode()


@pytest.fixture
def env(app: Application) -> dict[str, str]:
    return {"TOUCHFLOW_DATABASE_URL": app.settings.database_url, "TOUCHFLOW_SECRET_KEY": KEY}


def _cli(env: dict[str, str], *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), env=env)
    return result.exit_code, result.output


def _dead_letters(app: Application, n: int) -> None:
    add_connector(app.services, "crm", "rest_api", {"preset": "hubspot", "writeback": {
        "preset": "hubspot", "base_url": "http://127.0.0.1:9", "fields": ["stage"]}},
        kinds=kind_requirements(), actor="user:admin")
    report = upsert_contacts(app.services, "shop", [RawItem({"phone": f"1380000000{i}"}) for i in range(n)])
    now = app.services.clock.now()
    with app.services.uow() as uow:  # stage changes of contacts HubSpot cannot match (no email): dead letters
        emit_events(uow, [(EventInput(f"ev-{i}", "stage_changed", (), now, "touchflow", {"stage": "intent"}), cid)
                          for i, cid in enumerate(report.contact_ids) if cid], now)
        uow.commit()
    with httpx.Client() as client:
        assert ship_writebacks(app.services, None, client).dead == n


def test_report_retry_and_discard(app: Application, env: dict[str, str]) -> None:
    _dead_letters(app, 3)
    code, out = _cli(env, "connector", "writeback", "crm", "--json")
    assert code == 0, out
    report = orjson.loads(out)
    assert report["counts"] == {"dead": 3} and "no email" in report["recent_errors"][0]["last_error"]
    code, out = _cli(env, "connector", "dead-letters", "crm", "--json")
    letters = orjson.loads(out)["dead_letters"]
    assert code == 0 and len(letters) == 3
    code, out = _cli(env, "connector", "dead-letters", "crm", "--discard", str(letters[0]["id"]), "--json")
    assert code == 0 and orjson.loads(out)["discarded"] == 1 and len(orjson.loads(out)["dead_letters"]) == 2
    code, out = _cli(env, "connector", "dead-letters", "crm", "--retry-all", "--json")
    assert code == 0 and orjson.loads(out) == {"connector": "crm", "requeued": 2, "dead_letters": []}
    code, out = _cli(env, "connector", "writeback", "crm")
    assert code == 0 and "pending 2" in out and "discarded 1" in out
    with app.engine.connect() as c:
        actions = [r.action for r in c.execute(select(audit_log.c.action)
                                               .where(audit_log.c.actor == local_actor().label))]
    assert actions == ["connector.writeback.discard", "connector.writeback.retry"]


def test_unknown_connector_and_two_actions_exit_2(app: Application, env: dict[str, str]) -> None:
    code, out = _cli(env, "connector", "dead-letters", "nope", "--json")
    assert code == 2 and "nope" in out
    _dead_letters(app, 1)
    code, out = _cli(env, "connector", "dead-letters", "crm", "--retry-all", "--discard-all")
    assert code == 2 and "choose one" in out
