"""``POST /v1/connectors/{name}/webhook``: signed deliveries are mapped and stored before 202; a bad, missing,
stale or replayed signature is 401 with nothing stored; size and shape limits are 413/422, never a 500."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import orjson
import pytest
from starlette.exceptions import StarletteDeprecationWarning

from touchflow.api import create_app
from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.domain.connectors.webhook_signatures import sign_webhook
from touchflow.domain.identities import Identity
from touchflow.engine.connectors.kinds import kind_requirements
from touchflow.services.connectors import add_connector

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

SECRET = "whsec-测试-1"


@pytest.fixture
def public_client(app: Application) -> Iterator[TestClient]:
    with TestClient(create_app(app)) as client:  # no API key: a shop platform has none
        yield client


def _add(app: Application, name: str, preset: str, record_kind: str = "events", **kw: Any) -> None:
    secrets = {"webhook_secret": SECRET}
    if record_kind == "events":
        kw.setdefault("event_type", "order_paid")  # the preset's own type column wins where it gives one
    add_connector(app.services, name, "webhook", {"preset": preset}, record_kind=record_kind,  # type: ignore[arg-type]
                  sealed_secret=app.secret_box().seal(secrets, f"connector:{name}"), secret_names=list(secrets),
                  kinds=kind_requirements(), actor="user:admin", **kw)


def _post(client: TestClient, clock: VirtualClock, name: str, payload: Any, *, secret: str = SECRET,
          skew: int = 0, signature: str | None = None) -> Any:
    body = orjson.dumps(payload)
    stamp = int(clock.now().timestamp()) + skew
    headers = {"X-Touchflow-Timestamp": str(stamp), "Content-Type": "application/json",
               "X-Touchflow-Signature": signature or sign_webhook(secret, stamp, body)}
    return client.post(f"/v1/connectors/{name}/webhook", content=body, headers=headers)



SHOPIFY_ORDER = {"id": 450789469, "email": "buyer@example.cn", "phone": "+8613800000001",
                 "created_at": "2026-03-01T10:00:00+08:00", "total_price": "199.00", "currency": "CNY",
                 "line_items": [{"id": 1, "title": "茶"}], "customer": {"id": 207119551, "email": "buyer@example.cn"}}


def test_signed_shopify_order_is_stored_then_acknowledged(app: Application, public_client: TestClient,
                                                          clock: VirtualClock) -> None:
    _add(app, "shop", "shopify")
    answer = _post(public_client, clock, "shop", SHOPIFY_ORDER)
    assert answer.status_code == 202, answer.text
    assert answer.json() == {"received": 1, "accepted": 1, "duplicates": 0, "rejected": 0, "warnings": []}
    with app.services.reader() as uow:
        assert uow.contacts.lookup([Identity("email", "buyer@example.cn")])
        assert uow.events.existing_ids(["shopify-order-450789469"]) == {"shopify-order-450789469"}
    again = _post(public_client, clock, "shop", SHOPIFY_ORDER)  # the platform retries the delivery
    assert again.status_code == 202 and again.json()["duplicates"] == 1 and again.json()["accepted"] == 0


def test_youzan_push_joins_the_buyer_by_unionid(app: Application, public_client: TestClient,
                                                clock: VirtualClock) -> None:
    _add(app, "youzan", "youzan")
    trade = {"full_order_info": {"order_info": {"tid": "E2026", "pay_time": "2026-03-01 10:00:00"},
                                 "buyer_info": {"buyer_phone": "13800000002", "union_id": "oUnion-9"},
                                 "pay_info": {"payment": "88.00"}}}
    push = {"id": "E2026", "type": "trade_TradePaid", "status": "TRADE_PAID", "msg": quote(orjson.dumps(trade))}
    answer = _post(public_client, clock, "youzan", push)
    assert answer.status_code == 202, answer.text
    with app.services.reader() as uow:
        by_union = uow.contacts.lookup([Identity("unionid", "oUnion-9")])
        by_phone = uow.contacts.lookup([Identity("phone", "+8613800000002")])
    assert by_union and set(by_union.values()) == set(by_phone.values())


def test_generic_contacts_with_the_connectors_mapping(app: Application, public_client: TestClient,
                                                     clock: VirtualClock) -> None:
    _add(app, "members", "generic", "contacts", mapping={"phone": "手机", "name": "姓名"})
    answer = _post(public_client, clock, "members", {"items": [{"手机": "13800000003", "姓名": "张三"},
                                                               {"手机": "bad", "姓名": "无号"}]})
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert body["received"] == 2 and body["accepted"] == 1 and body["rejected"] == 1


@pytest.mark.parametrize("case", ["wrong_secret", "stale", "future", "garbage", "missing", "unknown", "replay"])
def test_bad_signatures_are_401_and_store_nothing(app: Application, public_client: TestClient, clock: VirtualClock,
                                                  case: str) -> None:
    _add(app, "shop", "shopify")
    if case == "wrong_secret":
        answer = _post(public_client, clock, "shop", SHOPIFY_ORDER, secret="guess")
    elif case == "stale":
        answer = _post(public_client, clock, "shop", SHOPIFY_ORDER, skew=-301)
    elif case == "future":
        answer = _post(public_client, clock, "shop", SHOPIFY_ORDER, skew=301)
    elif case == "garbage":
        answer = _post(public_client, clock, "shop", SHOPIFY_ORDER, signature="sha256=00")
    elif case == "missing":
        answer = public_client.post("/v1/connectors/shop/webhook", content=orjson.dumps(SHOPIFY_ORDER))
    elif case == "unknown":
        answer = _post(public_client, clock, "nope", SHOPIFY_ORDER)
    else:  # an old signed delivery sent again with a fresh timestamp: the signature covers the timestamp
        body = orjson.dumps(SHOPIFY_ORDER)
        old = int(clock.now().timestamp()) - 3600
        answer = public_client.post("/v1/connectors/shop/webhook", content=body, headers={
            "X-Touchflow-Timestamp": str(int(clock.now().timestamp())),
            "X-Touchflow-Signature": sign_webhook(SECRET, old, body)})
    assert answer.status_code == 401, answer.text
    with app.services.reader() as uow:
        assert not uow.contacts.lookup([Identity("email", "buyer@example.cn")])


def test_limits_are_4xx(app: Application, public_client: TestClient, clock: VirtualClock) -> None:
    _add(app, "shop", "generic")
    _add(app, "members", "generic", "contacts", mapping={"phone": "手机"})
    assert _post(public_client, clock, "shop", [1, 2]).status_code == 422
    assert _post(public_client, clock, "shop", []).status_code == 422
    mapped = _post(public_client, clock, "members", {"email": "x@example.cn"})  # the mapped column is missing
    assert mapped.status_code == 422 and "手机" in mapped.text
    big = {"items": [{"email": f"p{i}@example.cn", "pad": "x" * 3000} for i in range(400)]}
    assert _post(public_client, clock, "shop", big).status_code == 413
    body = b"{not json"
    stamp = int(clock.now().timestamp())
    answer = public_client.post("/v1/connectors/shop/webhook", content=body, headers={
        "X-Touchflow-Timestamp": str(stamp), "X-Touchflow-Signature": sign_webhook(SECRET, stamp, body)})
    assert answer.status_code == 400
