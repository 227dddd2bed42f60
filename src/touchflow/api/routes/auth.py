"""``/v1/auth``: people log in with a password and a TOTP code and get a session cookie (P3, ADR 0022).

``POST /login`` → a pending cookie; ``POST /enrol`` (first login only: secret, QR code, recovery codes, shown
once) → ``POST /verify`` with a code → a new, active cookie. ``GET /me`` answers who the cookie is, with the
CSRF token that ``POST /logout`` and ``/logout-all`` (and every state-changing request by cookie) must echo
in ``X-CSRF-Token``. The cookie is ``HttpOnly; Secure; SameSite=Lax; Path=/``: serve Touchflow over HTTPS.
Throttling uses the socket's peer address: behind a proxy, run uvicorn with ``--proxy-headers`` and
``--forwarded-allow-ips`` for the proxy so the client's address is what counts.
"""

from __future__ import annotations

from typing import Annotated, Any, Protocol, runtime_checkable

from fastapi import APIRouter, Cookie, FastAPI, Header, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from touchflow.api.permissions import public
from touchflow.api.routes import ApiError, api_state, json_response
from touchflow.api.schemas import ErrorOut
from touchflow.domain.errors import FieldError
from touchflow.domain.governance.permissions import role
from touchflow.security.crypto import SecretBox, SecretError
from touchflow.services.login import (
    LoginRefused,
    LoginThrottled,
    WrongStage,
    begin_enrolment,
    login_password,
    verify_second_factor,
)
from touchflow.services.sessions import (
    CSRF_HEADER,
    SESSION_COOKIE,
    CsrfRefused,
    NoSession,
    logout,
    logout_everywhere,
    session_account,
)

__all__ = ["install", "router"]

router = APIRouter(prefix="/v1/auth", tags=["auth"])
_PENDING = public("login flow: pending session cookie")
_SESSION = public("the session cookie; writes also need its X-CSRF-Token")
_NO_STORE = {"Cache-Control": "no-store"}
_THROTTLED: dict[int | str, dict[str, Any]] = {429: {
    "model": ErrorOut, "description": "too many failed attempts for this account or from this address; "
                                      "wait `Retry-After` seconds",
    "headers": {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}}}}
_STAGE: dict[int | str, dict[str, Any]] = {409: {"model": ErrorOut, "description": "not the step this login is at"}}

SessionCookie = Annotated[str | None, Cookie(alias=SESSION_COOKIE, max_length=200,
                                             description="the session token (set by /v1/auth/login)")]
CsrfHeader = Annotated[str | None, Header(alias=CSRF_HEADER, max_length=200,
                                          description="the session's csrf_token (GET /v1/auth/me)")]


@runtime_checkable
class SecretSealing(Protocol):
    def secret_box(self) -> SecretBox: ...


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str = Field(..., min_length=3, max_length=320)
    password: str = Field(..., min_length=1, max_length=1024)


class CodeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(..., min_length=6, max_length=40, description="6-digit TOTP code, or a recovery code")


def install(app: FastAPI, application: object) -> None:
    """Mount the router; TOTP secrets open with ``application.secret_box()`` (the database's key ring)."""
    app.state.auth_box = application.secret_box if isinstance(application, SecretSealing) else None
    app.include_router(router)


def _box(request: Request) -> SecretBox:
    opener = request.app.state.auth_box
    if opener is None:
        raise ApiError(503, "two-factor login needs the database's secret key: run `touchflow init`")
    try:
        box = opener()
    except SecretError as exc:
        raise ApiError(503, f"two-factor login needs the database's secret key: {exc}") from None
    assert isinstance(box, SecretBox)
    return box


def _client(request: Request) -> tuple[str | None, str | None]:
    return (request.client.host if request.client else None), request.headers.get("user-agent")


def _with_cookie(data: object, token: str) -> Response:
    response = json_response(data, headers=_NO_STORE)
    response.set_cookie(SESSION_COOKIE, token, httponly=True, secure=True, samesite="lax", path="/")
    return response


def _without_cookie(data: object) -> Response:
    response = json_response(data, headers=_NO_STORE)
    response.delete_cookie(SESSION_COOKIE, httponly=True, secure=True, samesite="lax", path="/")
    return response


def _throttled(exc: LoginThrottled) -> Response:
    seconds = int(exc.retry_after.total_seconds()) + 1
    return json_response({"detail": str(exc), "errors": []}, 429,
                         headers={"Retry-After": str(seconds), **_NO_STORE})


def _pending_token(token: str | None) -> str:
    if not token:
        raise ApiError(401, f"no pending login: POST /v1/auth/login first (cookie {SESSION_COOKIE})")
    return token


@router.post("/login", summary="Step 1: email and password → a pending session cookie", response_model=None,
             responses=_THROTTLED, **_PENDING)
async def login(request: Request, body: LoginIn) -> Response:
    state = api_state(request)
    ip, agent = _client(request)
    try:
        pending = await state.write(login_password, state.services, body.email, body.password, ip=ip,
                                    user_agent=agent)
    except FieldError as exc:
        raise ApiError(422, str(exc), [{"field": exc.field, "in": "body", "reason": exc.reason}]) from None
    except LoginRefused as exc:
        raise ApiError(401, str(exc)) from None
    except LoginThrottled as exc:
        return _throttled(exc)
    following = "/v1/auth/verify" if pending.stage == "password_ok" else "/v1/auth/enrol"
    return _with_cookie({"stage": pending.stage, "next": following}, pending.token)


@router.post("/enrol", summary="First login: a new TOTP secret, its QR code and recovery codes (shown once)",
             response_model=None, responses=_STAGE, **_PENDING)
async def enrol(request: Request, token: SessionCookie = None) -> Response:
    state = api_state(request)
    box = _box(request)
    try:
        enrolment = await state.write(begin_enrolment, state.services, box, _pending_token(token))
    except NoSession as exc:
        raise ApiError(401, str(exc)) from None
    except WrongStage as exc:
        raise ApiError(409, str(exc)) from None
    return json_response({"secret": enrolment.secret, "provisioning_uri": enrolment.provisioning_uri,
                          "qr_svg": enrolment.qr_svg, "recovery_codes": list(enrolment.recovery_codes),
                          "next": "/v1/auth/verify"}, headers=_NO_STORE)


@router.post("/verify", summary="Step 2: a TOTP code (or a recovery code) → an active session cookie",
             response_model=None, responses={**_STAGE, **_THROTTLED}, **_PENDING)
async def verify(request: Request, body: CodeIn, token: SessionCookie = None) -> Response:
    state = api_state(request)
    box = _box(request)
    ip, agent = _client(request)
    try:
        active = await state.write(verify_second_factor, state.services, box, _pending_token(token), body.code,
                                   ip=ip, user_agent=agent)
    except NoSession as exc:
        raise ApiError(401, str(exc)) from None
    except WrongStage as exc:
        raise ApiError(409, str(exc)) from None
    except LoginRefused as exc:
        raise ApiError(401, str(exc)) from None
    except LoginThrottled as exc:
        return _throttled(exc)
    who = active.principal
    return _with_cookie({"user_id": who.user_id, "display_name": who.actor.name, "role": who.role,
                         "permissions": sorted(who.permissions), "csrf_token": active.session.csrf_token},
                        active.token)


@router.get("/me", summary="Who the session cookie is: name, role, permissions and the CSRF token",
            response_model=None, **_SESSION)
async def me(request: Request, token: SessionCookie = None) -> Response:
    found = await run_in_threadpool(session_account, api_state(request).services, token or "") if token else None
    if found is None:
        raise ApiError(401, "not logged in (or the session ended): POST /v1/auth/login")
    session, user = found
    titles = role(user.role)
    return json_response({
        "user_id": user.id, "email": user.email, "display_name": user.display_name, "role": user.role,
        "role_title": {"zh": titles.zh, "en": titles.en}, "permissions": sorted(session.principal.permissions),
        "locale": user.locale, "time_zone": user.time_zone, "csrf_token": session.csrf_token}, headers=_NO_STORE)


async def _end(request: Request, token: str | None, csrf: str | None, everywhere: bool) -> Response:
    if not token:
        raise ApiError(401, "not logged in")
    state = api_state(request)
    try:
        if everywhere:
            ended = await state.write(logout_everywhere, state.services, token, csrf)
        else:
            await state.write(logout, state.services, token, csrf)
            ended = 1
    except NoSession as exc:
        raise ApiError(401, str(exc)) from None
    except CsrfRefused as exc:
        raise ApiError(403, str(exc), [{"field": CSRF_HEADER, "in": "header", "reason": "missing or wrong"}]) \
            from None
    return _without_cookie({"sessions_ended": ended})


@router.post("/logout", summary="End this session", response_model=None, **_SESSION)
async def logout_here(request: Request, token: SessionCookie = None, csrf: CsrfHeader = None) -> Response:
    return await _end(request, token, csrf, everywhere=False)


@router.post("/logout-all", summary="End every session of this account", response_model=None, **_SESSION)
async def logout_all(request: Request, token: SessionCookie = None, csrf: CsrfHeader = None) -> Response:
    return await _end(request, token, csrf, everywhere=True)
