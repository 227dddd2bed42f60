"""The public site key against the attacks an outside probe found: with only the key from page source, an
attacker merged two CRM customers (``identify`` with A, then B), read the victim's pop-ups, dismissed them,
and learnt contact ids. Each test sends that hostile input over HTTP on a real database."""

from __future__ import annotations

import base64
import json
import re
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select
from starlette.exceptions import StarletteDeprecationWarning

from tests.e2e.onsite_support import ORIGIN, make_site, mint, with_secret_key
from tests.e2e.test_onsite import queue_popups, visitor
from touchflow.api import create_app
from touchflow.api.onsite_gate import OnsiteLimits
from touchflow.api.rate_limit import RateLimit
from touchflow.bootstrap import Application
from touchflow.onsite_token import make_identify_token
from touchflow.services.apikeys import new_key
from touchflow.services.contacts import find_contact_id, get_contact_profile, profile_document
from touchflow.services.ingest import RawItem, upsert_contacts
from touchflow.services.sites import IssuedSite, revoke_site
from touchflow.store.tables import audit_log, contact_identities, events, onsite_messages

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

ANN = {"email": "ann@example.cn", "name": "王安", "phone": "13800138000", "company": "安华贸易"}
BOB = {"email": "bob@example.cn", "name": "李波", "phone": "13900139000", "company": "波涛科技"}


@pytest.fixture
def keyed(app: Application) -> Application:
    return with_secret_key(app)


@pytest.fixture
def site(keyed: Application) -> IssuedSite:
    return make_site(keyed)


@pytest.fixture
def client(keyed: Application) -> Iterator[TestClient]:
    with TestClient(create_app(keyed, api_key_ttl=0)) as test_client:
        yield test_client


def crm_customers(app: Application) -> tuple[str, str]:
    ids = upsert_contacts(app.services, "crm", [RawItem(ANN), RawItem(BOB)]).contact_ids
    assert ids[0] and ids[1] and ids[0] != ids[1]
    return ids[0], ids[1]


def snapshot(app: Application, identifier: str) -> dict[str, Any]:
    doc = profile_document(get_contact_profile(app.services, identifier))
    return {k: doc[k] for k in doc if k not in ("recent_events", "event_count", "updated_at")}


def identify(client: TestClient, site: IssuedSite, who: str, body: dict[str, Any], origin: str = ORIGIN) -> Any:
    return client.post("/v1/onsite/identify", params={"visitor": who, "key": site.site_key},
                       content=json.dumps(body).encode(), headers={"Content-Type": "text/plain", "Origin": origin})


def links(app: Application) -> list[Any]:
    with app.engine.connect() as c:
        return list(c.execute(select(audit_log.c.actor, audit_log.c.subject, audit_log.c.details)
                              .where(audit_log.c.action == "onsite.link")))


def test_a_site_key_alone_cannot_merge_two_crm_customers(keyed: Application, client: TestClient,
                                                         site: IssuedSite) -> None:
    ann, bob = crm_customers(keyed)
    before = (snapshot(keyed, "email:ann@example.cn"), snapshot(keyed, "email:bob@example.cn"))
    answers = [identify(client, site, "anon:X", {"email": who["email"]}) for who in (ANN, BOB)]
    assert [a.status_code for a in answers] == [202, 202]
    assert [a.json() for a in answers] == [{"status": "claimed", "verified": False}] * 2

    assert (find_contact_id(keyed.services, "email:ann@example.cn"),
            find_contact_id(keyed.services, "email:bob@example.cn")) == (ann, bob)
    assert (snapshot(keyed, "email:ann@example.cn"), snapshot(keyed, "email:bob@example.cn")) == before
    attacker = find_contact_id(keyed.services, "anon:X")
    assert attacker not in (ann, bob)
    with keyed.engine.connect() as c:
        kinds = {r.kind for r in c.execute(select(contact_identities.c.kind)
                                           .where(contact_identities.c.contact_id == attacker))}
        claims = sorted(r.properties["claimed"] for r in c.execute(
            select(events.c.properties).where(events.c.type == "identify_claimed")
            .where(events.c.contact_id == attacker)))
    assert kinds == {"anon"}  # the claim is an event on the visitor, never an identity of it
    assert claims == ["email:ann@example.cn", "email:bob@example.cn"]
    assert links(keyed) == []


def test_an_unverified_claim_gets_none_of_the_victims_popups_and_cannot_dismiss_them(
        keyed: Application, client: TestClient, site: IssuedSite) -> None:
    ann, _ = crm_customers(keyed)
    [popup] = queue_popups(keyed, ann)
    assert identify(client, site, "anon:X", {"email": ANN["email"]}).status_code == 202
    params = {"visitor": "anon:X", "key": site.site_key}
    assert client.get("/v1/onsite/pending", params=params).json() == {"items": []}
    with keyed.engine.connect() as c:
        popup_id = c.execute(select(onsite_messages.c.id).where(onsite_messages.c.outbox_id == popup)).scalar_one()
    dismissed = client.post(f"/v1/onsite/popups/{popup_id}/dismiss", params=params)
    assert dismissed.status_code == 404
    with keyed.engine.connect() as c:
        assert c.execute(select(onsite_messages.c.status)).scalar_one() == "pending"
        assert c.execute(select(events.c.id).where(events.c.type == "message_dismissed")).first() is None


def test_a_token_from_the_site_backend_links_the_visitor_and_its_popups_follow(
        keyed: Application, client: TestClient, site: IssuedSite) -> None:
    ann, bob = crm_customers(keyed)
    queue_popups(keyed, ann)
    visitor(keyed, "v-9")
    assert client.get("/v1/onsite/pending", params={"visitor": "anon:v-9", "key": site.site_key}).json()["items"] == []
    token = mint(keyed, site, "anon:v-9", "email:Ann@Example.cn")
    linked = identify(client, site, "anon:v-9", {"token": token})
    assert linked.status_code == 200 and linked.json() == {"status": "linked", "verified": True, "changed": True}
    assert find_contact_id(keyed.services, "anon:v-9") == ann
    items = client.get("/v1/onsite/pending", params={"visitor": "anon:v-9", "key": site.site_key}).json()["items"]
    assert [i["title"] for i in items] == ["春季特惠 Spring offer"]
    [(actor, subject, details)] = links(keyed)
    assert (actor, subject, details["site"], details["contact_id"]) == ("site:www.example.cn", "anon:v-9",
                                                                        "www.example.cn", ann)
    assert identify(client, site, "anon:v-9", {"token": token}).json()["changed"] is False  # a replay is a no-op
    assert len(links(keyed)) == 1

    # The same browser, another person (a shared computer): never merges Ann and Bob through the visitor id.
    other = identify(client, site, "anon:v-9", {"token": mint(keyed, site, "anon:v-9", "email:bob@example.cn")})
    assert other.status_code == 409 and other.json()["errors"][0]["field"] == "visitor"
    assert find_contact_id(keyed.services, "email:bob@example.cn") == bob != ann


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_expired_forged_and_misdirected_tokens_are_refused_naming_the_reason(
        keyed: Application, client: TestClient, site: IssuedSite) -> None:
    ann, _ = crm_customers(keyed)
    now = int(keyed.services.clock.now().timestamp())
    good = mint(keyed, site, "anon:v-1", "email:ann@example.cn")
    header, claims, _ = good.split(".")
    other_site = make_site(keyed, "shop.example.cn", ["https://shop.example.cn"])
    cases = {
        "expired": (403, make_identify_token(site.identify_secret, "anon:v-1", "email:ann@example.cn", now - 1)),
        "signature": (403, make_identify_token("tfid_guessed", "anon:v-1", "email:ann@example.cn", now + 60)),
        "visitor": (403, mint(keyed, site, "anon:someone-else", "email:ann@example.cn")),
        "algorithm": (403, f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{claims}."),
        "too_long_lived": (403, mint(keyed, site, "anon:v-1", "email:ann@example.cn", ttl_s=30 * 86400)),
        "malformed": (422, "not-a-token"),
        "identifier": (422, mint(keyed, site, "anon:v-1", "anon:v-2")),
    }
    forged_claims = _b64({"vid": "anon:v-1", "sub": "email:bob@example.cn", "exp": now + 60})
    tampered = f"{header}.{forged_claims}.{good.split('.')[2]}"
    cases["signature-tampered"] = (403, tampered)
    cases["signature-other-site"] = (403, mint(keyed, other_site, "anon:v-1", "email:ann@example.cn"))
    for label, (status, token) in cases.items():
        answer = identify(client, site, "anon:v-1", {"token": token})
        reason = label.split("-")[0]
        assert answer.status_code == status, (label, answer.text)
        assert answer.json()["errors"] == [{"field": "token", "in": "body", "reason": reason}], label
        assert f"({reason})" in answer.json()["detail"], label
    assert links(keyed) == []
    with keyed.engine.connect() as c:
        assert c.execute(select(contact_identities.c.contact_id)
                         .where(contact_identities.c.value == "v-1")).first() is None
    assert find_contact_id(keyed.services, "email:ann@example.cn") == ann


def test_no_onsite_answer_carries_a_contact_id(keyed: Application, client: TestClient, site: IssuedSite) -> None:
    ann, bob = crm_customers(keyed)
    queue_popups(keyed, ann)
    params = {"visitor": "anon:v-5", "key": site.site_key}
    bodies = [identify(client, site, "anon:v-5", {"email": BOB["email"]}).text,
              identify(client, site, "anon:v-5", {"token": mint(keyed, site, "anon:v-5", "email:ann@example.cn")}).text,
              identify(client, site, "anon:v-5", {"token": "x.y.z"}).text]
    items = client.get("/v1/onsite/pending", params=params).json()["items"]
    bodies.append(json.dumps(items))
    bodies.append(client.post(f"/v1/onsite/popups/{items[0]['id']}/impression", params=params).text)
    bodies.append(client.post("/v1/onsite/popups/nope/click", params=params).text)
    everyone = {ann, bob, find_contact_id(keyed.services, "anon:v-5")}
    for body in bodies:
        assert "contact_id" not in body and not everyone & set(re.findall(r"[0-9a-f]{32}", body)), body


def test_the_buckets_empty_and_answer_429_with_retry_after(keyed: Application, site: IssuedSite) -> None:
    params = {"visitor": "anon:v-1", "key": site.site_key}
    per_ip = OnsiteLimits(per_ip=RateLimit(3, 0.01), per_site=RateLimit(1000, 100))
    with TestClient(create_app(keyed, onsite_limits=per_ip)) as client:
        codes = [client.get("/v1/onsite/pending", params=params).status_code for _ in range(4)]
        last = client.get("/v1/onsite/pending", params=params)
    assert codes == [200, 200, 200, 429] and last.status_code == 429
    assert int(last.headers["retry-after"]) >= 1 and "slow down" in last.json()["detail"]

    per_site = OnsiteLimits(per_ip=RateLimit(1000, 100), per_site=RateLimit(2, 0.01))
    with TestClient(create_app(keyed, onsite_limits=per_site)) as client:
        codes = [client.get("/v1/onsite/pending", params=params, headers={"Origin": ORIGIN}).status_code
                 for _ in range(3)]
        refused = client.get("/v1/onsite/pending", params=params, headers={"Origin": ORIGIN})
    assert codes == [200, 200, 429]
    assert int(refused.headers["retry-after"]) >= 1 and refused.headers["access-control-allow-origin"] == ORIGIN

    identify_weighs_more = OnsiteLimits(per_ip=RateLimit(15, 0.01), per_site=RateLimit(1000, 100))
    with TestClient(create_app(keyed, onsite_limits=identify_weighs_more)) as client:
        assert identify(client, site, "anon:v-1", {"email": "a@example.cn"}).status_code == 202
        assert identify(client, site, "anon:v-1", {"email": "b@example.cn"}).status_code == 429


def test_cors_answers_only_the_sites_configured_origins(keyed: Application, client: TestClient,
                                                        site: IssuedSite) -> None:
    params = {"visitor": "anon:v-1", "key": site.site_key}
    listed = client.get("/v1/onsite/pending", params=params, headers={"Origin": ORIGIN})
    assert listed.status_code == 200 and listed.headers["access-control-allow-origin"] == ORIGIN
    assert "Origin" in listed.headers["vary"]
    other = client.get("/v1/onsite/pending", params=params, headers={"Origin": "https://evil.example"})
    assert other.status_code == 403 and "access-control-allow-origin" not in other.headers
    assert other.json()["errors"] == [{"field": "Origin", "in": "header", "reason": "not allowed for this site"}]
    claim = identify(client, site, "anon:v-1", {"email": "a@example.cn"}, origin="https://evil.example")
    assert claim.status_code == 403
    server_side = client.get("/v1/onsite/pending", params=params)  # no Origin: not a browser, no CORS headers
    assert server_side.status_code == 200 and "access-control-allow-origin" not in server_side.headers
    for origin, allowed in ((ORIGIN, True), ("https://evil.example", False), ("null", False)):
        preflight = client.options("/v1/onsite/pending", params=params,
                                   headers={"Origin": origin, "Access-Control-Request-Method": "GET"})
        assert preflight.status_code == 204
        assert preflight.headers.get("access-control-allow-origin") == (origin if allowed else None)
    no_key = client.options("/v1/onsite/pending", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "GET"})
    assert "access-control-allow-origin" not in no_key.headers


def test_old_site_keys_and_revoked_sites_are_refused(keyed: Application, client: TestClient,
                                                     site: IssuedSite) -> None:
    now = keyed.services.clock.now()
    record, legacy = new_key("site:old.example.cn", now)  # `apikey create site:…` before sites existed
    with keyed.services.uow() as uow:
        uow.api_keys.add(record)
        uow.commit()
    old = client.get("/v1/onsite/pending", params={"visitor": "anon:v-1", "key": legacy})
    assert old.status_code == 403 and "touchflow site create" in old.json()["detail"]
    revoke_site(keyed.services, "www.example.cn", actor="test")
    gone = client.get("/v1/onsite/pending", params={"visitor": "anon:v-1", "key": site.site_key})
    assert gone.status_code == 401
    with keyed.engine.connect() as c:
        actions = [r.action for r in c.execute(select(audit_log.c.action).order_by(audit_log.c.id))]
    assert actions == ["site.create", "site.revoke"]
