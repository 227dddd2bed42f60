"""Every route declares the permission it needs (P2).

``@router.post(path, **permit("contacts.write"))`` adds the check and marks the operation in the OpenAPI
document (``x-permission``); a test walks that document and the app's routes and fails on any unmarked route,
then checks every route × role pair. Routes that take no account (the tracking pixel, the website snippet,
provider callbacks, health) say so and how they are protected instead: ``**public("site key")``. A handler
that needs to know who acts takes ``who: Acting`` (resolved once per request) and passes ``who.actor`` on.

Who the caller is comes from ``api/auth.authenticate`` (an API key, or a session cookie with its CSRF token).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, HTTPException
from starlette.routing import BaseRoute

from touchflow.api.auth import authenticate
from touchflow.domain.governance.permissions import PERMISSIONS
from touchflow.domain.governance.principals import Principal

__all__ = ["PERMISSION_MARK", "PUBLIC", "Acting", "current_principal", "permit", "public", "route_permission"]

PERMISSION_MARK = "x-permission"
PUBLIC = "public: "


async def current_principal(who: Annotated[Principal, Depends(authenticate)]) -> Principal:
    """The authenticated principal (401 without a credential, 403 for a cookie request without its CSRF token)."""
    return who


Acting = Annotated[Principal, Depends(current_principal)]


def permit(*permissions: str, openapi_extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Route-decorator keyword arguments: require every one of ``permissions`` (usually one) and document them
    as ``x-permission`` (``a+b`` when several), merged into ``openapi_extra`` — a route that documents a
    hand-read body passes it here instead of to the decorator."""
    unknown = [p for p in permissions if p not in PERMISSIONS]
    if not permissions or unknown:
        raise ValueError(f"unknown permission(s) {unknown!r}" if unknown else "name the permission a route needs")

    async def check(who: Acting) -> Principal:
        missing = [p for p in permissions if not who.can(p)]
        if missing:
            raise HTTPException(403, f"permission '{missing[0]}' is needed (your role: {who.role})")
        return who

    mark = "+".join(permissions)
    return {"dependencies": [Depends(check)], "openapi_extra": {**(openapi_extra or {}), PERMISSION_MARK: mark}}


def public(how: str, *, openapi_extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Route-decorator keyword arguments for a route no account reaches; ``how`` says what protects it."""
    if not how.strip():
        raise ValueError("say what protects a public route")
    return {"openapi_extra": {**(openapi_extra or {}), PERMISSION_MARK: PUBLIC + how}}


def route_permission(route: BaseRoute) -> str | None:
    """The permission a route declared (``public: …`` for public ones), or None when it declared nothing."""
    extra = getattr(route, "openapi_extra", None) or {}
    mark = extra.get(PERMISSION_MARK)
    return mark if isinstance(mark, str) else None
