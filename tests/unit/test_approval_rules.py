"""The four-eyes rules, pure (P4): no database, no clock but the one given."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from touchflow.domain.actors import Actor
from touchflow.domain.errors import FieldError
from touchflow.domain.governance.approvals import ApprovalRefused, check_decider, decide, finish, new_request
from touchflow.domain.governance.principals import Principal

NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
AMY = Actor.os_user("amy")


def test_a_new_request_is_pending_for_seven_days_and_needs_a_reason() -> None:
    request = new_request("r1", "export", "contacts", {}, AMY, " 年度审计 ", NOW)
    assert (request.state, request.reason, request.requested_by) == ("pending", "年度审计", "os:amy")
    assert request.state_at(NOW + timedelta(days=7) - timedelta(seconds=1)) == "pending"
    assert request.state_at(NOW + timedelta(days=7)) == "expired"
    with pytest.raises(FieldError, match="reason"):
        new_request("r2", "export", "contacts", {}, AMY, "", NOW)


@pytest.mark.parametrize(("principal", "code"), [
    (Principal.local_admin(AMY), "self_approval"),
    (Principal.local_admin(Actor("os:amy", "renamed")), "self_approval"),
    (Principal(Actor.os_user("bob"), "viewer", frozenset({"reports.read"})), "permission"),
    (Principal(Actor.os_user("bob"), "x", frozenset({"approvals.decide"})), "permission"),
])
def test_who_may_not_decide(principal: Principal, code: str) -> None:
    request = new_request("r1", "export", "contacts", {}, AMY, "r", NOW)
    with pytest.raises(ApprovalRefused) as refused:
        check_decider(request, principal, "contacts.export", NOW)
    assert refused.value.code == code


def test_a_request_is_decided_once_and_finished_once() -> None:
    request = new_request("r1", "export", "contacts", {}, AMY, "r", NOW)
    bob = Principal.local_admin(Actor.os_user("bob"))
    approved = decide(request, bob, approve=True, note="", kind_permission="contacts.export", now=NOW)
    assert (approved.state, approved.decided_by, approved.decided_at) == ("approved", "os:bob", NOW)
    with pytest.raises(ApprovalRefused, match="already approved"):
        decide(approved, Principal.local_admin(Actor.os_user("carol")), approve=False, note="no",
               kind_permission=None, now=NOW)
    done = finish(approved, {"rows": 3}, ok=True, now=NOW)
    assert done.state == "executed" and done.result == {"rows": 3}
    with pytest.raises(ApprovalRefused):
        finish(done, {}, ok=False, now=NOW)
    late = NOW + timedelta(days=8)
    with pytest.raises(ApprovalRefused) as expired:
        decide(request, bob, approve=True, note="", kind_permission=None, now=late)
    assert expired.value.code == "expired"
    with pytest.raises(FieldError, match="note"):
        decide(request, bob, approve=False, note="", kind_permission=None, now=NOW)
