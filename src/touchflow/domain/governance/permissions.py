"""Permissions and roles (P2): every route and command names one permission; a role is a list of them.

The role table is data (``domain/data/roles.yaml``), checked here against the closed list of permissions so a
typo in the file fails at load, never silently grants or withholds. ``agent`` is object-scoped: with
``tasks.read``/``contacts.read`` it still sees only what is assigned to it (checked where the objects are read).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any

from touchflow.domain.errors import FieldError
from touchflow.domain.safe_yaml import load_yaml

__all__ = ["ASSIGNED_ONLY_ROLES", "PERMISSIONS", "ROLE_NAMES", "Role", "permissions_of", "role", "roles"]

PERMISSIONS: Mapping[str, str] = {
    "contacts.read": "read contacts, their events and messages",
    "contacts.write": "import, edit, merge, tag and freeze contacts",
    "contacts.delete": "delete contacts in bulk (needs a second person's approval)",
    "contacts.export": "request exports of contacts or any personal data (needs approval)",
    "events.write": "send events and contacts in through the API",
    "segments.read": "read segments and their members",
    "segments.write": "create, change and delete segments, lists, lifecycle and scoring rules",
    "journeys.read": "read journeys, their runs and statistics",
    "journeys.write": "create and change journey drafts",
    "journeys.publish": "publish, pause and stop journeys",
    "content.read": "read templates and assets",
    "content.write": "create and change templates and assets",
    "content.review": "review medical and finance content (compliance)",
    "reports.read": "read reports, KPIs, experiment and goal results",
    "tasks.read": "read follow-up tasks (agents: only their own)",
    "tasks.work": "accept, work and close follow-up tasks",
    "tasks.manage": "assign tasks and edit assignment rules",
    "channels.manage": "configure channels, sites and their credentials",
    "guardrails.manage": "change guardrail policy, freezes and compliance word lists",
    "settings.manage": "change workspace settings and secrets",
    "users.manage": "create, disable and change accounts and roles",
    "apikeys.manage": "create and revoke API keys",
    "audit.read": "search and export the audit log",
    "approvals.decide": "approve or reject another person's request",
    "privacy.manage": "handle personal-information requests (access, erasure)",
    "incidents.manage": "open and run security incidents",
    "connectors.read": "read connectors (CRM, shop, database pulls) and their runs",
    "connectors.manage": "add, test, run, pause and resume connectors and their credentials",
}

ASSIGNED_ONLY_ROLES = frozenset({"agent"})  # see only the tasks and contacts assigned to them


@dataclass(frozen=True)
class Role:
    name: str
    zh: str
    en: str
    summary: str
    permissions: frozenset[str]


@cache
def roles() -> Mapping[str, Role]:
    """The role table, validated: every permission named in it exists."""
    text = files("touchflow.domain.data").joinpath("roles.yaml").read_text(encoding="utf-8")
    document = load_yaml(text)
    if not isinstance(document, dict) or not isinstance(document.get("roles"), dict):
        raise FieldError("roles", "roles.yaml must hold a mapping 'roles'")
    table: dict[str, Role] = {}
    for name, entry in document["roles"].items():
        table[str(name)] = _role(str(name), entry)
    return table


def _role(name: str, entry: Any) -> Role:
    if not isinstance(entry, dict):
        raise FieldError(f"roles.{name}", "must be a mapping")
    granted = entry.get("permissions") or []
    unknown = sorted(set(map(str, granted)) - set(PERMISSIONS))
    if unknown:
        raise FieldError(f"roles.{name}.permissions", f"unknown permission(s): {', '.join(unknown)}")
    return Role(name, str(entry.get("zh", name)), str(entry.get("en", name)), str(entry.get("summary", "")),
                frozenset(map(str, granted)))


ROLE_NAMES = ("admin", "strategist", "editor", "viewer", "reviewer", "agent")


def role(name: str) -> Role:
    table = roles()
    if name not in table:
        raise FieldError("role", f"unknown role {name!r}: one of {', '.join(table)}")
    return table[name]


def permissions_of(role_name: str, scopes: frozenset[str] | None = None) -> frozenset[str]:
    """What a role may do, narrowed to ``scopes`` when a key carries a scope list (never widened)."""
    granted = role(role_name).permissions
    return granted & scopes if scopes is not None else granted
