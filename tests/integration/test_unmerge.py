"""Unmerge (issue 11): a merge made by mistake — here a family's shared phone — is undone by a person.
Identities, events (by the identifier each arrived with), values (by lineage), tags, consents and static
memberships go back; both are rescored; journeys stay; audited; both profiles show it. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.domain.actors import Actor
from touchflow.services.contacts import get_contact_profile, profile_document, resolve_contact_id
from touchflow.services.ingest import RawItem, record_events, upsert_contacts
from touchflow.services.segments import add_members, create_segment
from touchflow.services.unmerge import NothingToUnmerge, unmerge_contact
from touchflow.store.tables import audit_log, lead_scores, segment_members

PHONE = "13800138000"


def who(app: Application, identifier: str) -> str:
    with app.services.reader() as uow:
        return resolve_contact_id(uow, identifier)


def consult(app: Application, identifier: dict[str, str], n: int) -> None:
    record_events(app.services, "crm", [RawItem({**identifier, "type": "consult",
                                                 "occurred_at": app.services.clock.now().isoformat(),
                                                 "properties": {"topic": f"t{n}"}})])


def event_count(app: Application, contact_id: str) -> int:
    """Events the people made (the engine's own stage_changed events of the rescoring are left out)."""
    recent = get_contact_profile(app.services, contact_id).recent_events
    return sum(e.type in ("consult", "segment_entered") for e in recent)


def scores(app: Application) -> dict[str, float]:
    with app.engine.connect() as c:
        return {r.contact_id: r.score for r in c.execute(select(lead_scores))}


def family(app: Application, clock: VirtualClock) -> tuple[str, str]:
    """Mother (older contact, phone, name) and son (email, company, a tag, consent, a static list), then an
    import that says the son's email goes with the mother's phone: resolution merges them."""
    upsert_contacts(app.services, "crm", [RawItem({"name": "王芳", "phone": PHONE, "city": "杭州"})])
    clock.advance(timedelta(minutes=1))
    upsert_contacts(app.services, "shop", [RawItem({"name": "王小明", "email": "son@x.cn", "company": "小明科技",
                                                    "tags": "gamer", "consent.email": "granted"})])
    mother, son = who(app, f"phone:{PHONE}"), who(app, "email:son@x.cn")
    create_segment(app.services, {"key": "beta_testers", "name": "内测名单", "kind": "static"}, actor="t")
    add_members(app.services, "beta_testers", ["email:son@x.cn"], actor="t")
    consult(app, {"phone": PHONE}, 1)
    consult(app, {"email": "son@x.cn"}, 2)
    consult(app, {"email": "son@x.cn"}, 3)
    clock.advance(timedelta(hours=1))
    upsert_contacts(app.services, "wechat_form", [RawItem({"email": "son@x.cn", "phone": PHONE})])
    assert who(app, "email:son@x.cn") == mother
    clock.advance(timedelta(hours=1))
    consult(app, {"email": "son@x.cn"}, 4)  # after the merge, with the son's identifier
    consult(app, {"phone": PHONE}, 5)
    return mother, son


def test_a_wrong_merge_is_undone_and_each_person_gets_back_what_was_theirs(app: Application,
                                                                         clock: VirtualClock) -> None:
    mother, son = family(app, clock)
    assert event_count(app, mother) == 6  # five consultations and the son's segment_entered (the static list)
    merged = profile_document(get_contact_profile(app.services, mother))
    assert merged["attributes"]["company"] == "小明科技" and "gamer" in {t["tag"] for t in merged["tags"]}
    assert merged["consent"]["email"]["status"] == "granted"

    clock.advance(timedelta(days=1))
    result = unmerge_contact(app.services, son, actor=Actor.os_user("reviewer"), reason="shared family phone")
    assert (result.survivor, result.restored, result.identities, result.events) == (mother, son, 1, 4)

    assert who(app, "email:son@x.cn") == son and who(app, f"phone:{PHONE}") == mother
    assert event_count(app, mother) == 2  # consultations 1 and 5: her phone
    assert event_count(app, son) == 4  # 2, 3, segment_entered (moved at the merge) and 4 (after it, by email)
    mum = profile_document(get_contact_profile(app.services, mother))
    boy = profile_document(get_contact_profile(app.services, son))
    assert "company" not in mum["attributes"] and mum["attributes"]["name"] == "王芳"
    assert [t["tag"] for t in mum["tags"]] == [] and "email" not in mum["consent"]
    assert boy["attributes"]["company"] == "小明科技" and [t["tag"] for t in boy["tags"]] == ["gamer"]
    assert boy["consent"]["email"]["status"] == "granted"
    with app.engine.connect() as c:
        members = set(c.execute(select(segment_members.c.contact_id)).scalars())
        audit = c.execute(select(audit_log).where(audit_log.c.action == "contact.unmerge")).one()
    assert members == {son}
    assert audit.actor == "os:reviewer" and audit.details["restored"] == son
    assert audit.details["reason"] == "shared family phone"
    assert scores(app)[mother] < scores(app)[son]  # rescored: one consultation against two (and one later)
    assert [m["undone_by"] for m in mum["merges"]] == ["os:reviewer"]
    assert [(m["merged"], m["into"]) for m in boy["merges"]] == [(son, mother)]

    with pytest.raises(NothingToUnmerge):  # once is enough
        unmerge_contact(app.services, son, actor="t", reason="again")
    with pytest.raises(NothingToUnmerge):
        unmerge_contact(app.services, mother, actor="t", reason="not merged")


def test_the_api_unmerges_as_the_calling_key(app: Application, clock: VirtualClock) -> None:
    import warnings

    from starlette.exceptions import StarletteDeprecationWarning

    from touchflow.api.app import create_app

    with warnings.catch_warnings():  # as tests/e2e/conftest.py: the test client's httpx notice
        warnings.simplefilter("ignore", StarletteDeprecationWarning)
        from fastapi.testclient import TestClient
    from touchflow.services.apikeys import create_api_key

    mother, son = family(app, clock)
    key = create_api_key(app.services, "service-desk", actor="t")
    client = TestClient(create_app(app, api_key_ttl=0))
    headers = {"Authorization": f"Bearer {key.secret}"}
    missing = client.post(f"/v1/contacts/{son}/unmerge", json={}, headers=headers)
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "reason"
    answer = client.post(f"/v1/contacts/{son}/unmerge", json={"reason": "forged identifier"}, headers=headers)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    assert body["restored"] == son and body["survivor"] == mother and "company" in body["returned"]
    again = client.post(f"/v1/contacts/{son}/unmerge", json={"reason": "again"}, headers=headers)
    assert again.status_code == 409
    with app.engine.connect() as c:
        actor = c.execute(select(audit_log.c.actor).where(audit_log.c.action == "contact.unmerge")).scalar_one()
    assert actor == f"apikey:{key.id} (service-desk)"


def test_the_cli_unmerges_as_the_os_account(app: Application, clock: VirtualClock) -> None:
    from touchflow.cli import app as cli
    from touchflow.cli.common import local_actor

    mother, son = family(app, clock)
    runner = CliRunner(env={"TOUCHFLOW_DATABASE_URL": app.settings.database_url})
    result = runner.invoke(cli, ["contact", "unmerge", son, "--reason", "wrong suggestion", "--json"])
    assert result.exit_code == 0, result.output
    assert '"restored"' in result.output and son in result.output
    with app.engine.connect() as c:
        actor = c.execute(select(audit_log.c.actor).where(audit_log.c.action == "contact.unmerge")).scalar_one()
    assert actor == local_actor().label
    shown = runner.invoke(cli, ["contact", "show", mother])
    assert "unmerged at" in shown.output
    refused = runner.invoke(cli, ["contact", "unmerge", mother, "--reason", "x"])
    assert refused.exit_code == 1 and "not a merged-away contact" in refused.output
