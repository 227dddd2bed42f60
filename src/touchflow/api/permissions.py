"""Every route declares the permission it needs (P2).

``@router.post(path, **permit("contacts.write"))`` adds the check and marks the operation in the OpenAPI
document (``x-permission``); a test walks that document and fails on any unmarked route, then checks every
route × role pair. Routes that take no account (the tracking pixel, the website snippet, provider callbacks,
health) say so and how they are protected instead: ``**public("site key")``. A handler that needs to know who
acts takes ``who: Acting`` (resolved once per request).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, HTTPException

from touchflow.api.auth import Caller
from touchflow.domain.actors import Actor
from touchflow.domain.governance.permissions import PERMISSIONS
from touchflow.domain.governance.principals import Principal

__all__ = ["PERMISSION_MARK", "Acting", "current_principal", "permit", "public"]

PERMISSION_MARK = "x-permission"


async def current_principal(caller: Caller) -> Principal:
    """The authenticated principal. Until key owners land every API key acts as an administrator."""
    return Principal(Actor.api_key(caller.id, caller.name), "admin", frozenset(PERMISSIONS), key_id=caller.id)


Acting = Annotated[Principal, Depends(current_principal)]


def permit(permission: str) -> dict[str, Any]:
    """Route-decorator keyword arguments: require ``permission`` and document it."""
    if permission not in PERMISSIONS:
        raise ValueError(f"unknown permission {permission!r}")

    async def check(who: Acting) -> Principal:
        if not who.can(permission):
            raise HTTPException(403, f"permission '{permission}' is needed (your role: {who.role})")
        return who

    return {"dependencies": [Depends(check)], "openapi_extra": {PERMISSION_MARK: permission}}


def public(how: str) -> dict[str, Any]:
    """Route-decorator keyword arguments for a route no account reaches; ``how`` says what protects it."""
    return {"openapi_extra": {PERMISSION_MARK: f"public: {how}"}}
