"""Object-level reach (P2): an agent sees only the tasks assigned to them and the contacts of those tasks.

An agent is matched to tasks by their account id: ``task.assignee == principal.user_id`` (a session's
account, or the owner of a personal API key). Assignment rules and hand-offs must therefore name people by
account id (until the accounts work lands, the account id of a personal key is its owner's email). An agent
key without an owner (a service account) is assigned nothing and so sees nothing.
"""

from __future__ import annotations

from touchflow.domain.governance.principals import Principal

__all__ = ["NOBODY", "assignee_scope"]

NOBODY = ""  # an assignee value no task has: the scope of an agent without an account


def assignee_scope(principal: Principal) -> str | None:
    """None when the principal's permissions reach every object; else the assignee its reads are limited to."""
    if not principal.assigned_only:
        return None
    return principal.user_id or NOBODY
