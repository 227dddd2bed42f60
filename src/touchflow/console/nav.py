"""The sidebar: each page area with the permission it needs; a reader sees only what their role may open.

Labels are message ids, translated in the template (``_(item.label)``); the catalog test finds them through the
``N_`` marker (``console/i18n.py``), which Babel extracts like ``_``.
"""

from __future__ import annotations

from dataclasses import dataclass

from touchflow.console.i18n import N_
from touchflow.domain.governance.principals import Principal

__all__ = ["NAV", "NavItem", "first_page", "nav_for"]


@dataclass(frozen=True)
class NavItem:
    path: str
    label: str  # an English message id
    icon: str  # an inline SVG path in templates/icons.html
    permission: str


NAV: tuple[NavItem, ...] = (
    NavItem("/dashboard", N_("Dashboard"), "home", "reports.read"),
    NavItem("/contacts", N_("Contacts"), "users", "contacts.read"),
    NavItem("/tasks", N_("Tasks"), "checklist", "tasks.read"),
    NavItem("/journeys", N_("Journeys"), "route", "journeys.read"),
    NavItem("/content", N_("Content"), "file-text", "content.read"),
    NavItem("/segments", N_("Segments"), "filter", "segments.read"),
    NavItem("/lifecycle", N_("Lifecycle and scoring"), "chart", "segments.read"),
    NavItem("/imports", N_("Imports and sources"), "upload", "contacts.write"),
    # console3: measurement and settings
    NavItem("/measure", N_("Measurement"), "chart", "reports.read"),
    NavItem("/exports", N_("Exports"), "download", "contacts.export"),
    NavItem("/settings/approvals", N_("Approvals"), "stamp", "approvals.decide"),
    NavItem("/settings/users", N_("Users and roles"), "users", "users.manage"),
    NavItem("/settings/keys", N_("API keys"), "key", "apikeys.manage"),
    NavItem("/settings/audit", N_("Audit log"), "list-search", "audit.read"),
    NavItem("/settings/incidents", N_("Incidents"), "alert", "incidents.manage"),
    NavItem("/settings/channels", N_("Channels"), "send", "channels.manage"),
    NavItem("/settings/guardrails", N_("Guardrails"), "shield", "guardrails.manage"),
)


def nav_for(principal: Principal) -> list[NavItem]:
    return [item for item in NAV if principal.can(item.permission)]


def first_page(principal: Principal) -> str:
    """Where ``/`` sends a signed-in reader: the first area their role may open (their preferences page if none)."""
    allowed = nav_for(principal)
    return allowed[0].path if allowed else "/preferences"
