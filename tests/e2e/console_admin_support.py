"""Small helpers the console's administration tests share: who the audit log says did an action."""

from __future__ import annotations

from touchflow.bootstrap import Application
from touchflow.domain.governance.audit_ports import AuditQuery


def audit_actors(app: Application, action: str) -> list[str]:
    """The actor of every audit row of ``action``, oldest first."""
    with app.services.reader() as uow:
        return [row.actor for row in uow.audit.search(AuditQuery(action=action), 1000)]
