"""Write-back end to end on SQLite and PostgreSQL: changes captured with the change, shipped to fake CRMs in
batches, idempotent across a lost answer, retried with back-off, dead letters retried or discarded (audited)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests.fakes.crm_apis import FakeCrm
from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.domain.errors import FieldError
from touchflow.domain.events import EventInput
from touchflow.engine.connectors.kinds import kind_requirements
from touchflow.engine.connectors.writeback_sender import ship_writebacks
from touchflow.services.connectors import add_connector
from touchflow.services.context import emit_events
from touchflow.services.ingest import RawItem, record_events, upsert_contacts
from touchflow.services.writeback import dead_letters, discard_dead_letters, retry_dead_letters, writeback_report
from touchflow.store.tables import audit_log, writeback_outbox


@pytest.fixture
def crm() -> Iterator[FakeCrm]:
    fake = FakeCrm([]).start()
    yield fake
    fake.stop()


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5.0) as client:
        yield client


def _connector(app: Application, name: str, writeback: dict[str, Any], secrets: dict[str, str]) -> None:
    sealed = app.secret_box().seal(secrets, f"connector:{name}")
    add_connector(app.services, name, "rest_api", {"preset": "hubspot", "writeback": writeback},
                  sealed_secret=sealed, secret_names=sorted(secrets), kinds=kind_requirements(), actor="user:admin")


def _people(app: Application) -> list[str]:
    report = upsert_contacts(app.services, "crm", [
        RawItem({"email": "a@example.cn", "crm_id": "003A"}), RawItem({"email": "b@example.cn", "crm_id": "003B"}),
        RawItem({"phone": "13800000009"})])  # no email, no CRM id
    return [cid for cid in report.contact_ids if cid]


def _stage(app: Application, cid: str, stage: str, event_id: str) -> None:
    now = app.services.clock.now()
    with app.services.uow() as uow:
        emit_events(uow, [(EventInput(event_id, "stage_changed", (), now, "touchflow",
                                      {"stage": stage, "from": "prospect", "rule": "r1"}), cid)], now)
        uow.commit()


def _outbox(app: Application) -> list[Any]:
    with app.engine.connect() as c:
        return list(c.execute(select(writeback_outbox).order_by(writeback_outbox.c.id)))


def test_hubspot_writeback_is_captured_batched_and_idempotent(app: Application, crm: FakeCrm, http: httpx.Client,
                                                             clock: VirtualClock) -> None:
    _connector(app, "hubspot", {"preset": "hubspot", "base_url": crm.url, "fields": ["stage", "consent", "mql"]},
               {"token": FakeCrm.HUBSPOT_TOKEN})
    a, b, nobody = _people(app)
    _stage(app, a, "intent", "ev-stage-a")
    _stage(app, a, "intent", "ev-stage-a")  # the same event again: one outbox row
    _stage(app, b, "customer", "ev-stage-b")
    record_events(app.services, "shop", [RawItem({"type": "unsubscribe", "email": "b@example.cn", "id": "ev-un-b",
                                                  "properties": {"channel": "email"}})])
    _stage(app, nobody, "prospect", "ev-stage-c")
    rows = _outbox(app)
    assert sorted(r.field for r in rows) == ["consent", "stage", "stage", "stage"]
    assert {r.status for r in rows} == {"pending"}

    crm.fail_next("lost")  # the CRM applies the batch, the answer is lost: the rows must not be applied twice
    first = ship_writebacks(app.services, app.secret_box().open, http)
    assert (first.sent, first.retrying, first.dead) == (0, 3, 1)  # the contact with no email is a dead letter
    assert crm.crm_state["a@example.cn"] == {"lifecyclestage": "marketingqualifiedlead"}
    nothing = ship_writebacks(app.services, app.secret_box().open, http)
    assert nothing.sent == 0  # backing off: not due yet
    clock.advance(timedelta(minutes=2))
    second = ship_writebacks(app.services, app.secret_box().open, http)
    assert second.sent == 3
    assert list(crm.applied.values()) == [1]  # one batch key, applied once though it was sent twice
    assert crm.crm_state["b@example.cn"] == {"lifecyclestage": "customer", "touchflow_consent_email": "denied"}
    upserts = crm.requests_to("/crm/v3/objects/contacts/batch/upsert")
    assert len(upserts) == 2 and upserts[0].headers["idempotency-key"] == upserts[1].headers["idempotency-key"]

    report = writeback_report(app.services, "hubspot")
    assert report.counts == {"sent": 3, "dead": 1}
    assert "no email" in (report.recent_errors[0].last_error or "")
    dead = dead_letters(app.services, "hubspot")
    assert len(dead) == 1 and dead[0]["contact_id"] == nobody
    assert retry_dead_letters(app.services, "hubspot", [dead[0]["id"]], actor="user:ops") == 1
    assert ship_writebacks(app.services, app.secret_box().open, http).dead == 1  # still no email
    assert discard_dead_letters(app.services, "hubspot", None, actor="user:ops") == 1
    assert writeback_report(app.services, "hubspot").counts == {"sent": 3, "discarded": 1}
    with app.engine.connect() as c:
        actions = [r.action for r in c.execute(select(audit_log.c.action).where(audit_log.c.actor == "user:ops"))]
    assert actions == ["connector.writeback.retry", "connector.writeback.discard"]


def test_salesforce_patch_per_record_and_retries_5xx_then_dead_after_max(app: Application, crm: FakeCrm,
                                                                         http: httpx.Client,
                                                                         clock: VirtualClock) -> None:
    _connector(app, "sfdc", {"preset": "salesforce", "base_url": crm.url, "fields": ["stage", "consent"]},
               {"token": FakeCrm.SF_TOKEN})
    a, _b, _ = _people(app)
    _stage(app, a, "customer", "ev-1")
    record_events(app.services, "shop", [RawItem({"type": "unsubscribe", "email": "b@example.cn", "id": "ev-2",
                                                  "properties": {"channel": "email"}})])
    crm.fail_next("5xx", "429")
    first = ship_writebacks(app.services, app.secret_box().open, http)
    assert (first.sent, first.retrying) == (0, 2)
    clock.advance(timedelta(minutes=5))
    second = ship_writebacks(app.services, app.secret_box().open, http)
    assert second.sent == 2
    assert crm.crm_state == {"003A": {"Touchflow_Stage__c": "customer"}, "003B": {"HasOptedOutOfEmail": True}}
    # a receiver that keeps failing: the row becomes a dead letter after max_attempts
    _stage(app, a, "dormant", "ev-3")
    for _ in range(3):
        crm.fail_next("5xx")
        ship_writebacks(app.services, app.secret_box().open, http, max_attempts=3)
        clock.advance(timedelta(hours=1))
    assert [d["value"] for d in dead_letters(app.services, "sfdc")] == [{"stage": "dormant", "from": "prospect"}]


def test_webhook_writeback_carries_each_change_key_and_a_signature(app: Application, crm: FakeCrm,
                                                                   http: httpx.Client) -> None:
    _connector(app, "hook", {"preset": "webhook", "url": f"{crm.url}/hook/writeback", "fields": ["stage"]},
               {"writeback_secret": "s3cret", "token": "unused"})
    a, _, _ = _people(app)
    _stage(app, a, "intent", "ev-w")
    assert ship_writebacks(app.services, app.secret_box().open, http).sent == 1
    (request,) = crm.requests_to("/hook/writeback")
    expected = "sha256=" + hmac.new(b"s3cret", request.body, hashlib.sha256).hexdigest()
    assert request.headers["x-touchflow-signature"] == expected
    change = request.json()["changes"][0]
    assert change["identifiers"]["email"] == "a@example.cn" and change["value"]["stage"] == "intent"
    assert change["idempotency_key"].startswith("tfwb-")


def test_no_writeback_connector_means_no_outbox_rows(app: Application) -> None:
    a, _, _ = _people(app)
    _stage(app, a, "intent", "ev-x")
    assert _outbox(app) == []


@pytest.mark.parametrize(("writeback", "field"), [
    ("yes", "settings.writeback"),
    ({"preset": "zoho"}, "settings.writeback.preset"),
    ({"preset": "hubspot", "fields": ["score", "shoe_size"]}, "settings.writeback.fields"),
    ({"preset": "hubspot", "batch_size": 1000}, "settings.writeback.batch_size"),
])
def test_bad_writeback_settings_are_refused_naming_the_field(app: Application, writeback: Any, field: str) -> None:
    with pytest.raises(FieldError) as caught:
        _connector(app, "bad", writeback, {"token": "t"})
    assert caught.value.field == field
