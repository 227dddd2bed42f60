"""Connectors through the CLI and /v1/connectors: add with a sealed secret (never shown), run, show, pause and
resume, with audit rows naming who acted; hostile input names its field (exit 2, 422), never a 500."""

from __future__ import annotations

import base64
import sqlite3
import warnings
from datetime import timedelta
from pathlib import Path

import orjson
import pytest
from sqlalchemy import select
from starlette.exceptions import StarletteDeprecationWarning
from typer.testing import CliRunner

from touchflow.bootstrap import Application
from touchflow.cli import app as cli
from touchflow.cli.common import local_actor
from touchflow.engine.connectors.kinds import kind_requirements
from touchflow.services.connectors import add_connector, get_connector
from touchflow.store.tables import audit_log, connectors

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

KEY = base64.urlsafe_b64encode(bytes(range(32))).decode()
PASSWORD = "不要泄露-pw-42"


@pytest.fixture
def env(app: Application) -> dict[str, str]:
    return {"TOUCHFLOW_DATABASE_URL": app.settings.database_url, "TOUCHFLOW_SECRET_KEY": KEY}


def _cli(env: dict[str, str], *args: str, stdin: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), env=env, input=stdin)
    return result.exit_code, result.output


def _source(path: Path) -> Path:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE members (id INTEGER PRIMARY KEY, 姓名 TEXT, 手机 TEXT)")
        db.executemany("INSERT INTO members VALUES (?, ?, ?)", [(1, "张三", "13800138000"), (2, "李四", "bad")])
    return path


def test_cli_add_run_show_pause_resume(app: Application, env: dict[str, str], tmp_path: Path) -> None:
    src = _source(tmp_path / "members.db")
    secret = tmp_path / "db.secret"
    secret.write_text(f"password={PASSWORD}\n", encoding="utf-8")
    code, out = _cli(env, "connector", "add", "members", "--kind", "sql", "--setting", f"url=sqlite:///{src}",
                     "--setting", "table=members", "--cursor", "id", "--schedule", "0 */2 * * *",
                     "--secret-file", str(secret), "--json")
    assert code == 0, out
    added = orjson.loads(out)
    assert added["secret"] == ["password"] and PASSWORD not in out and added["next_run_at"]
    with app.engine.connect() as c:
        stored = c.execute(select(connectors.c.secret)).scalar_one()
        trail = [r.action for r in c.execute(select(audit_log.c.action, audit_log.c.actor)
                                             .where(audit_log.c.actor == local_actor().label))]
    assert stored.startswith("v1.") and PASSWORD not in stored and "connector.add" in trail

    code, out = _cli(env, "connector", "run", "members", "--json")
    assert code == 0, out
    run = orjson.loads(out)
    assert (run["read"], run["accepted"], run["rejected"], run["cursor_after"]) == (2, 1, 1, 2)
    code, out = _cli(env, "connector", "list", "--json")
    assert code == 0 and orjson.loads(out)[0]["success_rate"] == 1.0
    assert _cli(env, "connector", "list")[0] == 0
    code, out = _cli(env, "connector", "show", "members", "--json")
    assert code == 0 and orjson.loads(out)["runs"][0]["status"] == "succeeded"
    code, out = _cli(env, "connector", "pause", "members", "--json")
    assert code == 0 and orjson.loads(out) == {"name": "members", "status": "paused", "next_run_at": None}
    code, out = _cli(env, "connector", "resume", "members", "--json")
    assert code == 0 and orjson.loads(out)["next_run_at"]
    code, out = _cli(env, "connector", "test", "members", "--json")
    assert code == 0 and orjson.loads(out)["ok"] is True


@pytest.mark.parametrize(("args", "named"), [
    (["--kind", "nope"], "kind"),
    (["--kind", "sql"], "settings.url"),
    (["--kind", "sql", "--setting", "url=sqlite://", "--setting", "password=x"], "settings.password"),
    (["--kind", "sql", "--setting", "url=sqlite://", "--schedule", "61 * * * *"], "schedule"),
    (["--kind", "sql", "--setting", "url=sqlite://", "--record-kind", "events"], "event_type"),
    (["--kind", "sql", "--setting", "url=sqlite://", "--map", "nonsense=x"], "unknown field"),
    (["--kind", "sql", "--setting", "url=sqlite://", "--secret", "password=x"], "--secret-file"),
])
def test_cli_bad_input_exits_2_naming_the_field(env: dict[str, str], args: list[str], named: str) -> None:
    code, out = _cli(env, "connector", "add", "bad", *args)
    assert code == 2 and named in out


def test_api_connectors(client: TestClient, app: Application, tmp_path: Path) -> None:
    src = _source(tmp_path / "members.db")
    body = {"name": "members", "kind": "sql", "settings": {"url": f"sqlite:///{src}", "table": "members"},
            "secrets": {"password": PASSWORD}, "cursor": "id", "schedule": "manual"}
    created = client.post("/v1/connectors", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["secret"] == ["password"] and PASSWORD not in created.text
    assert client.post("/v1/connectors", json=body).status_code == 422  # exists
    assert client.post("/v1/connectors/members/test").json()["ok"] is True
    assert client.post("/v1/connectors/members/run").status_code == 202
    listed = client.get("/v1/connectors").json()["items"]
    assert listed[0]["name"] == "members" and listed[0]["next_run_at"]  # queued for the worker
    assert client.post("/v1/connectors/members/pause").json()["status"] == "paused"
    assert client.post("/v1/connectors/members/run").status_code == 409
    assert client.get("/v1/connectors/nope").status_code == 404
    shown = client.get("/v1/connectors/members").json()
    assert shown["status"] == "paused" and shown["runs"] == []
    for bad, field in (({**body, "name": "Bad Name!"}, "name"), ({**body, "name": "x", "kind": "zzz"}, "kind"),
                       ({**body, "name": "x", "mapping": {"phone": "a\u0000b"}}, "mapping"),
                       ({**body, "name": "x", "settings": {"url": "sqlite://", "n": 10**30}}, "settings"),
                       ({**body, "name": "x", "mapping": {"zzz": "col"}}, "mapping")):
        refused = client.post("/v1/connectors", json=bad)
        assert refused.status_code == 422, refused.text
        assert refused.json()["errors"][0]["field"] == field
    with app.engine.connect() as c:
        actions = {r.action for r in c.execute(select(audit_log.c.action).where(audit_log.c.subject == "members"))}
    assert {"connector.add", "connector.run_requested", "connector.pause"} <= actions


def test_key_rotation_reseals_connector_secrets(app: Application, tmp_path: Path) -> None:
    sealed = app.secret_box().seal({"password": PASSWORD}, "connector:crm")
    add_connector(app.services, "crm", "sql", {"url": f"sqlite:///{_source(tmp_path / 'm.db')}", "table": "members"},
                  sealed_secret=sealed, secret_names=["password"], kinds=kind_requirements(), actor="user:test")
    rotation = app.rotate_secret_key(timedelta(days=1), actor="ops:li")
    assert "connector:crm" in rotation.resealed
    after = get_connector(app.services, "crm").secret
    assert after is not None and after != sealed
    assert app.secret_box().open(after, "connector:crm") == {"password": PASSWORD}
