"""Hostile input at the HTTP edge, on SQLite and PostgreSQL: integers beyond 64 bits, JSON nested past the
depth limit, LIKE wildcards in search, an uploaded HTML page, methods a path does not take."""

from __future__ import annotations

import base64
import csv
import json
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi import FastAPI
from starlette.exceptions import StarletteDeprecationWarning

from touchflow.api import create_app
from touchflow.bootstrap import Application
from touchflow.domain.limits import MAX_JSON_DEPTH
from touchflow.engine import import_file
from touchflow.services.content import save_template

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient


def nested(depth: int) -> dict[str, Any]:
    """``{"a": {"a": … 1}}`` with ``depth`` objects."""
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    result: dict[str, Any] = value
    return result


def event(n: int, **extra: Any) -> dict[str, Any]:
    return {"id": f"e-{n}", "type": "page_view", "anon": f"v-{n}", "occurred_at": "2026-03-01T10:00:00+08:00",
            "properties": {"url": f"https://shop.example.cn/{n}"}, **extra}


def field_of(response: Any) -> str:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["detail"] and body["errors"], body
    field: str = body["errors"][0]["field"]
    return field


@pytest.mark.parametrize(("url", "field"), [
    ("/v1/contacts?offset=1e19", "offset"),
    ("/v1/contacts?offset=99999999999999999999", "offset"),
    ("/v1/contacts?offset=2147483648", "offset"),
    ("/v1/contacts?limit=99999999999999999999", "limit"),
    ("/v1/templates/welcome?version=1e22", "version"),
    ("/v1/templates/welcome?version=99999999999999999999", "version"),
    ("/v1/assets/logo.png/content?version=99999999999999999999", "version"),
    ("/v1/contacts/email:a@example.cn/score?history=99999999999999999999", "history"),
])
def test_integers_beyond_their_column_are_a_422_naming_the_field(client: TestClient, url: str, field: str) -> None:
    assert field_of(client.get(url)) == field


def test_integers_in_bodies_are_bounded(client: TestClient, app: Application) -> None:
    save_template(app.services, "welcome", "email", "Hi", "<p>hi</p>", "html", by="test")
    client.post("/v1/contacts", json={"email": "a@example.cn"})
    for version in (1e19, 1e22, 10**30, 2**31):
        preview = client.post("/v1/templates/welcome/preview", json={"contact": "email:a@example.cn",
                                                                    "version": version})
        assert field_of(preview) == "version", version
    asset = client.post("/v1/assets", json={"name": "a.txt", "content_base64": base64.b64encode(b"x").decode(),
                                            "metadata": {"size": 10**30}})
    assert field_of(asset).startswith("metadata")
    segment = client.post("/v1/segments/preview", json={"key": "big", "name": "big", "condition": {
        "attribute": "custom.score", "op": "gt", "value": 10**30}})
    assert field_of(segment) == "condition" and "64-bit" in segment.json()["detail"]
    contacts = client.post("/v1/contacts", json=[{"email": "b@example.cn"}, {"email": "c@example.cn", "age": 10**30}])
    assert contacts.status_code == 207 and [p["field"] for p in contacts.json()["rejected"]] == ["age"]
    patched = client.patch("/v1/contacts/email:b@example.cn", json={"attributes": {"plan": 10**30}})
    assert field_of(patched) == "attributes.plan"


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 254, 255, 600, 1020])
def test_deep_event_properties_cost_their_item_only(client: TestClient, depth: int) -> None:
    batch = [event(1), {**event(2), "properties": "DEEP"},
             event(3, properties={"url": "https://a.cn/", "ok": nested(MAX_JSON_DEPTH - 1)})]
    text = json.dumps(batch).replace('"DEEP"', '{"a":' * depth + "1" + "}" * depth)
    response = client.post("/v1/events", content=text.encode(), headers={"Content-Type": "application/json"})
    assert response.status_code == 207, response.text
    assert [r["status"] for r in response.json()["results"]] == ["stored", "rejected", "stored"]
    [problem] = response.json()["rejected"]
    assert problem["index"] == 1 and problem["field"].startswith("properties.a")
    assert problem["reason"] == f"nested deeper than {MAX_JSON_DEPTH} levels"
    assert client.get("/v1/contacts/anon:v-3").json()["event_count"] == 1


def test_deep_event_properties_with_nul_text_cost_their_item_only(client: TestClient) -> None:
    deep = '{"a":' * 1000 + "1" + "}" * 1000  # deeper than json.dumps (or orjson.dumps) writes
    batch = [event(1, properties={"url": "a\u0000b"}), {**event(2), "properties": "DEEP"}, event(3)]
    text = json.dumps(batch).replace('"DEEP"', deep)
    response = client.post("/v1/events", content=text.encode(), headers={"Content-Type": "application/json"})
    assert response.status_code == 207, response.text
    assert [r["status"] for r in response.json()["results"]] == ["rejected", "rejected", "stored"]


def test_import_files_reject_deep_properties_with_the_same_reason(app: Application, tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    lines = [event(1), event(2, properties=nested(300)), event(3, properties={"url": "https://a.cn/", "n": [2**64]})]
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")
    report = import_file(app.services, path, "events", "website")
    assert (report.created, report.rejected) == (2, 1)  # JSON readers take 2**64 as a float: stored
    assert report.rejects_file is not None
    rows = list(csv.reader(report.rejects_file.read_text(encoding="utf-8-sig").splitlines()))
    assert [r[0] for r in rows[1:]] == ["2"]
    assert f"nested deeper than {MAX_JSON_DEPTH} levels" in rows[1][1]


def test_persona_and_segment_documents_have_the_same_depth_limit(client: TestClient) -> None:
    persona = client.post("/v1/personas", content=orjson.dumps({"key": "deep", "profile": nested(100)}),
                          headers={"Content-Type": "application/json"})
    assert persona.status_code == 422 and "nested deeper" in persona.json()["detail"]
    yaml_bomb = "a:\n" + "".join("  " * (i + 1) + "a:\n" for i in range(1200))
    deep_yaml = client.post("/v1/personas", content=yaml_bomb.encode(), headers={"Content-Type": "application/yaml"})
    assert deep_yaml.status_code == 422, deep_yaml.text
    segment = client.post("/v1/segments/preview", json={"key": "deep", "name": "deep", "condition": nested(200)})
    assert field_of(segment) == "condition"


def test_search_treats_like_wildcards_as_text(client: TestClient) -> None:
    client.post("/v1/contacts", json=[{"email": "a@example.cn", "name": "100%_off 促销"},
                                      {"email": "b@example.cn", "name": "Zhang San"},
                                      {"email": "c@example.cn", "name": "Li", "company": "A_B 公司"}])

    def names(q: str) -> list[str]:
        response = client.get("/v1/contacts", params={"q": q})
        assert response.status_code == 200, response.text
        return sorted(item["name"] for item in response.json()["items"])

    assert names("%") == ["100%_off 促销"]
    assert names("_") == ["100%_off 促销", "Li"]
    assert names("%_") == ["100%_off 促销"]
    assert names("A_B") == ["Li"] and names("A%B") == []
    assert names("\\") == [] and names("Zhang") == ["Zhang San"]


@pytest.mark.parametrize(("name", "content_type", "inline"), [
    ("page.html", "text/html", False),
    ("page.htm", None, False),
    ("logo.svg", "image/svg+xml", False),
    ("script.js", "text/javascript", False),
    ("data.bin", "application/octet-stream", False),
    ("photo.png", "image/png", True),
    ("photo.jpg", "image/jpeg", True),
])
def test_assets_other_than_raster_images_download(client: TestClient, name: str, content_type: str | None,
                                                  inline: bool) -> None:
    data = b"<html><script>alert(document.cookie)</script></html>"
    body: dict[str, Any] = {"name": name, "content_base64": base64.b64encode(data).decode()}
    if content_type:
        body["content_type"] = content_type
    assert client.post("/v1/assets", json=body).status_code == 201
    served = client.get(f"/v1/assets/{name}/content")
    assert served.status_code == 200 and served.content == data
    assert served.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in served.headers["content-security-policy"]
    disposition = served.headers.get("content-disposition", "")
    assert disposition.startswith("attachment") != inline, disposition
    if not inline:
        assert f'filename="{name}"' in disposition


def test_content_types_that_could_split_headers_are_refused(client: TestClient) -> None:
    for content_type in ("text/html\r\nSet-Cookie: a=b", "text/html\nX: y", "nonsense", "text/html; \x00"):
        body = {"name": "x.txt", "content_base64": "eA==", "content_type": content_type}
        refused = client.post("/v1/assets", json=body)
        assert field_of(refused) == "content_type"
        assert refused.json()["errors"][0]["reason"].startswith("not a media type such as image/png")
    blank_tag = client.patch("/v1/contacts/email:a@example.cn", json={"add_tags": ["  "]})
    assert field_of(blank_tag) == "add_tags.0" and "visible character" in blank_tag.json()["detail"]


def test_every_answer_says_nosniff_even_a_crash(app: Application, client: TestClient) -> None:
    for response in (client.get("/health"), client.get("/nowhere"), client.get("/v1/contacts", headers={
            "Authorization": ""}), client.get("/t/o/not-a-token"), client.get("/t/u/not-a-token"),
            client.get("/docs"), client.get("/openapi.json"), client.get("/v1/onsite/snippet.js")):
        assert response.headers["x-content-type-options"] == "nosniff", response.url
    api: FastAPI = create_app(app)

    async def boom() -> None:
        raise RuntimeError("a bug")

    api.add_api_route("/boom", boom)
    with TestClient(api, raise_server_exceptions=False) as crashing:
        crashed = crashing.get("/boom")
    assert crashed.status_code == 500 and crashed.headers["x-content-type-options"] == "nosniff"


def test_html_pages_carry_a_restrictive_csp(client: TestClient) -> None:
    for url in ("/t/u/not-a-token", "/t/p/not-a-token", "/docs"):
        page = client.get(url)
        assert page.headers["content-type"].startswith("text/html")
        policy = page.headers["content-security-policy"]
        assert policy.startswith("default-src 'none'") and "frame-ancestors 'none'" in policy, (url, policy)
        assert "unsafe-eval" not in policy and "script-src" not in policy.replace("script-src 'self' 'sha256-", "")


def test_other_methods_on_a_contact_sub_resource_are_405(client: TestClient) -> None:
    for method in ("PATCH", "POST", "DELETE", "PUT"):
        for url in ("/v1/contacts/0/score", "/v1/contacts/email:a%40example.cn/stages"):
            response = client.request(method, url, json={})
            assert response.status_code == 405, (method, url, response.text)
            assert response.headers["allow"] == "GET"
    for method, url, allowed in (("DELETE", "/v1/journeys", "GET, POST"), ("PUT", "/v1/segments", "GET, POST"),
                                 ("DELETE", "/t/u/token", "GET, POST"), ("PUT", "/v1/contacts/email:a", "GET, PATCH")):
        response = client.request(method, url)
        assert response.status_code == 405 and response.headers["allow"] == allowed, (url, response.headers)
    assert client.post("/v1/contacts", json={"crm_id": "CN/0001/score"}).status_code == 200
    assert client.get("/v1/contacts/crm:CN%2F0001%2Fscore").status_code == 404  # …/score: the lifecycle route
    assert client.get("/v1/contacts/crm:CN%2F0001%2Fscore/score").status_code == 200
    assert client.patch("/v1/contacts/crm:CN%2F0001", json={"add_tags": ["vip"]}).status_code == 404
    assert client.post("/v1/contacts", json={"crm_id": "CN/0002"}).status_code == 200
    assert client.get("/v1/contacts/crm:CN%2F0002").status_code == 200
    assert client.patch("/v1/contacts/crm:CN%2F0002", json={"add_tags": ["vip"]}).status_code == 200


def test_bodies_parsed_into_models_have_the_size_limit_too(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while it streams
        yield b'{"name": "big", "body": "'
        for _ in range(17):
            yield b"x" * (1024 * 1024)
        yield b'"}'

    for url in ("/v1/templates", "/v1/segments/preview", "/v1/assets", "/v1/tasks/t-1/done"):
        streamed = client.post(url, content=chunks(), headers={"Content-Type": "application/json"})
        assert streamed.status_code == 413 and "MiB" in streamed.json()["detail"], (url, streamed.text[:200])
    declared = client.post("/v1/templates", content=b"{" + b" " * (17 * 1024 * 1024) + b"}",
                           headers={"Content-Type": "application/json"})
    assert declared.status_code == 413


def test_journey_definitions_nested_too_deep_are_a_422(client: TestClient) -> None:
    deep_yaml = "key: j\nname: n\nx:\n" + "".join("  " * (i + 1) + "a:\n" for i in range(1200))
    deep_json = '{"key": "j", "name": "n", "x": ' + '{"a":' * 600 + "1" + "}" * 600 + "}"
    for body, media in ((deep_yaml, "application/yaml"), (deep_json, "application/json")):
        response = client.post("/v1/journeys", content=body.encode(), headers={"Content-Type": media})
        assert field_of(response) == "body", media


def test_a_repeated_search_parameter_is_refused_not_read_as_its_last_value(client: TestClient) -> None:
    """?tag=<101 characters>&tag= once slipped past the length limit: FastAPI reads the last value only."""
    answer = client.get("/v1/contacts", params=[("tag", "x" * 101), ("tag", "")])
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "tag"
    assert client.get("/v1/contacts", params={"tag": "vip"}).status_code == 200
