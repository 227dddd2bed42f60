"""The built-in approval kinds (P4). Importing this module registers them (``services.approvals`` does, on first
use of the registry)."""

from __future__ import annotations

import importlib
from typing import Any

from touchflow.domain.governance.approvals import ApprovalRequest
from touchflow.services.approvals import register_kind
from touchflow.services.context import ServiceContext

__all__ = ["execute_role_admin"]


def execute_role_admin(ctx: ServiceContext, request: ApprovalRequest) -> dict[str, Any]:
    """Make an account an administrator through the accounts service (``services.accounts.set_role``, from the
    accounts area: imported here lazily, wired by the integrator)."""
    accounts = importlib.import_module("touchflow.services.accounts")
    set_role = getattr(accounts, "set_role", None)
    if set_role is None:
        raise RuntimeError("services.accounts.set_role is not available in this build")
    user = str(request.payload.get("user_id") or request.payload.get("user_email") or "")
    result = set_role(ctx, user, "admin", actor=f"approval:{request.id} ({request.decided_by_label})")
    return {"user": user, "role": "admin", "result": str(result) if result is not None else None}


register_kind("role_admin", permission="users.manage", label_zh="设为管理员", label_en="role change to administrator",
              execute=execute_role_admin)
