"""Websites that carry the pop-up snippet (官网弹窗): a name, a public site key, the origins allowed to call
with it, and an identify secret that only the site's own backend holds.

Stored without a table of its own: the key is an ``api_keys`` row named ``site:<name>`` (hashed, like every
key) and the rest a ``workspace_settings`` row ``site:<key id>``. The identify secret is sealed by the
caller (``SecretBox.seal``, context ``site:<key id>``) before it reaches this module, as channel credentials
are; the site key and the identify secret are shown once, by :func:`create_site`, and never again.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from touchflow.domain.errors import FieldError
from touchflow.domain.unit_of_work import UnitOfWork
from touchflow.services.apikeys import SITE_KEY_PREFIX, new_key
from touchflow.services.context import ServiceContext

__all__ = ["IssuedSite", "Site", "create_site", "list_sites", "normalise_origin", "revoke_site", "secret_context",
           "setting_key", "site_of_key", "site_secrets"]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,59}")
_SECRET_PREFIX = "tfid_"
MAX_ORIGINS = 20

Seal = Callable[[dict[str, Any], str], str]


@dataclass(frozen=True)
class Site:
    key_id: str
    name: str
    origins: tuple[str, ...]
    sealed_secret: str | None  # None once revoked
    created_at: datetime
    revoked_at: datetime | None

    @property
    def actor(self) -> str:
        """Who acts when a request carries this site's key (audit rows)."""
        return f"{SITE_KEY_PREFIX}{self.name}"


@dataclass(frozen=True)
class IssuedSite:
    site: Site
    site_key: str  # public: goes into the page's <script data-site-key>
    identify_secret: str  # private: the site backend signs identify tokens with it; shown once


def secret_context(key_id: str) -> str:
    """The associated data the identify secret is sealed under: a sealed secret copied to another site
    does not open."""
    return f"site:{key_id}"


def _setting_key(key_id: str) -> str:
    return f"site:{key_id}"


def normalise_origin(text: str) -> str:
    """``https://www.example.cn`` as a browser sends it in ``Origin``: scheme and host lower-case, the host in
    IDNA (punycode), no default port, no path; refused: ``*``, other schemes, paths, user info."""
    raw = text.strip()
    if raw in ("*", "null"):
        raise FieldError("origin", f"{raw!r} is not allowed: list each site origin, e.g. https://www.example.cn")
    parts = urlsplit(raw)
    if parts.scheme.lower() not in ("http", "https"):
        raise FieldError("origin", f"{text!r}: must start with https:// (or http://)")
    if parts.username is not None or parts.password is not None:
        raise FieldError("origin", f"{text!r}: must not carry a user name or password")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise FieldError("origin", f"{text!r}: an origin is scheme://host[:port], without a path")
    host = (parts.hostname or "").rstrip(".")
    if not host or "*" in host:
        raise FieldError("origin", f"{text!r}: needs a host name (no wildcards)")
    try:
        host = host.encode("idna").decode("ascii").lower()
        port = parts.port
    except (UnicodeError, ValueError) as exc:
        raise FieldError("origin", f"{text!r}: {exc}") from None
    scheme = parts.scheme.lower()
    if ":" in host:
        host = f"[{host}]"
    if port is None or (scheme, port) in (("http", 80), ("https", 443)):
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def _site(key_id: str, doc: dict[str, Any], created_at: datetime, revoked_at: datetime | None) -> Site:
    return Site(key_id, str(doc.get("name", "")), tuple(str(o) for o in doc.get("origins", ())),
                doc.get("identify_secret") if revoked_at is None else None, created_at, revoked_at)


def setting_key(key_id: str) -> str:
    return _setting_key(key_id)


def site_secrets(uow: UnitOfWork) -> list[tuple[str, dict[str, Any]]]:
    """Every live site's settings document that holds a sealed identify secret (for key rotation)."""
    found = []
    for key_id, _, _, revoked in _live_site_keys(uow):
        doc = uow.guards.setting(_setting_key(key_id))
        if revoked is None and doc and doc.get("identify_secret"):
            found.append((key_id, dict(doc)))
    return found


def _live_site_keys(uow: UnitOfWork) -> list[tuple[str, str, datetime, datetime | None]]:
    return [(k.id, k.name[len(SITE_KEY_PREFIX):], k.created_at, k.revoked_at) for k in uow.api_keys.all()
            if k.name.startswith(SITE_KEY_PREFIX)]


def create_site(ctx: ServiceContext, name: str, origins: Sequence[str], seal: Seal, *, actor: str) -> IssuedSite:
    """A new site with its site key and identify secret (both returned once). ``seal`` seals the secret."""
    name = name.strip()
    if not _NAME.fullmatch(name):
        raise FieldError("name", f"{name!r}: 1-60 letters, digits, dots, dashes or underscores "
                                 "(e.g. www.example.cn)")
    if not origins:
        raise FieldError("origin", "give at least one --origin (the site's https://host): browsers on other origins "
                                   "are refused, and there is no '*'")
    allowed = tuple(dict.fromkeys(normalise_origin(o) for o in origins))
    if len(allowed) > MAX_ORIGINS:
        raise FieldError("origin", f"at most {MAX_ORIGINS} origins per site")
    now = ctx.clock.now()
    record, site_key = new_key(f"{SITE_KEY_PREFIX}{name}", now)
    identify_secret = f"{_SECRET_PREFIX}{secrets.token_urlsafe(32)}"
    doc: dict[str, Any] = {"name": name, "origins": list(allowed), "created_at": now.isoformat(),
                           "identify_secret": seal({"identify_secret": identify_secret}, secret_context(record.id))}
    with ctx.uow() as uow:
        if any(n == name and revoked is None for _, n, _, revoked in _live_site_keys(uow)):
            raise FieldError("name", f"a live site named {name!r} exists: revoke it first, or pick another name")
        uow.api_keys.add(record)
        uow.guards.set_setting(_setting_key(record.id), doc, actor, now)
        uow.audit.record(actor, "site.create", record.id, {"name": name, "origins": list(allowed)}, now)
        uow.commit()
    return IssuedSite(_site(record.id, doc, now, None), site_key, identify_secret)


def list_sites(ctx: ServiceContext) -> list[Site]:
    with ctx.reader() as uow:
        return [_site(key_id, uow.guards.setting(_setting_key(key_id)) or {"name": name}, created, revoked)
                for key_id, name, created, revoked in _live_site_keys(uow)]


def site_of_key(ctx: ServiceContext, key_id: str) -> Site | None:
    """The live site a site key belongs to; None for a revoked one or an old ``site:`` key made before sites."""
    with ctx.reader() as uow:
        doc = uow.guards.setting(_setting_key(key_id))
    if not doc or doc.get("revoked_at") or not doc.get("identify_secret") or not doc.get("created_at"):
        return None
    return _site(key_id, doc, datetime.fromisoformat(str(doc["created_at"])), None)


def revoke_site(ctx: ServiceContext, name_or_key_id: str, *, actor: str) -> Site:
    """Revoke the live site with this name (or key id): its key stops working (within the key cache's 30 s) and
    its sealed identify secret is erased."""
    now = ctx.clock.now()
    with ctx.uow() as uow:
        found = [(k, n, c) for k, n, c, revoked in _live_site_keys(uow)
                 if revoked is None and name_or_key_id in (k, n)]
        if not found:
            raise LookupError(f"no live site {name_or_key_id!r} (see `touchflow site list`)")
        key_id, name, created = found[0]
        doc = dict(uow.guards.setting(_setting_key(key_id)) or {"name": name})
        doc.update({"identify_secret": None, "revoked_at": now.isoformat()})
        uow.api_keys.revoke(key_id, now)
        uow.guards.set_setting(_setting_key(key_id), doc, actor, now)
        uow.audit.record(actor, "site.revoke", key_id, {"name": name}, now)
        uow.commit()
    return _site(key_id, doc, created, now)
