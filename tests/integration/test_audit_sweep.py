"""Every use case a person starts writes exactly one audit row (P5), and the chain verifies afterwards.

The list below is the sweep of issue 12: each entry is a person-initiated service function, run once on a
prepared database; the test counts the rows it added. Engine actions (ingest per event, the journey runtime,
segment and score passes, SLA reports) write none — see docs/subsystems/audit.md for the line drawn.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from touchflow.bootstrap import Application
from touchflow.engine.importer import import_file
from touchflow.services.apikeys import create_api_key, revoke_api_key
from touchflow.services.audit import verify_chain
from touchflow.services.callback_tokens import create_callback_token, revoke_callback_tokens
from touchflow.services.channels import save_channel
from touchflow.services.contacts import merge_contacts, patch_contact
from touchflow.services.content import decide_review, list_reviews, request_review, save_template
from touchflow.services.guarding import (
    freeze_contact,
    lift_freeze,
    set_guardrail_policy,
    suppress_address,
    unsuppress_address,
)
from touchflow.services.ingest import RawItem, upsert_contacts
from touchflow.services.journeys import enrol_contact, publish_journey, set_journey_status
from touchflow.services.segments import add_members, archive_segment, create_segment, remove_members
from touchflow.services.sources import register_source
from touchflow.services.tasks import set_handoff
from touchflow.store.tables import audit_log

JOURNEY = """
key: welcome
name: 欢迎
trigger:
  event: signed_up
nodes:
  hello:
    kind: send
    channel: email
    template: hello
"""

Step = Callable[[Application, dict[str, Any]], Any]


@dataclass(frozen=True)
class Case:
    action: str  # the audit action its row carries
    run: Step
    given: tuple[Step, ...] = ()  # what must exist first (may write audit rows of its own)


def _contacts(app: Application, seen: dict[str, Any]) -> None:
    report = upsert_contacts(app.services, "crm", [RawItem({"email": "ann@x.cn"}), RawItem({"email": "bob@x.cn"})])
    seen["ann"], seen["bob"] = report.contact_ids


def _key(app: Application, seen: dict[str, Any]) -> None:
    seen["key"] = create_api_key(app.services, "ops", actor="os:alice").id


def _journey(app: Application, seen: dict[str, Any]) -> None:
    publish_journey(app.services, JOURNEY, actor="os:alice")


def _static(app: Application, seen: dict[str, Any]) -> None:
    create_segment(app.services, {"key": "vip", "name": "VIP", "kind": "static"}, actor="os:alice")


def _template(app: Application, seen: dict[str, Any]) -> None:
    save_template(app.services, "hello", "email", "你好", "{{ contact.email }}，您好。", "text", by="os:alice")


def _finance(app: Application, seen: dict[str, Any]) -> None:
    """Finance copy waits for a second person (G5): saving it opens a review."""
    save_template(app.services, "fund", "email", "理财周报", "<p>稳健配置</p>", "html", ["finance"], "os:alice")
    [review] = list_reviews(app.services)
    seen["review"] = review.id


def _rejected(app: Application, seen: dict[str, Any]) -> None:
    decide_review(app.services, seen["review"], False, "os:bob", "too bold")


def _channel(app: Application, seen: dict[str, Any]) -> None:
    save_channel(app.services, "webhook", "webhook", {"allow_networks": ["10.0.0.0/8"]}, None, None, 4, True,
                 actor="os:alice")


def _import_file(app: Application, seen: dict[str, Any]) -> None:
    path = Path(seen["tmp"]) / "people.csv"
    path.write_text("email,姓名\ncai@x.cn,蔡\nnot-an-address,无\n", encoding="utf-8")
    import_file(app.services, path, "contacts", "crm", actor="os:alice")


CASES: dict[str, Case] = {
    "create_api_key": Case("apikey.create", _key),
    "revoke_api_key": Case("apikey.revoke", lambda a, s: revoke_api_key(a.services, s["key"], actor="os:bob"),
                           (_key,)),
    "register_source": Case("source.register", lambda a, s: register_source(
        a.services, "shop", kind="ecommerce", priority=None, sync_mode="daily", actor="os:alice")),
    "import_file": Case("import.contacts", _import_file),
    "patch_contact": Case("contact.patch", lambda a, s: patch_contact(
        a.services, "email:ann@x.cn", actor="os:alice", add_tags=["vip"], attributes={"city": "上海"}), (_contacts,)),
    "merge_contacts": Case("contact.merge", lambda a, s: merge_contacts(
        a.services, s["ann"], s["bob"], actor="os:alice", reason="same person"), (_contacts,)),
    "freeze_contact": Case("contact.freeze", lambda a, s: freeze_contact(
        a.services, "email:ann@x.cn", "complained by phone", actor="os:alice"), (_contacts,)),
    "lift_freeze": Case("contact.unfreeze", lambda a, s: lift_freeze(
        a.services, "email:ann@x.cn", by="os:bob", reason="resolved"),
        (_contacts, lambda a, s: freeze_contact(a.services, "email:ann@x.cn", "complaint", actor="os:alice"))),
    "suppress_address": Case("suppression.add", lambda a, s: suppress_address(
        a.services, "email", "x@y.cn", "asked", actor="os:alice")),
    "unsuppress_address": Case("suppression.remove", lambda a, s: unsuppress_address(
        a.services, "email", "x@y.cn", actor="os:alice"),
        (lambda a, s: suppress_address(a.services, "email", "x@y.cn", "asked", actor="os:alice"),)),
    "set_guardrail_policy": Case("guardrails.set", lambda a, s: set_guardrail_policy(
        a.services, {"cap": {"per_day": 2}}, actor="os:alice")),
    "publish_journey": Case("journey.publish", _journey, (_template,)),
    "set_journey_status": Case("journey.pause", lambda a, s: set_journey_status(
        a.services, "welcome", "paused", actor="os:alice", reason="check"), (_template, _journey)),
    "enrol_contact": Case("journey.enrol", lambda a, s: enrol_contact(
        a.services, "welcome", "email:ann@x.cn", actor="os:alice"), (_contacts, _template, _journey)),
    "create_segment": Case("segment.save", _static),
    "archive_segment": Case("segment.archive", lambda a, s: archive_segment(a.services, "vip", actor="os:alice"),
                            (_static,)),
    "add_members": Case("segment.add", lambda a, s: add_members(
        a.services, "vip", ["email:ann@x.cn"], actor="os:alice"), (_contacts, _static)),
    "remove_members": Case("segment.remove", lambda a, s: remove_members(
        a.services, "vip", ["email:ann@x.cn"], actor="os:alice"),
        (_contacts, _static, lambda a, s: add_members(a.services, "vip", ["email:ann@x.cn"], actor="os:alice"))),
    "save_template": Case("template.save", _template),
    "request_review": Case("template.review_request", lambda a, s: request_review(a.services, "fund", by="os:alice"),
                           (_finance, _rejected)),
    "decide_review": Case("template.review_approve", lambda a, s: decide_review(
        a.services, s["review"], True, "os:bob"), (_finance,)),
    "save_channel": Case("channel.save", _channel),
    "create_callback_token": Case("callback_token.create", lambda a, s: create_callback_token(
        a.services, "webhook", actor="os:alice"), (_channel,)),
    "revoke_callback_tokens": Case("callback_token.revoke", lambda a, s: revoke_callback_tokens(
        a.services, "webhook", actor="os:alice"),
        (_channel, lambda a, s: create_callback_token(a.services, "webhook", actor="os:alice"))),
    "set_handoff": Case("handoff.set", lambda a, s: set_handoff(a.services, {"sales": "zhangsan"}, actor="os:alice")),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_person_initiated_use_case_writes_exactly_one_audit_row(app: Application, name: str,
                                                                  tmp_path: Path) -> None:
    case = CASES[name]
    seen: dict[str, Any] = {"tmp": tmp_path}
    for step in case.given:
        step(app, seen)
    with app.engine.connect() as c:
        before = c.execute(select(audit_log.c.id).order_by(audit_log.c.id.desc())).first()
    case.run(app, seen)
    with app.engine.connect() as c:
        new = c.execute(select(audit_log).where(audit_log.c.id > (before[0] if before else 0))).all()
    assert [r.action for r in new] == [case.action]
    assert new[0].actor.startswith("os:") and new[0].hash
    assert verify_chain(app.services).ok


def test_a_patch_keeps_digests_of_the_state_before_and_after(app: Application) -> None:
    _contacts(app, {})
    patch_contact(app.services, "email:ann@x.cn", actor="os:alice", add_tags=["vip"])
    with app.engine.connect() as c:
        row = c.execute(select(audit_log).where(audit_log.c.action == "contact.patch")).one()
    assert row.before_digest and row.after_digest and row.before_digest != row.after_digest
