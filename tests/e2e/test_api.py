"""The HTTP API end to end, on SQLite and PostgreSQL: auth, event batches, identity merges, contacts."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest
from starlette.exceptions import StarletteDeprecationWarning

from touchflow.api import create_app
from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.services.apikeys import create_api_key, revoke_api_key

with warnings.catch_warnings():  # starlette nudges towards httpx2; the httpx it supports is installed
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient


@pytest.fixture
def key(app: Application) -> str:
    return create_api_key(app.services, "tests", actor="test").secret


@pytest.fixture
def client(app: Application, key: str) -> Iterator[TestClient]:
    with TestClient(create_app(app)) as test_client:
        test_client.headers["Authorization"] = f"Bearer {key}"
        yield test_client


def page_view(n: int, **who: Any) -> dict[str, Any]:
    return {"id": f"pv-{n}", "type": "page_view", "occurred_at": "2026-03-01T10:00:00+08:00",
            "properties": {"url": f"https://shop.example.cn/p/{n}"}, **who}


def contact(client: TestClient, identifier: str) -> dict[str, Any]:
    response = client.get(f"/v1/contacts/{quote(identifier, safe='')}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_health_needs_no_key_and_docs_are_served(app: Application) -> None:
    with TestClient(create_app(app)) as anonymous:
        assert anonymous.get("/health").json()["status"] == "ok"
        assert anonymous.get("/docs").status_code == 200
        spec = anonymous.get("/openapi.json").json()
    body = spec["paths"]["/v1/events"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert {"$ref": "#/components/schemas/EventBatchIn"} in body["oneOf"]
    assert {"EventBatchIn", "EventIn", "ContactIn", "EventBatchOut", "ContactOut"} <= set(spec["components"]["schemas"])


def test_every_v1_endpoint_needs_a_live_key(app: Application, key: str) -> None:
    revoked = create_api_key(app.services, "old", actor="test")
    assert revoke_api_key(app.services, revoked.id, actor="test")
    with TestClient(create_app(app)) as anonymous:
        for method, path in (("POST", "/v1/events"), ("POST", "/v1/contacts"), ("GET", "/v1/contacts"),
                             ("GET", "/v1/contacts/email:a@b.cn"), ("PATCH", "/v1/contacts/email:a@b.cn")):
            response = anonymous.request(method, path, json={})
            assert response.status_code == 401, (method, path)
            assert "missing API key" in response.json()["detail"]
            assert response.headers["WWW-Authenticate"] == "Bearer"
        for bad in ("tf_nope_nope", "not-even-a-key", revoked.secret):
            response = anonymous.get("/v1/contacts", headers={"Authorization": f"Bearer {bad}"})
            assert response.status_code == 401
            assert response.json()["detail"] == "invalid or revoked API key"
        assert anonymous.get("/v1/contacts", headers={"X-API-Key": key}).status_code == 200
        assert anonymous.get("/v1/contacts", headers={"Authorization": f"bearer {key}"}).status_code == 200


def test_revocation_is_seen_within_the_cache_ttl(app: Application) -> None:
    issued = create_api_key(app.services, "short-lived", actor="test")
    headers = {"X-API-Key": issued.secret}
    with TestClient(create_app(app, api_key_ttl=0)) as uncached, TestClient(create_app(app)) as cached:
        assert uncached.get("/v1/contacts", headers=headers).status_code == 200
        assert cached.get("/v1/contacts", headers=headers).status_code == 200
        revoke_api_key(app.services, issued.id, actor="test")
        assert uncached.get("/v1/contacts", headers=headers).status_code == 401
        # documented trade-off: a process that saw the key trusts it for up to 30 s more
        assert cached.get("/v1/contacts", headers=headers).status_code == 200


def test_batch_stores_the_valid_events_and_reports_the_invalid_ones(client: TestClient) -> None:
    batch = [
        page_view(1, email="Li.Lei@Example.cn"),
        {"type": "page_view", "properties": {"url": "https://x.cn"}},  # nobody
        page_view(3, contact={"email": "not an email"}),
        "not an object",
        {"id": "f-5", "type": "form_submit", "email": "li.lei@example.cn", "properties": {}},  # form_id missing
        {"id": "o-6", "type": "order_paid", "contact": {"phone": "138 0013 8000"},
         "properties": {"order_id": "A1", "amount": "199.5"}},
        {"id": "x-7", "type": "Page View", "email": "li.lei@example.cn"},
        {"id": "x-8", "type": "page_view", "email": "li.lei@example.cn", "occurred_at": "yesterday-ish",
         "properties": {"url": "u"}},
    ]
    response = client.post("/v1/events", json={"events": batch})
    assert response.status_code == 207, response.text
    body = response.json()
    assert body["accepted"] == 2 and body["duplicates"] == 0
    assert [r["status"] for r in body["results"]] == ["stored", "rejected", "rejected", "rejected", "rejected",
                                                      "stored", "rejected", "rejected"]
    assert body["results"][0]["id"] == "pv-1"
    problems = {p["index"]: p for p in body["rejected"]}
    assert sorted(problems) == [1, 2, 3, 4, 6, 7]
    assert problems[1]["field"] == "contact" and "no usable identifier" in problems[1]["reason"]
    assert "email" in problems[2]["reason"]
    assert "JSON object" in problems[3]["reason"]
    assert problems[4]["field"] == "properties.form_id"
    assert problems[6]["field"] == "type"
    assert problems[7]["field"] == "date" or "yesterday" in problems[7]["reason"]
    assert contact(client, "email:li.lei@example.cn")["event_count"] == 1
    assert contact(client, "phone:13800138000")["event_count"] == 1


def test_resending_a_batch_stores_nothing_twice(client: TestClient) -> None:
    batch = [page_view(n, anonymous_id="visitor-1") for n in range(5)]
    batch += [{"type": "content_download", "anon": "visitor-1", "occurred_at": "2026-03-01T11:00:00Z",
               "properties": {"content_id": "wp-1"}}]  # no id: derived from its content
    first = client.post("/v1/events", json=batch)  # a bare list works too
    assert first.status_code == 200, first.text
    assert (first.json()["accepted"], first.json()["duplicates"]) == (6, 0)
    again = client.post("/v1/events", json={"events": batch})
    assert again.status_code == 200
    assert (again.json()["accepted"], again.json()["duplicates"]) == (0, 6)
    assert {r["status"] for r in again.json()["results"]} == {"duplicate"}
    assert [r["id"] for r in again.json()["results"]] == [r["id"] for r in first.json()["results"]]
    inside = client.post("/v1/events", json=[page_view(9, anon="visitor-1"), page_view(9, anon="visitor-1")])
    assert [r["status"] for r in inside.json()["results"]] == ["stored", "duplicate"]
    assert contact(client, "anon:visitor-1")["event_count"] == 7


def test_anonymous_visitor_who_signs_up_becomes_one_contact(client: TestClient, clock: VirtualClock) -> None:
    assert client.post("/v1/events", json=[page_view(1, anon="v-42"), page_view(2, anon="v-42")]).status_code == 200
    known = client.post("/v1/contacts?source=crm", json={"email": "wang.fang@example.cn", "name": "王芳",
                                                          "crm_id": "C-7"})
    assert known.status_code == 200 and known.json()["created"] == 1
    visitor_id = contact(client, "anon:v-42")["id"]
    assert visitor_id != known.json()["id"]
    clock.advance(timedelta(minutes=5))
    signup = {"id": "su-1", "type": "signup", "properties": {"method": "email"},
              "contact": {"anonymous_id": "v-42", "email": "Wang.Fang@example.cn"}}
    response = client.post("/v1/events", json=[signup], headers={"X-Touchflow-Source": "website"})
    assert response.status_code == 200 and response.json()["merged"] == 1
    by_anon, by_email = contact(client, "anon:v-42"), contact(client, "email:wang.fang@example.cn")
    assert by_anon["id"] == by_email["id"] == contact(client, "crm:C-7")["id"]
    assert by_anon["event_count"] == 3 and by_anon["attributes"]["name"] == "王芳"
    assert {(i["kind"], i["value"]) for i in by_anon["identities"]} >= {("anon", "v-42"), ("crm", "C-7"),
                                                                        ("email", "wang.fang@example.cn")}
    assert by_anon["merges"] and by_anon["recent_events"][0]["source"] == "website"
    merged_away = visitor_id if visitor_id != by_anon["id"] else known.json()["id"]
    assert contact(client, merged_away)["id"] == by_anon["id"]  # a merged-away id resolves to the survivor


def test_contact_upsert_lookup_and_edit_by_hand(client: TestClient, clock: VirtualClock) -> None:
    created = client.post("/v1/contacts", json={
        "email": "zhang.wei@example.cn", "phone": "+86 139 0013 9000", "name": "张 伟", "age": "abc",
        "city": "杭州", "company": "Acme", "tags": "webinar, trial", "attributes": {"plan": "pro", "seats": 5},
        "consent": {"email": "granted", "sms": False}, "lifecycle_stage": "prospect"})
    assert created.status_code == 200, created.text
    body = created.json()
    assert body["created"] == 1 and body["warnings"] == [{"field": "age", "reason": "not a number: 'abc'"}]
    profile = contact(client, body["id"])
    assert profile["attributes"]["name"] == "张伟" and "age" not in profile["attributes"]
    assert profile["custom"] == {"plan": "pro", "seats": 5}
    assert profile["lineage"]["city"]["source"] == "api"
    assert {(t["tag"], t["set_by"]) for t in profile["tags"]} >= {("webinar", "api"), ("trial", "api")}
    assert profile["consent"]["email"]["status"] == "granted" and profile["consent"]["sms"]["status"] == "denied"
    assert profile["lifecycle_stage"] == "prospect"

    patched = client.patch(f"/v1/contacts/{quote('phone:13900139000')}", json={
        "attributes": {"city": "上海", "age": 35, "plan": None}, "add_tags": ["vip"], "remove_tags": ["trial"],
        "reason": "met at the trade fair"})
    assert patched.status_code == 200, patched.text
    after = patched.json()
    assert after["attributes"]["city"] == "上海" and after["attributes"]["age"] == 35
    assert after["lineage"]["city"]["source"] == "manual" and "plan" not in after["custom"]
    assert {t["tag"]: t["set_by"] for t in after["tags"]}.get("vip") == "manual"
    assert "trial" not in {t["tag"] for t in after["tags"]}

    clock.advance(timedelta(days=1))
    crm = client.post("/v1/contacts", params={"source": "crm"},
                      json=[{"email": "zhang.wei@example.cn", "city": "北京", "job_title": "CTO"}])
    assert crm.status_code == 200 and crm.json()["results"][0]["id"] == body["id"]
    later = contact(client, "email:zhang.wei@example.cn")
    assert later["attributes"]["city"] == "上海"  # the manual value beats the later CRM import
    assert later["attributes"]["job_title"] == "CTO" and later["lineage"]["job_title"]["source"] == "crm"

    bad = client.patch(f"/v1/contacts/{body['id']}", json={"attributes": {"age": "abc"}})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "attributes.age" and "abc" in bad.json()["detail"]
    unknown = client.patch(f"/v1/contacts/{body['id']}", json={"tags": ["x"]})
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "tags"
    missing = client.patch("/v1/contacts/email:nobody@example.cn", json={"add_tags": ["x"]})
    assert missing.status_code == 404 and "nobody@example.cn" in missing.json()["detail"]
    assert client.get("/v1/contacts/no-such-id").status_code == 404


def test_contact_without_identifier_and_partly_invalid_lists(client: TestClient) -> None:
    nobody = client.post("/v1/contacts", json={"name": "无名", "email": "@@"})
    assert nobody.status_code == 422 and "no usable identifier" in nobody.json()["detail"]
    typo = client.post("/v1/contacts", json={"emial": "a@example.cn"})
    assert typo.status_code == 422 and typo.json()["errors"][0]["field"] == "emial"
    mixed = client.post("/v1/contacts", json={"contacts": [{"email": "a@example.cn"}, {"name": "x"},
                                                           {"email": "b@example.cn", "age": [1]}, 7]})
    assert mixed.status_code == 207, mixed.text
    result = mixed.json()
    assert result["created"] == 1 and [r["index"] for r in result["rejected"]][:1] == [1]
    assert {r["index"] for r in result["rejected"]} == {1, 2, 3}
    assert any(r["field"].startswith("age") for r in result["rejected"] if r["index"] == 2)
    assert result["results"][0]["id"] and result["results"][1]["id"] is None
    none = client.post("/v1/contacts", json=[{"name": "x"}])
    assert none.status_code == 422


def test_search_by_text_and_tag(client: TestClient) -> None:
    client.post("/v1/contacts", json=[
        {"email": "a@example.cn", "name": "陈静", "company": "杭州云科", "tags": ["vip"]},
        {"email": "b@example.cn", "name": "陈明", "company": "Other"},
        {"email": "c@example.cn", "name": "刘洋", "company": "杭州云科", "tags": ["vip"]}])
    names = {c["name"] for c in client.get("/v1/contacts", params={"q": "陈"}).json()["items"]}
    assert names == {"陈静", "陈明"}
    vip = client.get("/v1/contacts", params={"tag": "vip"}).json()["items"]
    assert {c["name"] for c in vip} == {"陈静", "刘洋"} and all("vip" in c["tags"] for c in vip)
    assert client.get("/v1/contacts", params={"q": "b@example.cn"}).json()["items"][0]["name"] == "陈明"
    page = client.get("/v1/contacts", params={"limit": 1, "offset": 1}).json()
    assert len(page["items"]) == 1 and page["offset"] == 1
    assert client.get("/v1/contacts", params={"limit": 501}).status_code == 422


def test_batch_limits_and_unusable_bodies(client: TestClient) -> None:
    too_many = client.post("/v1/events", json=[page_view(n, anon="v") for n in range(1001)])
    assert too_many.status_code == 413 and "at most 1000" in too_many.json()["detail"]
    all_bad = client.post("/v1/events", json=[{"type": "page_view"}, {"email": "a@example.cn"}])
    assert all_bad.status_code == 422
    assert [p["field"] for p in all_bad.json()["rejected"]] == ["contact", "type"]
    assert client.post("/v1/events", content=b"{not json").status_code == 400
    assert client.post("/v1/events", json={"evnts": []}).status_code == 422
    assert client.post("/v1/events", json=[]).status_code == 422
    assert client.post("/v1/events", json={"events": "x"}).status_code == 422
    reserved = client.post("/v1/events?source=manual", json=[page_view(1, anon="v")])
    assert reserved.status_code == 422 and reserved.json()["errors"][0]["field"] == "source"
    assert client.post("/v1/events?source=bad%20name", json=[page_view(1, anon="v")]).status_code == 422
    huge = client.post("/v1/contacts", json=[{"email": f"u{n}@example.cn"} for n in range(1001)])
    assert huge.status_code == 413


def test_unreadable_values_cost_their_item_not_the_batch(client: TestClient) -> None:
    batch = [
        page_view(1, anon="ok-1"),
        {**page_view(2, anon="v"), "occurred_at": 1_700_000_000},  # not a string
        {**page_view(3, anon="v"), "occurred_at": "0001-01-01"},  # out of range once moved to UTC
        {"id": "s-4", "type": "survey_response", "anon": "v", "properties": {"survey_id": "s", "score": "1e999"}},
        page_view(5, anon={"not": "a string"}),
        page_view(6, email="x" * 300 + "@example.com"),
        {**page_view(7, anon="v"), "properties": {"url": "nul\u0000here"}},
        {**page_view(8, anon="v"), "id": ["a", "list"]},
    ]
    response = client.post("/v1/events", json=batch)
    assert response.status_code == 207, response.text
    statuses = [r["status"] for r in response.json()["results"]]
    assert statuses == ["stored"] + ["rejected"] * 7
    problems = {p["index"]: p for p in response.json()["rejected"]}
    assert problems[1]["field"] == "occurred_at" and problems[4]["field"] == "anon"
    assert problems[5]["field"] == "email" and "NUL" in problems[6]["reason"] and problems[7]["field"] == "id"
    assert all(problems[i]["reason"] for i in (2, 3))
    assert contact(client, "anon:ok-1")["event_count"] == 1

    contacts = client.post("/v1/contacts", json=[{"email": "ok@example.cn"}, {"email": "a@example.cn", "age": "1e999"},
                                                 {"email": "b@example.cn", "observed_at": "0001-01-01"},
                                                 {"email": "c@example.cn", "name": "x" * 201}])
    assert contacts.status_code == 207, contacts.text
    assert contacts.json()["results"][0]["id"] is not None
    assert {p["index"] for p in contacts.json()["rejected"]} >= {3}
    for attributes in ({"age": "1e999"}, {"plan": 10**30}, {"name": "y" * 201}, {"note": "a\u0000b"}):
        patched = client.patch("/v1/contacts/email:ok@example.cn", json={"attributes": attributes})
        assert patched.status_code == 422, (attributes, patched.text)
    assert client.get("/v1/contacts/email:ok@example.cn").status_code == 200


def test_writers_that_still_clash_get_a_retryable_503(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlalchemy.exc import IntegrityError

    import touchflow.api.routes as routes

    def clash(*args: object) -> Callable[[object], None]:
        def work(uow: object) -> None:  # the batch's write, in the (group) transaction
            raise IntegrityError("INSERT …", {}, Exception("duplicate key"))
        return work

    monkeypatch.setattr(routes, "event_batch_work", clash)
    response = client.post("/v1/events", json=[page_view(1, anon="v")])
    assert response.status_code == 503 and response.headers["Retry-After"] == "1"
    assert "retry" in response.json()["detail"]


def test_oversized_bodies_are_refused_before_parsing(client: TestClient) -> None:
    huge = b'{"events": [' + b" " * (17 * 1024 * 1024) + b"]}"
    response = client.post("/v1/events", content=huge, headers={"Content-Type": "application/json"})
    assert response.status_code == 413 and "MiB" in response.json()["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while it streams
        yield b"["
        for _ in range(17):
            yield b" " * (1024 * 1024)
        yield b"]"

    assert client.post("/v1/contacts", content=chunks()).status_code == 413
