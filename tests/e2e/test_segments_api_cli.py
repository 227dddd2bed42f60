"""Segments over HTTP and on the command line: preview before saving, create, members, refresh, list, history,
static members, and the house error style (422 naming the element, 404, 409)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

from typer.testing import CliRunner

from touchflow.bootstrap import Application
from touchflow.cli import app as cli
from touchflow.services.ingest import RawItem, upsert_contacts

with warnings.catch_warnings():
    from starlette.exceptions import StarletteDeprecationWarning

    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

SHANGHAI = {"key": "shanghai", "name": "上海客户", "condition": {"attr": "city", "eq": "上海"}}


def seed(app: Application) -> None:
    upsert_contacts(app.services, "crm", [RawItem({"email": f"s{i}@api.test", "city": "上海" if i < 3 else "北京"})
                                          for i in range(5)])


def test_segments_over_http(app: Application, client: TestClient) -> None:
    seed(app)
    preview = client.post("/v1/segments/preview", json=SHANGHAI, params={"sample": 2})
    assert preview.status_code == 200 and preview.json()["count"] == 3 and len(preview.json()["sample"]) == 2
    bad = client.post("/v1/segments/preview", json={**SHANGHAI, "condition": {"attr": "colour", "eq": "red"}})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "segment.condition.attr"
    created = client.post("/v1/segments", json=SHANGHAI)
    assert created.status_code == 201 and created.json()["members"] == 3
    assert client.post("/v1/segments", json=SHANGHAI).status_code == 409
    assert client.post("/v1/segments", json=SHANGHAI, params={"replace": "true"}).json()["version"] == 2
    page = client.get("/v1/segments/shanghai/members", params={"limit": 2}).json()
    rest = client.get("/v1/segments/shanghai/members", params={"after": page["next_after"]}).json()
    assert len(page["items"]) == 2 and len(rest["items"]) == 1 and rest["next_after"] is None
    assert client.post("/v1/segments/shanghai/refresh").json() == {"entered": 0, "left": 0}
    assert client.get("/v1/segments/nope/members").status_code == 404
    assert client.post("/v1/segments", json={"key": "picked", "name": "手选", "kind": "static"}).status_code == 201
    changed = client.post("/v1/segments/picked/members", json={"add": ["email:s4@api.test", "email:zz@api.test"]})
    assert changed.json() == {"entered": 1, "left": 0, "unknown": ["email:zz@api.test"]}
    assert {s["key"]: s["members"] for s in client.get("/v1/segments").json()["items"]} == {"picked": 1,
                                                                                           "shanghai": 3}
    history = client.get("/v1/segments/history/email:s4@api.test").json()["items"]
    assert [(h["segment"], h["left_at"]) for h in history] == [("picked", None)]
    # archiving: refused while another segment reads it, then the stays end and the segment leaves the list
    nesting = {"key": "picked_shanghai", "name": "手选上海", "condition": {"all": [
        {"in_segment": "picked"}, {"attr": "city", "eq": "上海"}]}}
    assert client.post("/v1/segments", json=nesting).status_code == 201
    refused = client.delete("/v1/segments/picked")
    assert refused.status_code == 409 and "segment picked_shanghai" in refused.text, refused.text
    assert client.delete("/v1/segments/picked_shanghai").json()["archived"] == "picked_shanghai"
    assert client.delete("/v1/segments/picked").json() == {"archived": "picked", "stays_ended": 1}
    assert client.delete("/v1/segments/picked").status_code == 404
    assert [s["key"] for s in client.get("/v1/segments").json()["items"]] == ["shanghai"]
    history = client.get("/v1/segments/history/email:s4@api.test").json()["items"]
    assert [(h["segment"], h["left_at"] is not None) for h in history] == [("picked", True)]
    assert client.post("/v1/segments", json={"key": "picked", "name": "手选", "kind": "static"}).status_code == 201


def run(app: Application, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), env={"TOUCHFLOW_DATABASE_URL": app.settings.database_url})
    return result.exit_code, result.output


def test_segments_on_the_command_line(app: Application, tmp_path: Path) -> None:
    seed(app)
    definition = tmp_path / "shanghai.yaml"
    definition.write_text("key: shanghai\nname: 上海客户\ncondition:\n  attr: city\n  eq: 上海\n", encoding="utf-8")
    code, out = run(app, "segment", "preview", str(definition), "--json")
    assert code == 0 and json.loads(out)["count"] == 3, out
    code, out = run(app, "segment", "create", str(definition))
    assert code == 0 and "3 members" in out, out
    code, out = run(app, "segment", "members", "shanghai", "--json")
    assert code == 0 and len(json.loads(out)) == 3
    code, out = run(app, "segment", "refresh", "shanghai", "--json")
    assert code == 0 and json.loads(out) == {"entered": 0, "left": 0}
    code, out = run(app, "segment", "list", "--json")
    assert code == 0 and [s["key"] for s in json.loads(out)] == ["shanghai"]
    definition.write_text("key: shanghai\nname: x\ncondition: {no: order_paid, within: 90d}\n", encoding="utf-8")
    code, out = run(app, "segment", "create", str(definition), "--replace")
    assert code != 0 and "quote it ('no'" in out, out  # YAML 1.1 reads an unquoted no as false
    definition.write_text("key: shanghai\nname: x\ncondition: {'no': order_paid, within: soon}\n", encoding="utf-8")
    code, out = run(app, "segment", "create", str(definition), "--replace")
    assert code != 0 and "segment.condition.within" in out, out
    assert run(app, "segment", "refresh", "nope")[0] != 0
    code, out = run(app, "segment", "refresh", "--json")  # no key: every dynamic segment, one pass
    assert code == 0 and json.loads(out) == {"shanghai": {"entered": 0, "left": 0}}, out
