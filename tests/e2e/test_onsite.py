"""Website pop-ups (官网弹窗): queued by a journey on channel ``onsite``, fetched by the snippet for the
visitor's anonymous id, and reported back as impression, click and dismiss — over HTTP on a real database.

The site key is public, so it may only create and enrich anonymous visitors; linking a visitor to a person
takes an identify token from the site's backend. The identity and abuse tests are in test_onsite_identify.py.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select
from starlette.exceptions import StarletteDeprecationWarning

from tests.e2e.onsite_support import ORIGIN, make_site, with_secret_key
from touchflow.api import create_app
from touchflow.api.routes.onsite import SNIPPET
from touchflow.bootstrap import Application
from touchflow.domain.outbox import OutboxMessage
from touchflow.engine.dispatcher import Dispatcher
from touchflow.services.apikeys import create_api_key
from touchflow.services.contacts import find_contact_id
from touchflow.services.content import save_template
from touchflow.services.ingest import RawItem, record_events
from touchflow.store.tables import events, onsite_messages

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

PROMO = "https://shop.example.cn/spring"


@pytest.fixture
def keyed(app: Application) -> Application:
    return with_secret_key(app)


@pytest.fixture
def site_key(keyed: Application) -> str:
    return make_site(keyed).site_key


@pytest.fixture
def client(keyed: Application) -> Iterator[TestClient]:
    with TestClient(create_app(keyed)) as test_client:
        yield test_client


def visitor(app: Application, anon: str) -> str:
    record_events(app.services, "website", [RawItem({"type": "page_view", "anon": anon,
                                                     "properties": {"url": "https://www.example.cn/"}})])
    return find_contact_id(app.services, f"anon:{anon}")


def queue_popups(app: Application, contact_id: str, count: int = 1) -> list[str]:
    """Pop-ups the way a journey sends them: an outbox row on ``onsite``, then the dispatcher."""
    save_template(app.services, "spring_popup", "onsite", "春季特惠 Spring offer",
                  "全场八折。\n<b>不是标签</b> <script>alert(1)</script>", "text", by="test")
    now = app.services.clock.now()
    ids = [app.services.ids.new(now) for _ in range(count)]
    with app.services.uow() as uow:
        uow.messages.enqueue([OutboxMessage(i, f"test:{i}", None, contact_id, None, "popup", "onsite",
                                            "spring_popup", {"url": PROMO}, "queued", 0, now, now) for i in ids])
        uow.commit()
    dispatcher = Dispatcher(app.services)
    try:
        dispatcher.dispatch_all()
    finally:
        dispatcher.close()
    return ids


def pending(client: TestClient, key: str, who: str, **headers: str) -> Any:
    answer = client.get("/v1/onsite/pending", params={"visitor": who, "key": key}, headers=headers)
    assert answer.status_code == 200, answer.text
    return answer


def lifecycle(app: Application) -> list[tuple[str, str]]:
    with app.engine.connect() as c:
        rows = c.execute(select(events.c.type, events.c.properties).where(events.c.type.like("message_%"))
                         .where(events.c.type.not_in(("message_sent",))).order_by(events.c.received_at, events.c.id))
        return sorted((t, p["channel"]) for t, p in rows)


def test_a_popup_is_shown_to_its_visitor_and_every_action_is_recorded(keyed: Application, client: TestClient,
                                                                      site_key: str) -> None:
    contact = visitor(keyed, "v-123")
    queue_popups(keyed, contact, count=2)
    answer = pending(client, site_key, "anon:v-123", Origin=ORIGIN)
    assert answer.headers["access-control-allow-origin"] == ORIGIN
    items = answer.json()["items"]
    assert [(i["title"], i["url"], i["status"]) for i in items] == [("春季特惠 Spring offer", PROMO, "pending")] * 2
    assert "<script>" in items[0]["body"]  # stored as text; the snippet renders it as text
    assert pending(client, site_key, "anon:someone-else").json()["items"] == []

    first, second = items[0]["id"], items[1]["id"]
    params = {"visitor": "anon:v-123", "key": site_key}
    shown = client.post(f"/v1/onsite/popups/{first}/impression", params=params)
    assert shown.json() == {"id": first, "status": "shown", "changed": True}
    assert client.post(f"/v1/onsite/popups/{first}/impression", params=params).json()["changed"] is False
    assert client.post(f"/v1/onsite/popups/{first}/click", params=params).json()["status"] == "clicked"
    assert client.post(f"/v1/onsite/popups/{second}/dismiss", params=params).json()["status"] == "dismissed"
    assert client.post(f"/v1/onsite/popups/{second}/click", params=params).json()["changed"] is False

    assert pending(client, site_key, "anon:v-123").json()["items"] == []
    assert lifecycle(keyed) == sorted([("message_opened", "onsite"), ("message_clicked", "onsite"),
                                       ("message_opened", "onsite"), ("message_dismissed", "onsite")])
    with keyed.engine.connect() as c:
        statuses = dict(c.execute(select(onsite_messages.c.id, onsite_messages.c.status)).all())
    assert statuses == {first: "clicked", second: "dismissed"}


def test_a_visitor_cannot_act_on_another_visitors_popup_and_keys_must_be_site_keys(keyed: Application,
                                                                                    client: TestClient,
                                                                                    site_key: str) -> None:
    queue_popups(keyed, visitor(keyed, "v-1"))
    items = pending(client, site_key, "anon:v-1").json()["items"]
    visitor(keyed, "v-2")
    stolen = client.post(f"/v1/onsite/popups/{items[0]['id']}/click", params={"visitor": "anon:v-2", "key": site_key})
    assert stolen.status_code == 404
    full_key = create_api_key(keyed.services, "crm-sync", actor="test").secret
    refused = client.get("/v1/onsite/pending", params={"visitor": "anon:v-1", "key": full_key},
                         headers={"Origin": ORIGIN})
    assert refused.status_code == 403 and "access-control-allow-origin" not in refused.headers
    assert refused.json()["errors"] == [{"field": "key", "in": "query", "reason": "not a site key"}]
    assert client.get("/v1/onsite/pending", params={"visitor": "anon:v-1"}).status_code == 401
    known = client.get("/v1/onsite/pending", params={"visitor": "email:a@b.cn", "key": site_key})
    assert known.status_code == 422 and known.json()["errors"][0]["field"] == "visitor"
    bad = client.post(f"/v1/onsite/popups/{items[0]['id']}/explode", params={"visitor": "anon:v-1", "key": site_key})
    assert bad.status_code == 422


def test_the_snippet_is_small_javascript_that_renders_text_not_html(client: TestClient) -> None:
    answer = client.get("/v1/onsite/snippet.js", headers={"Origin": "https://evil.example"})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/javascript")
    assert "access-control-allow-origin" not in answer.headers  # a <script src> needs no CORS; no '*' anywhere
    assert len(answer.content) <= 4096
    assert answer.text == SNIPPET
    assert "textContent" in SNIPPET and "innerHTML" not in SNIPPET and "insertAdjacentHTML" not in SNIPPET
    assert "tf_vid" in SNIPPET and "data-site-key" in SNIPPET and "{token:token}" in SNIPPET and "reset:" in SNIPPET
    assert "email" not in SNIPPET  # the browser cannot identify by address any more: only with a token
