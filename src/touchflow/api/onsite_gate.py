"""Who may call ``/v1/onsite`` and from where: site keys, the site's origins (CORS), and rate limits.

Order of checks on every keyed request: the caller's IP bucket (before any database work, so a script trying
keys is slowed first), the site key (cached like every API key), the browser's ``Origin`` against the site's
configured origins, then the site's own bucket. CORS headers name only the request's origin, and only when
the site lists it; there is no ``*``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from touchflow.api.auth import ApiKeyCache
from touchflow.api.rate_limit import RateLimit, TokenBuckets, retry_after
from touchflow.api.routes import json_response
from touchflow.security.crypto import SecretError
from touchflow.services.apikeys import SITE_KEY_PREFIX
from touchflow.services.context import ServiceContext
from touchflow.services.sites import Site, secret_context, site_of_key

__all__ = ["Admitted", "OnsiteGate", "OnsiteLimits", "SecretSealing", "problem"]

OpenSecret = Callable[[str, str], dict[str, Any]]


@runtime_checkable
class SecretSealing(Protocol):
    """What the gate needs of ``Application`` to open a site's identify secret."""

    def secret_box(self) -> Any: ...


@dataclass(frozen=True)
class OnsiteLimits:
    """Defaults sized for an office behind one NAT (hundreds of visitors polling every 30 s) and a busy site."""

    per_ip: RateLimit = field(default_factory=lambda: RateLimit(burst=120, per_second=10))
    per_site: RateLimit = field(default_factory=lambda: RateLimit(burst=3000, per_second=300))
    identify_cost: float = 10  # identify writes and is what an attacker would repeat: it weighs ten requests


@dataclass(frozen=True)
class Admitted:
    site: Site
    headers: dict[str, str]  # CORS for this request's origin


_CORS_BASE = {"Access-Control-Allow-Methods": "GET, POST, OPTIONS", "Access-Control-Max-Age": "600",
              "Access-Control-Allow-Headers": "Content-Type, X-API-Key", "Vary": "Origin"}


def problem(status: int, detail: str, headers: dict[str, str] | None = None, field_name: str | None = None,
            where: str = "query", reason: str | None = None) -> Response:
    errors = [{"field": field_name, "in": where, "reason": reason or detail}] if field_name else []
    return json_response({"detail": detail, "errors": errors}, status,
                         headers={**(headers or {"Vary": "Origin"}), "Cache-Control": "no-store"})


class OnsiteGate:
    def __init__(self, services: ServiceContext, api_keys: ApiKeyCache, limits: OnsiteLimits,
                 open_secret: OpenSecret | None, site_ttl: float = 30.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.services = services
        self.limits = limits
        self._keys = api_keys
        self._open = open_secret
        self._ttl = site_ttl
        self._monotonic = monotonic
        self._by_ip = TokenBuckets(limits.per_ip, monotonic)
        self._by_site = TokenBuckets(limits.per_site, monotonic)
        self._sites: dict[str, tuple[Site | None, float]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def client_ip(request: Request) -> str:
        """The peer address; behind a proxy run uvicorn with ``--forwarded-allow-ips`` so it is the visitor's."""
        return request.client.host if request.client else "unknown"

    def limit_ip(self, request: Request, cost: float = 1.0) -> Response | None:
        wait = self._by_ip.take(self.client_ip(request), cost)
        if wait is None:
            return None
        return problem(429, "too many requests from this address: slow down", {"Retry-After": retry_after(wait),
                                                                                  "Vary": "Origin"})

    async def site(self, key_id: str) -> Site | None:
        entry = self._sites.get(key_id)
        if entry is not None and entry[1] > self._monotonic():
            return entry[0]
        found = await run_in_threadpool(site_of_key, self.services, key_id)
        with self._lock:
            if len(self._sites) > 10_000:
                self._sites.clear()
            self._sites[key_id] = (found, self._monotonic() + self._ttl)
        return found

    async def site_for(self, secret: str) -> Site | None:
        record = await self._keys.authenticate(secret) if secret else None
        if record is None or not record.name.startswith(SITE_KEY_PREFIX):
            return None
        return await self.site(record.id)

    @staticmethod
    def cors(request: Request, site: Site | None) -> dict[str, str]:
        origin = request.headers.get("origin")
        if site is not None and origin is not None and origin in site.origins:
            return {**_CORS_BASE, "Access-Control-Allow-Origin": origin}
        return {"Vary": "Origin"}

    async def admit(self, request: Request, key: str | None, cost: float = 1.0) -> Admitted | Response:
        """The site this request speaks for, or the answer that refuses it."""
        refused = self.limit_ip(request, cost)
        if refused is not None:
            return refused
        secret = (key or request.headers.get("x-api-key") or "").strip()
        if not secret:
            return problem(401, "missing site key: pass ?key=<site key> (`touchflow site create NAME --origin "
                                "https://…` prints one)", field_name="key", reason="required")
        record = await self._keys.authenticate(secret)
        if record is None:
            return problem(401, "invalid or revoked site key", field_name="key", reason="invalid or revoked")
        if not record.name.startswith(SITE_KEY_PREFIX):
            return problem(403, "this key is not a site key: web pages are public, so the snippet takes only the "
                                "key of a site (`touchflow site create NAME --origin https://…`)",
                           field_name="key", reason="not a site key")
        site = await self.site(record.id)
        if site is None:
            return problem(403, "this site key has no site settings (made before sites had origins and an "
                                "identify secret): create the site with `touchflow site create`",
                           field_name="key", reason="no site settings")
        origin = request.headers.get("origin")
        if origin is not None and origin not in site.origins:
            return problem(403, f"origin {origin!r} is not one of this site's origins (touchflow site list)",
                           field_name="Origin", where="header", reason="not allowed for this site")
        headers = self.cors(request, site)
        wait = self._by_site.take(site.key_id, cost)
        if wait is not None:
            return problem(429, "this site is sending too many requests: slow down",
                           {**headers, "Retry-After": retry_after(wait)})
        return Admitted(site, headers)

    def identify_secret(self, site: Site) -> str | None:
        """The site's identify secret, opened with the server's sealing key; None when this server cannot (no key,
        or not the key it was sealed with)."""
        if self._open is None or site.sealed_secret is None:
            return None
        try:
            value = self._open(site.sealed_secret, secret_context(site.key_id)).get("identify_secret")
        except SecretError:
            return None
        return value if isinstance(value, str) else None
