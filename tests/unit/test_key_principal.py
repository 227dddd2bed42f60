"""What an API key may do: its role narrowed to its scopes, never more; keys without a usable role nothing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from touchflow.api.auth import key_principal
from touchflow.domain.governance.account_ports import ApiKeyRecord
from touchflow.domain.governance.permissions import role
from touchflow.domain.governance.scope import NOBODY, assignee_scope

AT = datetime(2026, 3, 2, tzinfo=UTC)


def _key(name: str = "crm", role_name: str = "strategist", scopes: frozenset[str] | None = None,
         owner: str | None = None) -> ApiKeyRecord:
    return ApiKeyRecord("k1", name, "h", AT, None, role=role_name, scopes=scopes, owner_user_id=owner)


def test_role_then_scopes_narrow_never_widen() -> None:
    assert key_principal(_key()).permissions == role("strategist").permissions
    narrowed = key_principal(_key(scopes=frozenset({"contacts.read", "content.write"})))
    assert narrowed.permissions == {"contacts.read"}  # content.write is not the strategist's to give
    assert narrowed.actor.id == "apikey:k1" and narrowed.key_id == "k1"


@pytest.mark.parametrize("record", [_key(role_name=""), _key(role_name="superuser"), _key(name="site:a.cn",
                                                                                          role_name="admin")])
def test_keys_without_a_usable_role_may_do_nothing(record: ApiKeyRecord) -> None:
    assert key_principal(record).permissions == frozenset()


def test_an_agent_key_reaches_its_owner_assignments_only() -> None:
    assert assignee_scope(key_principal(_key(role_name="agent", owner="li@example.cn"))) == "li@example.cn"
    assert assignee_scope(key_principal(_key(role_name="agent"))) == NOBODY  # a service account: nothing
    assert assignee_scope(key_principal(_key(role_name="admin"))) is None
