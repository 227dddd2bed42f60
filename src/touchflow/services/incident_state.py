"""The incident kill switch as other services see it: exports and sending stop while it is on.

Kept apart from ``services/incidents.py`` so that exports (approvals) and privacy can ask without importing
the whole incident procedure."""

from __future__ import annotations

from touchflow.domain.governance.incidents import KILL_SWITCH_KEY, kill_switch_on
from touchflow.services.context import ServiceContext

__all__ = ["ExportsFrozen", "exports_frozen", "kill_switch_active"]


class ExportsFrozen(RuntimeError):
    def __init__(self) -> None:
        super().__init__("exports are frozen while a security incident is open (touchflow incident resume)")


def kill_switch_active(ctx: ServiceContext) -> bool:
    with ctx.reader() as uow:
        return kill_switch_on(uow.guards.setting(KILL_SWITCH_KEY))


def exports_frozen(ctx: ServiceContext) -> bool:
    """True while the kill switch is on: every export of personal data is refused (the approvals service
    checks this before running an approved export)."""
    return kill_switch_active(ctx)
