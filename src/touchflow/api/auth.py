"""API-key authentication for every ``/v1`` endpoint.

A key is sent as ``Authorization: Bearer <key>`` or ``X-API-Key: <key>`` and checked with
``authenticate_api_key``. Positive answers are cached in memory per process, keyed by the key's
SHA-256, for ``ttl`` seconds (default 30) so the ingest hot path does not query the database on
every request. Consequence, by design: a revoked key keeps working for at most ``ttl`` seconds in
a process that has just seen it. Unknown keys are never cached, so a new key works at once.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from touchflow.domain.ports import ApiKeyRecord
from touchflow.services.apikeys import authenticate_api_key
from touchflow.services.context import ServiceContext

__all__ = ["ApiKeyCache", "Caller", "require_api_key"]

_MAX_ENTRIES = 10_000
_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <API key>")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="the API key itself")


class ApiKeyCache:
    """Live keys seen recently, by hash; entries expire after ``ttl`` seconds."""

    def __init__(self, services: ServiceContext, ttl: float = 30.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._services = services
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
        record = await run_in_threadpool(authenticate_api_key, self._services, secret)
        if record is not None:
            self.remember(secret, record)
        return record


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


_CHALLENGE = {"WWW-Authenticate": "Bearer"}


async def require_api_key(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header_key: Annotated[str | None, Depends(_header)],
) -> ApiKeyRecord:
    secret = (bearer.credentials if bearer is not None else None) or header_key
    if not secret or not secret.strip():
        raise HTTPException(401, "missing API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>' "
                                 "(create one with `touchflow apikey create NAME`)", headers=_CHALLENGE)
    cache = request.app.state.api_keys
    assert isinstance(cache, ApiKeyCache)
    record = await cache.authenticate(secret.strip())
    if record is None:
        raise HTTPException(401, "invalid or revoked API key", headers=_CHALLENGE)
    if record.name.startswith("site:"):
        raise HTTPException(403, "a site key (site:…) only works for /v1/onsite: it is public in web pages")
    return record


Caller = Annotated[ApiKeyRecord, Depends(require_api_key)]
