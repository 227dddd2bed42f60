"""``touchflow audit``: the request id, IP and user agent of an API call reach its audit row and ``audit search``;
``verify`` exits 1 naming the broken row; ``anchor`` and ``verify --anchors``; ``purge`` refuses two years;
``export`` writes JSON Lines an outside party can re-check with nothing but sha256."""

from __future__ import annotations

import hashlib
import itertools
import warnings
from pathlib import Path

import orjson
from sqlalchemy import select, update
from starlette.exceptions import StarletteDeprecationWarning
from typer.testing import CliRunner

from tests.e2e.test_channels_cli import KEY
from tests.integration.test_audit_chain import tamper
from touchflow.bootstrap import Application
from touchflow.cli import app as cli
from touchflow.security.request_context import current_request
from touchflow.services.ingest import RawItem, upsert_contacts
from touchflow.store.tables import audit_log

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient


def run(app: Application, *args: str, **env: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), env={"TOUCHFLOW_DATABASE_URL": app.settings.database_url,
                                                      "TOUCHFLOW_SECRET_KEY": KEY, **env})
    return result.exit_code, result.output


_TAGS = itertools.count()


def _patch(client: TestClient, headers: dict[str, str]) -> str:
    tag = f"t{next(_TAGS)}"  # a new tag each time: a patch that changes nothing writes no row
    answer = client.patch("/v1/contacts/email:ann@example.cn", json={"add_tags": [tag], "reason": "asked"},
                          headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.headers["X-Request-ID"]


def test_an_api_call_is_audited_with_its_request_id_ip_and_user_agent(app: Application, client: TestClient) -> None:
    upsert_contacts(app.services, "crm", [RawItem({"email": "ann@example.cn"})])
    request_id = _patch(client, {"X-Request-ID": "req-42.a_b", "User-Agent": "crm-sync/1.0"})
    assert request_id == "req-42.a_b"
    code, out = run(app, "audit", "search", "--request-id", "req-42.a_b", "--json")
    assert code == 0, out
    [row] = orjson.loads(out)
    assert (row["action"], row["request_id"], row["ip"], row["user_agent"]) == \
        ("contact.patch", "req-42.a_b", "testclient", "crm-sync/1.0")
    assert row["at"].endswith("+08:00")  # the workspace's zone, with its offset
    # an id that is not sane is replaced, never stored
    for hostile in ("x" * 65, "a b", "<script>", "id;drop", ""):
        made = _patch(client, {"X-Request-ID": hostile})
        assert made != hostile and len(made) == 32
    assert client.get("/v1/nothing-here").headers["X-Request-ID"]  # error answers carry one too
    code, out = run(app, "audit", "search", "--action", "contact.", "--csv")
    assert code == 0 and out.count("contact.patch") == 6 and "crm-sync/1.0" in out
    assert "2026-03-02 09:00 +08:00" in out  # CSV: local time with its offset


def test_cli_commands_record_a_cli_request_id(app: Application) -> None:
    code, out = run(app, "site", "create", "www.example.cn", "--origin", "https://www.example.cn")
    assert code == 0, out
    code, out = run(app, "audit", "search", "--action", "site.create", "--json")
    [row] = orjson.loads(out)
    assert row["request_id"].startswith("cli-") and row["ip"] is None
    assert current_request() is None  # the command's context ends with it


def test_verify_reports_the_first_broken_row_and_exits_1(app: Application, tmp_path: Path) -> None:
    for name in ("a.example.cn", "b.example.cn", "c.example.cn"):
        assert run(app, "site", "create", name, "--origin", f"https://{name}")[0] == 0
    code, out = run(app, "audit", "verify", "--json")
    assert code == 0 and orjson.loads(out)["ok"] and orjson.loads(out)["checked"] == 3
    anchors = tmp_path / "anchors.jsonl"
    code, out = run(app, "audit", "anchor", "--json", TOUCHFLOW_AUDIT_ANCHOR_FILE=str(anchors))
    assert code == 0 and orjson.loads(out)["anchor"]["last_id"] == 3
    assert run(app, "audit", "verify", "--anchors", str(anchors))[0] == 0
    tamper(app, update(audit_log).where(audit_log.c.id == 2).values(actor="os:someone-else"))
    code, out = run(app, "audit", "verify", "--json")
    assert code == 1 and orjson.loads(out)["broken"]["row_id"] == 2
    assert orjson.loads(out)["broken"]["kind"] == "edited"
    code, out = run(app, "audit", "verify")
    assert code == 1 and "row 2" in out
    code, out = run(app, "audit", "verify", "--anchors", str(tmp_path / "missing"))
    assert code == 2 and "--anchors" in out


def test_purge_refuses_a_date_inside_two_years(app: Application) -> None:
    code, out = run(app, "audit", "purge", "--before", "2025-06-01")
    assert code == 2 and "2 years" in out
    code, out = run(app, "audit", "purge", "--before", "yesterday")
    assert code == 2 and "--before" in out
    code, out = run(app, "audit", "purge", "--before", "2020-01-01", "--json")
    assert code == 0 and orjson.loads(out)["deleted"] == 0


def test_export_is_checkable_with_sha256_alone(app: Application, tmp_path: Path) -> None:
    for name in ("a.example.cn", "b.example.cn", "c.example.cn"):
        assert run(app, "site", "create", name, "--origin", f"https://{name}")[0] == 0
    out_file = tmp_path / "audit.jsonl"
    code, out = run(app, "audit", "export", "--since", "2000-01-01", "--until", "2100-01-01", "--out", str(out_file),
                    "--json")
    assert code == 0 and orjson.loads(out)["rows"] == 3
    rows = [orjson.loads(line) for line in out_file.read_bytes().splitlines()]
    for i, row in enumerate(rows):
        content = {k: v for k, v in row.items() if k not in ("prev_hash", "hash")}
        canonical = orjson.dumps(content, option=orjson.OPT_SORT_KEYS)
        assert hashlib.sha256(row["prev_hash"].encode() + b"\n" + canonical).hexdigest() == row["hash"]
        if i:
            assert row["prev_hash"] == rows[i - 1]["hash"]
    assert run(app, "audit", "export", "--out", str(out_file))[0] == 2  # never overwrites
    with app.engine.connect() as c:
        assert c.execute(select(audit_log.c.hash).order_by(audit_log.c.id.desc())).first()[0] == rows[-1]["hash"]


def test_the_api_searches_the_audit_log_with_hashes(app: Application, client: TestClient) -> None:
    upsert_contacts(app.services, "crm", [RawItem({"email": "ann@example.cn"})])
    _patch(client, {"X-Request-ID": "req-api-1"})
    found = client.get("/v1/audit", params={"request_id": "req-api-1"})
    assert found.status_code == 200, found.text
    [row] = found.json()["items"]
    assert row["action"] == "contact.patch" and len(row["hash"]) == 64 and row["at"].endswith("Z")
    assert client.get("/v1/audit", params={"since": "2026-03-02T09:00:00"}).status_code == 422
    page = client.get("/v1/audit", params={"limit": 1}).json()
    assert len(page["items"]) == 1 and page["next_after_id"] == page["items"][0]["id"]
    assert client.get("/openapi.json").json()["paths"]["/v1/audit"]["get"]["x-permission"] == "audit.read"
