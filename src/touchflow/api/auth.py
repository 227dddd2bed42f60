"""Authentication for every ``/v1`` endpoint: an API key, or a browser session cookie with its CSRF token.

A key is sent as ``Authorization: Bearer <key>`` or ``X-API-Key: <key>`` and checked with
``authenticate_api_key``. Positive answers are cached in memory per process, keyed by the key's
SHA-256, for ``ttl`` seconds (default 30) so the ingest hot path does not query the database on
every request. Consequence, by design: a revoked key keeps working for at most ``ttl`` seconds in
a process that has just seen it. Unknown keys are never cached, so a new key works at once. The same
database read records the key's last use (at most once a minute: ``services.apikeys.LAST_USE_EVERY``).

What the caller may then do is ``api/permissions.py``'s business.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections.abc import Callable
from typing import Annotated
from urllib.parse import parse_qs, urlsplit

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from touchflow.domain.actors import Actor
from touchflow.domain.errors import FieldError
from touchflow.domain.governance.account_ports import ApiKeyRecord
from touchflow.domain.governance.permissions import permissions_of
from touchflow.domain.governance.principals import Principal
from touchflow.services.apikeys import authenticate_api_key
from touchflow.services.context import ServiceContext
from touchflow.services.sessions import SESSION_COOKIE, AuthenticatedSession, authenticate_session

__all__ = ["ApiKeyCache", "authenticate", "key_principal", "session_of"]

_MAX_ENTRIES = 10_000
_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <API key>")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="the API key itself")


class ApiKeyCache:
    """Live keys seen recently, by hash; entries expire after ``ttl`` seconds."""

    def __init__(self, services: ServiceContext, ttl: float = 30.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.services = services
        self._ttl = ttl
        self._monotonic = monotonic
        self._entries: dict[str, tuple[ApiKeyRecord, float]] = {}
        self._lock = threading.Lock()

    def cached(self, secret: str) -> ApiKeyRecord | None:
        entry = self._entries.get(_digest(secret))
        if entry is None or entry[1] <= self._monotonic():
            return None
        return entry[0]

    def remember(self, secret: str, record: ApiKeyRecord) -> None:
        if self._ttl <= 0:
            return
        with self._lock:
            if len(self._entries) >= _MAX_ENTRIES:
                now = self._monotonic()
                self._entries = {k: v for k, v in self._entries.items() if v[1] > now}
                if len(self._entries) >= _MAX_ENTRIES:
                    self._entries.clear()
            self._entries[_digest(secret)] = (record, self._monotonic() + self._ttl)

    async def authenticate(self, secret: str) -> ApiKeyRecord | None:
        record = self.cached(secret)
        if record is not None:
            return record
        record = await run_in_threadpool(authenticate_api_key, self.services, secret)
        if record is not None:
            self.remember(secret, record)
        return record


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


_CHALLENGE = {"WWW-Authenticate": "Bearer"}
_STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_FORM = "application/x-www-form-urlencoded"


def key_principal(record: ApiKeyRecord) -> Principal:
    """What a key may do: its role narrowed to its scopes. Site keys, callback tokens and keys with an unknown
    role get no permission at all (every ``permit`` route answers 403)."""
    try:
        granted = frozenset() if record.name.startswith("site:") else permissions_of(record.role, record.scopes)
    except FieldError:
        granted = frozenset()
    return Principal(Actor.api_key(record.id, record.name), record.role or "none", granted,
                     user_id=record.owner_user_id, key_id=record.id)


async def authenticate(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header_key: Annotated[str | None, Depends(_header)],
) -> Principal:
    """The caller: an API key (``Authorization: Bearer`` or ``X-API-Key``), else the session cookie.

    A key is never sent by a browser on its own, so only cookie requests need the CSRF check: a POST, PUT,
    PATCH or DELETE must echo the session's token (``X-CSRF-Token``, or a ``csrf_token`` form field), compared
    in constant time, and an ``Origin`` header, when sent, must name this server.

    The cookie is read here, not declared as an OpenAPI security scheme (ADR 0023)."""
    cookie = request.cookies.get(SESSION_COOKIE)
    secret = (bearer.credentials if bearer is not None else None) or header_key
    if secret and secret.strip():
        cache = request.app.state.api_keys
        assert isinstance(cache, ApiKeyCache)
        record = await cache.authenticate(secret.strip())
        if record is None:
            raise HTTPException(401, "invalid or revoked API key", headers=_CHALLENGE)
        if record.name.startswith("site:"):
            raise HTTPException(403, "a site key (site:…) only works for /v1/onsite: it is public in web pages")
        return key_principal(record)
    if cookie:
        return await _by_session(request, cookie)
    raise HTTPException(401, "missing API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>' "
                             "(create one with `touchflow apikey create NAME --role ROLE`)", headers=_CHALLENGE)


async def _by_session(request: Request, token: str) -> Principal:
    return (await session_of(request, token)).principal


async def session_of(request: Request, token: str) -> AuthenticatedSession:
    """The live session behind the cookie ``token``, CSRF- and Origin-checked for writes (the console needs its
    CSRF token for the pages it renders, so it asks for the whole session)."""
    cache = request.app.state.api_keys
    assert isinstance(cache, ApiKeyCache)
    session = await run_in_threadpool(authenticate_session, cache.services, token)
    if session is None:
        raise HTTPException(401, "the session has expired or was ended: sign in again", headers=_CHALLENGE)
    if request.method in _STATE_CHANGING:
        if not _same_origin(request):
            raise HTTPException(403, "cross-site request refused: the Origin header names another site")
        given = request.headers.get("x-csrf-token") or await _form_token(request)
        if not given or not hmac.compare_digest(given.encode(), session.csrf_token.encode()):
            raise HTTPException(403, "missing or wrong CSRF token: send the session's token as X-CSRF-Token")
    return session


def _same_origin(request: Request) -> bool:
    """No Origin header (same-origin GETs, some older browsers): nothing to compare, the token decides."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    host = request.headers.get("host", "")
    return bool(host) and urlsplit(origin).netloc.lower() == host.lower()


async def _form_token(request: Request) -> str | None:
    """``csrf_token`` of a urlencoded form body (the body stays readable by the route: Starlette keeps it)."""
    if not request.headers.get("content-type", "").lower().startswith(_FORM):
        return None
    body = await request.body()
    values = parse_qs(body.decode("utf-8", "replace")).get("csrf_token")
    return values[0] if values else None
