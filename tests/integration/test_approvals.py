"""Four-eyes approvals (P4) through the services, on SQLite and PostgreSQL: the requester never approves (same
actor id under any name, the CLI's local administrator included), the approver needs approvals.decide and the
kind's permission, a request is decided once and lapses after 7 days, every step is audited."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.domain.actors import Actor
from touchflow.domain.errors import FieldError
from touchflow.domain.governance.principals import Principal
from touchflow.services.accounts import create_user, list_users
from touchflow.services.approvals import (
    ApprovalNotFound,
    ApprovalRefused,
    ApprovalRequest,
    approve,
    expire_requests,
    get_request,
    list_requests,
    register_kind,
    reject,
    request_approval,
)
from touchflow.services.context import ServiceContext
from touchflow.store.tables import audit_log

ALICE = Actor.os_user("alice")
BOB = Actor.api_key("k-bob", "bob")
RAN: list[str] = []


def _fake(ctx: ServiceContext, request: ApprovalRequest) -> dict[str, Any]:
    RAN.append(request.id)
    if request.payload.get("boom"):
        raise RuntimeError("the operation broke")
    return {"done": request.payload.get("n")}


@pytest.fixture(autouse=True)
def fake_kind() -> None:
    RAN.clear()
    register_kind("test_fake", permission="users.manage", label_zh="测试", label_en="test", execute=_fake)


def admin(actor: Actor) -> Principal:
    return Principal.local_admin(actor)


def audit(app: Application) -> list[tuple[str, str, str]]:
    with app.engine.connect() as c:
        return [(r.actor, r.action, r.subject) for r in c.execute(select(audit_log).order_by(audit_log.c.id))]


def test_the_requester_never_approves_their_own_request(app: Application) -> None:
    request = request_approval(app.services, ALICE, "test_fake", "thing", {"n": 1}, reason="quarterly report")
    assert request.state == "pending" and request.expires_at - request.requested_at == timedelta(days=7)
    for same in (admin(ALICE), admin(Actor(ALICE.id, "Alice under another name"))):
        with pytest.raises(ApprovalRefused) as refused:
            approve(app.services, same, request.id)
        assert refused.value.code == "self_approval"
    with pytest.raises(ApprovalRefused):
        reject(app.services, admin(ALICE), request.id, note="changed my mind")
    assert get_request(app.services, request.id).state == "pending" and RAN == []
    done = approve(app.services, admin(BOB), request.id, note="ok")
    assert (done.state, done.result, done.decided_by, RAN) == ("executed", {"done": 1}, BOB.id, [request.id])
    actions = [a for _, a, s in audit(app) if s == f"approval:{request.id}"]
    assert actions == ["approval.request", "approval.refused", "approval.refused", "approval.refused",
                       "approval.approve", "approval.execute"]


def test_the_approver_needs_approvals_decide_and_the_kinds_permission(app: Application) -> None:
    request = request_approval(app.services, ALICE, "test_fake", "thing", {}, reason="r")
    only_decide = Principal(BOB, "reviewer", frozenset({"approvals.decide", "content.review"}))
    only_users = Principal(BOB, "custom", frozenset({"users.manage"}))
    for weak, missing in ((only_decide, "users.manage"), (only_users, "approvals.decide")):
        with pytest.raises(ApprovalRefused, match=missing) as refused:
            approve(app.services, weak, request.id)
        assert refused.value.code == "permission"
    enough = Principal(BOB, "custom", frozenset({"approvals.decide", "users.manage"}))
    assert approve(app.services, enough, request.id).state == "executed"


def test_a_request_is_decided_once(app: Application) -> None:
    carol = admin(Actor.api_key("k-carol", "carol"))
    first = request_approval(app.services, ALICE, "test_fake", "a", {"n": 1}, reason="r")
    approve(app.services, admin(BOB), first.id)
    for attempt in (lambda: approve(app.services, carol, first.id),
                    lambda: reject(app.services, carol, first.id, note="no")):
        with pytest.raises(ApprovalRefused, match="already executed"):
            attempt()
    assert [first.id] == RAN  # the operation ran once
    second = request_approval(app.services, ALICE, "test_fake", "b", {}, reason="r")
    with pytest.raises(FieldError, match="note"):
        reject(app.services, admin(BOB), second.id, note=" ")
    rejected = reject(app.services, admin(BOB), second.id, note="not this quarter")
    assert (rejected.state, rejected.note) == ("rejected", "not this quarter")
    with pytest.raises(ApprovalRefused, match="already rejected"):
        approve(app.services, carol, second.id)
    assert [first.id] == RAN
    with pytest.raises(ApprovalNotFound):
        approve(app.services, carol, "nope")


def test_a_failing_operation_is_recorded_failed(app: Application) -> None:
    request = request_approval(app.services, ALICE, "test_fake", "a", {"boom": True}, reason="r")
    done = approve(app.services, admin(BOB), request.id)
    assert done.state == "failed" and "the operation broke" in done.result["error"]
    assert ("apikey:k-bob (bob)", "approval.fail", f"approval:{request.id}") in audit(app)


def test_pending_requests_expire_after_seven_days(app: Application, clock: VirtualClock) -> None:
    request = request_approval(app.services, ALICE, "test_fake", "a", {}, reason="r")
    clock.advance(timedelta(days=7))
    assert get_request(app.services, request.id).state == "expired"
    assert [r.id for r in list_requests(app.services, state="expired")] == [request.id]
    assert list_requests(app.services, state="pending") == []
    with pytest.raises(ApprovalRefused) as refused:
        approve(app.services, admin(BOB), request.id)
    assert refused.value.code == "expired" and RAN == []
    assert expire_requests(app.services) == []  # the refused approval already stored it
    with app.services.reader() as uow:
        stored = uow.approvals.get(request.id)
    assert stored is not None and stored.state == "expired"


def test_request_checks_its_input(app: Application) -> None:
    with pytest.raises(FieldError, match="reason"):
        request_approval(app.services, ALICE, "test_fake", "a", {}, reason="  ")
    with pytest.raises(FieldError, match="unknown approval kind"):
        request_approval(app.services, ALICE, "no_such_kind", "a", {}, reason="r")
    with pytest.raises(FieldError, match="state"):
        list_requests(app.services, state="maybe")


def test_role_admin_makes_the_account_an_administrator_only_after_approval(app: Application) -> None:
    """``role_admin`` runs ``services.accounts.set_role`` once a second person with users.manage approves."""
    create_user(app.services, "li@x.cn", "李雷", "editor", "Correct-Horse-42-battery", actor=ALICE)
    with pytest.raises(FieldError, match="only a change to admin"):
        request_approval(app.services, ALICE, "role_admin", "user:li", {"user_email": "li@x.cn", "role": "editor"},
                         reason="r")
    with pytest.raises(FieldError, match="no account"):
        request_approval(app.services, ALICE, "role_admin", "user:x", {"user_email": "nobody@x.cn"}, reason="r")
    request = request_approval(app.services, ALICE, "role_admin", "user:li", {"user_email": "LI@x.cn"},
                               reason="新管理员")
    users_only = Principal(BOB, "custom", frozenset({"approvals.decide", "contacts.export"}))
    with pytest.raises(ApprovalRefused, match=r"users\.manage"):
        approve(app.services, users_only, request.id)
    assert _role_of(app, "li@x.cn") == "editor"
    with pytest.raises(ApprovalRefused):
        approve(app.services, admin(ALICE), request.id)  # the requester cannot approve
    done = approve(app.services, admin(BOB), request.id)
    assert done.state == "executed" and done.result["role"] == "admin"
    assert _role_of(app, "li@x.cn") == "admin"


def _role_of(app: Application, email: str) -> str:
    return next(s.user.role for s in list_users(app.services) if s.user.email == email)


def test_two_approvers_at_once_run_the_operation_once(app: Application) -> None:
    request = request_approval(app.services, ALICE, "test_fake", "a", {"n": 1}, reason="r")
    outcomes: list[str] = []
    start = threading.Barrier(2)

    def decide_as(name: str) -> None:
        start.wait()
        try:
            outcomes.append(approve(app.services, admin(Actor.api_key(f"k-{name}", name)), request.id).state)
        except ApprovalRefused as refused:
            outcomes.append(refused.code)

    threads = [threading.Thread(target=decide_as, args=(n,)) for n in ("bob", "carol")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["decided", "executed"] and [request.id] == RAN
