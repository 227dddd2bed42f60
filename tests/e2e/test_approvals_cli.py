"""Four-eyes approvals at the command line (P4), on SQLite and PostgreSQL. The CLI acts as the OS account that
runs it: the account that asked cannot approve; a second administrator approves with their own API key (or
their own OS account), and the requester downloads the file."""

from __future__ import annotations

import csv
import io
import stat
import warnings
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from touchflow.bootstrap import Application
from touchflow.cli import app as cli
from touchflow.clock import VirtualClock
from touchflow.services.ingest import RawItem, upsert_contacts
from touchflow.services.segments import add_members, create_segment

with warnings.catch_warnings():
    from starlette.exceptions import StarletteDeprecationWarning

    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient


@pytest.fixture(autouse=True)
def _real_time(clock: VirtualClock) -> None:
    """The CLI runs on the system clock; the API client here on the virtual one: start them together, so an
    export produced through the API is not 24 h old to the CLI."""
    clock.set(datetime.now(UTC))


def run(app: Application, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), env={"TOUCHFLOW_DATABASE_URL": app.settings.database_url})
    return result.exit_code, result.output


def test_cli_export_needs_another_person_and_only_the_requester_downloads(
        app: Application, client: TestClient, tmp_path: Path) -> None:
    upsert_contacts(app.services, "crm", [RawItem({"email": "mei@example.com", "name": "韩梅梅", "tags": "vip"}),
                                          RawItem({"email": "lei@example.com", "name": "李雷"})])
    code, out = run(app, "export", "request", "contacts", "--tag", "vip", "--fields", "name,email", "--format",
                    "csv", "--reason", "VIP 回访", "--json")
    assert code == 0, out
    request_id = orjson.loads(out)["id"]
    assert orjson.loads(out)["requested_by"].startswith("os:")

    code, out = run(app, "approval", "approve", request_id)
    assert code == 2 and "four-eyes" in out  # the same OS account
    code, out = run(app, "approval", "list", "--state", "pending", "--json")
    assert [r["id"] for r in orjson.loads(out)] == [request_id]

    approved = client.post(f"/v1/approvals/{request_id}/approve", json={"note": "ok"})  # a second admin's key
    assert approved.status_code == 200 and approved.json()["state"] == "executed"
    assert client.get(f"/v1/exports/{request_id}/download").status_code == 404  # not the requester

    target = tmp_path / "vip.csv"
    code, out = run(app, "export", "download", request_id, "--out", str(target), "--json")
    assert code == 0, out
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    rows = list(csv.reader(io.StringIO(target.read_text(encoding="utf-8-sig"))))
    assert rows == [["export_id", "name", "email"], [request_id, "韩梅梅", "mei@example.com"]]
    code, out = run(app, "export", "download", request_id, "--out", str(target))
    assert code == 2 and "exists" in out

    code, out = run(app, "approval", "show", request_id, "--json")
    assert code == 0 and orjson.loads(out)["state"] == "executed"
    assert run(app, "approval", "show", "ffff")[0] == 1
    assert run(app, "export", "request", "segment", "--reason", "r")[0] == 2
    code, out = run(app, "export", "request", "contacts", "--format", "pdf", "--reason", "r")
    assert code == 2 and "format" in out


def test_cli_bulk_delete_is_a_request_and_the_cli_decides_what_an_api_key_asked(
        app: Application, client: TestClient) -> None:
    upsert_contacts(app.services, "crm", [RawItem({"email": "a@example.com"}), RawItem({"email": "b@example.com"})])
    create_segment(app.services, {"key": "gone", "name": "gone", "kind": "static"}, actor="t")
    add_members(app.services, "gone", ["email:a@example.com"], actor="t")
    code, out = run(app, "contact", "delete", "--segment", "gone", "--reason", "客户注销", "--json")
    assert code == 0, out
    deletion = orjson.loads(out)
    assert deletion["kind"] == "contacts_delete" and deletion["payload"]["count"] == 1
    assert run(app, "contact", "show", "email:a@example.com")[0] == 0  # nothing deleted yet
    code, out = run(app, "contact", "delete", "email:nobody@example.com", "--reason", "r")
    assert code == 2 and "no contact matches" in out

    asked = client.post("/v1/exports", json={"reason": "api asks"}).json()["id"]
    code, out = run(app, "approval", "reject", asked, "--note", "not now", "--json")  # another person: allowed
    assert code == 0 and orjson.loads(out)["state"] == "rejected"
    approved = client.post(f"/v1/approvals/{deletion['id']}/approve")
    assert approved.status_code == 200 and approved.json()["result"]["deleted"] == 1
    assert run(app, "contact", "show", "email:a@example.com")[0] == 1
    assert run(app, "contact", "show", "email:b@example.com")[0] == 0

    code, out = run(app, "approval", "purge", "--json")
    assert code == 0 and orjson.loads(out) == {"expired": [], "purged": []}


def test_cli_export_scope_key_is_picked_up_once_by_the_requester(app: Application, client: TestClient) -> None:
    code, out = run(app, "approval", "request-key", "bi-export", "--scope", "contacts.export", "--reason",
                    "BI 每周导出", "--json")
    assert code == 0, out
    request_id = orjson.loads(out)["id"]
    assert run(app, "approval", "approve", request_id)[0] == 2
    assert client.post(f"/v1/approvals/{request_id}/approve").json()["state"] == "executed"
    code, out = run(app, "approval", "pickup", request_id, "--json")
    assert code == 0 and orjson.loads(out)["secret"].startswith("tf_")
    code, out = run(app, "approval", "pickup", request_id)
    assert code == 2 and "gone" in out
