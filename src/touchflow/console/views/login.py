"""Signing in (P3): password, then a TOTP or recovery code (first time: enrol), and signing out.

Each step calls the same services as ``/v1/auth`` (``services/login.py``, ``services/sessions.py``) and sets the
same cookie (HttpOnly, Secure, SameSite=Lax). Login forms have no session yet, hence no CSRF token: a cross-site
post is refused by its ``Origin`` header, and the pending cookie is SameSite=Lax.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from touchflow.api.permissions import public
from touchflow.api.routes import api_state
from touchflow.console.forms import FormError, read_form
from touchflow.console.templating import render
from touchflow.domain.errors import FieldError
from touchflow.security.crypto import SecretBox, SecretError
from touchflow.services.login import (
    LoginRefused,
    LoginThrottled,
    WrongStage,
    begin_enrolment,
    login_password,
    verify_second_factor,
)
from touchflow.services.sessions import NoSession, logout

__all__ = ["router"]

router = APIRouter()
_COOKIE = {"httponly": True, "secure": True, "samesite": "lax", "path": "/"}
_LOGIN = public("the login form: no account yet (Origin-checked; throttled per account and address)")
_PENDING = public("login steps: the pending session cookie of the password step (Origin-checked)")
_NO_STORE = {"Cache-Control": "no-store"}


def _next(value: str | None) -> str:
    """Only a path on this site (no scheme, no host, no ``//``): a login link cannot send people elsewhere."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value or urlsplit(value).netloc:
        return "/"
    return value


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    return origin is None or urlsplit(origin).netloc.lower() == request.headers.get("host", "").lower()


def _client(request: Request) -> tuple[str | None, str | None]:
    return (request.client.host if request.client else None), request.headers.get("user-agent")


def _go(target: str, token: str | None = None) -> Response:
    response = RedirectResponse(target, status_code=303, headers=_NO_STORE)
    if token is not None:
        response.set_cookie("touchflow_session", token, **_COOKIE)  # type: ignore[arg-type]
    return response


def _page(request: Request, template: str, status: int = 200, **values: Any) -> Response:
    return render(request, None, template, values, status_code=status)


async def _form(request: Request) -> dict[str, str] | Response:
    if not _same_origin(request):
        return _page(request, "login.html", 403, error="cross_site", next=_next(None))
    try:
        return await read_form(request)
    except FormError as exc:
        return _page(request, "login.html", 422, error="form", detail=str(exc), next=_next(None))


def _box(request: Request) -> SecretBox | None:
    opener = getattr(request.app.state, "auth_box", None)
    if opener is None:
        return None
    try:
        box = opener()
    except SecretError:
        return None
    return box if isinstance(box, SecretBox) else None


async def _second_step(request: Request) -> tuple[dict[str, str], str, SecretBox] | Response:
    """The form of a step after the password (verify, enrol), where to go after it, and the key box that opens
    second factors; or the page that says why the step cannot go on."""
    form = await _form(request)
    if isinstance(form, Response):
        return form
    after = _next(form.get("next"))
    box = _box(request)
    if box is None:
        return _page(request, "login.html", 503, error="no_key", next=after)
    return form, after, box


def _expired(after: str) -> Response:
    """Back to the password step: the pending session ended (or never was)."""
    return _go(f"/login?next={quote(after, safe='/')}&expired=1")


@router.get("/login", include_in_schema=False, **_LOGIN)
async def login_form(request: Request, next: str | None = None, expired: str | None = None) -> Response:
    return _page(request, "login.html", next=_next(next), expired=expired == "1")


@router.post("/login", include_in_schema=False, **_LOGIN)
async def login_submit(request: Request) -> Response:
    form = await _form(request)
    if isinstance(form, Response):
        return form
    state = api_state(request)
    ip, agent = _client(request)
    after = _next(form.get("next"))
    email = form.get("email", "")[:320]
    try:
        pending = await state.write(login_password, state.services, email, form.get("password", "")[:1024],
                                    ip=ip, user_agent=agent)
    except (FieldError, LoginRefused):
        return _page(request, "login.html", 401, error="refused", next=after, email=email)
    except LoginThrottled as exc:
        return _page(request, "login.html", 429, error="throttled", next=after, email=email,
                     seconds=int(exc.retry_after.total_seconds()) + 1)
    step = "/login/verify" if pending.stage == "password_ok" else "/login/enrol"
    return _go(f"{step}?next={quote(after, safe='/')}", pending.token)


@router.get("/login/verify", include_in_schema=False, **_PENDING)
async def verify_form(request: Request, next: str | None = None) -> Response:
    return _page(request, "login_code.html", next=_next(next))


@router.post("/login/verify", include_in_schema=False, **_PENDING)
async def verify_submit(request: Request) -> Response:
    step = await _second_step(request)
    if isinstance(step, Response):
        return step
    form, after, box = step
    state = api_state(request)
    ip, agent = _client(request)
    code = form.get("code", "").strip()[:40]
    try:
        active = await state.write(verify_second_factor, state.services, box,
                                   request.cookies.get("touchflow_session", ""), code, ip=ip, user_agent=agent)
    except (NoSession, WrongStage):
        return _expired(after)
    except (LoginRefused, FieldError):
        return _page(request, "login_code.html", 401, error="refused", next=after)
    except LoginThrottled as exc:
        return _page(request, "login_code.html", 429, error="throttled", next=after,
                     seconds=int(exc.retry_after.total_seconds()) + 1)
    return _go(after, active.token)


@router.get("/login/enrol", include_in_schema=False, **_PENDING)
async def enrol_intro(request: Request, next: str | None = None) -> Response:
    return _page(request, "login_enrol.html", next=_next(next), enrolment=None)


@router.post("/login/enrol", include_in_schema=False, **_PENDING)
async def enrol_start(request: Request) -> Response:
    """A new secret, QR code and recovery codes, shown once, with the code form that confirms them."""
    step = await _second_step(request)
    if isinstance(step, Response):
        return step
    _, after, box = step
    state = api_state(request)
    try:
        enrolment = await state.write(begin_enrolment, state.services, box,
                                      request.cookies.get("touchflow_session", ""))
    except NoSession:
        return _expired(after)
    except WrongStage:
        return _go(f"/login/verify?next={quote(after, safe='/')}")
    return _page(request, "login_enrol.html", next=after, enrolment=enrolment)


@router.post("/logout", include_in_schema=False,
             **public("the session cookie and its CSRF token (checked by services.sessions.logout)"))
async def logout_submit(request: Request) -> Response:
    try:
        form = await read_form(request)
    except FormError:
        form = {}
    token = request.cookies.get("touchflow_session", "")
    state = api_state(request)
    try:
        await state.write(logout, state.services, token, form.get("csrf_token") or request.headers.get("x-csrf-token"))
    except NoSession:
        pass  # already ended: signing out again is not an error
    except PermissionError:  # CsrfRefused: keep the session; a forged form must not sign people out
        return _page(request, "login.html", 403, error="cross_site", next="/")
    response = _go("/login")
    response.delete_cookie("touchflow_session", **_COOKIE)  # type: ignore[arg-type]
    return response
