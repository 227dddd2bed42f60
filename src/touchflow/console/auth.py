"""Who is looking at a console page, and what they may do there (P2, P3).

The console authenticates exactly like ``/v1`` (``api/auth.py``): the session cookie, its CSRF token on every
POST (a hidden ``csrf_token`` field in forms, the ``X-CSRF-Token`` header that ``<body hx-headers>`` adds to
every htmx request), or an API key. Each route declares its permission with ``allow("perm")``, the same
``x-permission`` mark ``permit`` writes, so tests/e2e/test_route_permissions.py walks console routes too.
What differs is the answer: no session → a redirect to the login page (htmx: ``HX-Redirect``), a missing
permission → an HTML 403 page, never JSON.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from touchflow.api.auth import authenticate, session_of
from touchflow.api.permissions import PERMISSION_MARK, public
from touchflow.api.routes import api_state
from touchflow.domain.governance.permissions import PERMISSIONS
from touchflow.domain.governance.preferences import Preferences
from touchflow.domain.governance.principals import Principal
from touchflow.services.context import ServiceContext
from touchflow.services.preferences import preferences_of
from touchflow.services.sessions import SESSION_COOKIE

__all__ = ["ConsoleUser", "Denied", "LoginNeeded", "Me", "allow", "console_user", "install_handlers", "services",
           "signed_in"]

_bearer = HTTPBearer(auto_error=False)
_header = APIKeyHeader(name="X-API-Key", auto_error=False)


@dataclass(frozen=True)
class ConsoleUser:
    principal: Principal
    csrf_token: str  # "" for an API key: a key needs no CSRF token
    preferences: Preferences

    def can(self, permission: str) -> bool:
        return self.principal.can(permission)


class LoginNeeded(Exception):
    """No live session: the reader goes to the login page and comes back to ``next_path`` after it."""

    def __init__(self, next_path: str, expired: bool) -> None:
        super().__init__(next_path)
        self.next_path = next_path
        self.expired = expired


class Denied(Exception):
    """The reader lacks the permission (or the CSRF token): an HTML 403 page."""

    def __init__(self, reason: str, user: ConsoleUser | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.user = user  # known when the session was fine and only the permission is missing


def services(request: Request) -> ServiceContext:
    return api_state(request).services


async def console_user(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header_key: Annotated[str | None, Depends(_header)],
) -> ConsoleUser:
    """The reader, resolved once per request (FastAPI caches a dependency within a request)."""
    cookie = request.cookies.get(SESSION_COOKIE)
    keyed = bool((bearer and bearer.credentials.strip()) or (header_key and header_key.strip()))
    wanted = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    try:
        if keyed or not cookie:
            principal, csrf = await authenticate(request, bearer, header_key), ""
        else:
            session = await session_of(request, cookie)
            principal, csrf = session.principal, session.csrf_token
    except HTTPException as exc:
        if exc.status_code == 401 and not keyed:
            raise LoginNeeded(wanted if request.method == "GET" else "/", expired=bool(cookie)) from None
        raise Denied(str(exc.detail)) from None
    prefs = await run_in_threadpool(preferences_of, services(request), principal.user_id)
    return ConsoleUser(principal, csrf, prefs)


Me = Annotated[ConsoleUser, Depends(console_user)]


def allow(*permissions: str) -> dict[str, Any]:
    """Route keyword arguments: the reader must hold every one of ``permissions`` (the ``x-permission`` mark).
    Console pages stay out of the OpenAPI document: they are HTML, not API."""
    unknown = [p for p in permissions if p not in PERMISSIONS]
    if not permissions or unknown:
        raise ValueError(f"unknown permission(s) {unknown!r}" if unknown else "name the permission a page needs")

    async def check(me: Me) -> ConsoleUser:
        missing = [p for p in permissions if not me.can(p)]
        if missing:
            raise Denied(f"permission '{missing[0]}' is needed (your role: {me.principal.role})", me)
        return me

    return {"dependencies": [Depends(check)], "include_in_schema": False,
            "openapi_extra": {PERMISSION_MARK: "+".join(permissions)}}


def install_handlers(app: FastAPI) -> None:
    app.add_exception_handler(LoginNeeded, _login_needed)
    app.add_exception_handler(Denied, _denied)


async def _login_needed(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginNeeded)
    target = f"/login?next={quote(exc.next_path, safe='/')}" + ("&expired=1" if exc.expired else "")
    if request.headers.get("hx-request") == "true":  # htmx would swap the login page into a fragment
        return Response(status_code=204, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


async def _denied(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Denied)
    from touchflow.console.templating import render  # the page machinery imports this module

    return render(request, exc.user, "denied.html", {"reason": exc.reason}, status_code=403)


def signed_in(why: str) -> dict[str, Any]:
    """Route keyword arguments for a page every signed-in person may open whatever their role (their own
    preferences, the redirect from ``/``): marked public for the permission test, yet it needs a session."""
    return {"include_in_schema": False, **public(f"any signed-in person (a session or key is required): {why}")}
