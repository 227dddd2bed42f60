"""API keys: shown once, stored as a SHA-256 hash (they are long random secrets, so no slow hash).

A key belongs to a person (``owner_user_id``: it carries that person's role) or to a named service account
(``service_account``: it has a role of its own), and may be narrowed to a list of scopes (permissions inside
the role; never wider). Its last use is recorded at most once a minute (``LAST_USE_EVERY``), on the read the
API's key cache makes anyway when an entry is new or expired: no write per request.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from touchflow.domain.actors import Actor
from touchflow.domain.errors import FieldError
from touchflow.domain.events import JSONValue
from touchflow.domain.governance.account_ports import ApiKeyRecord
from touchflow.domain.governance.accounts import normalise_email
from touchflow.domain.governance.permissions import PERMISSIONS, permissions_of, role
from touchflow.services.context import ServiceContext

__all__ = ["EXPORT_PERMISSIONS", "LAST_USE_EVERY", "SITE_KEY_PREFIX", "IssuedKey", "KeySpec", "NeedsApproval",
           "OwnerAccount", "authenticate_api_key", "check_key_name", "check_key_spec", "create_api_key",
           "issue_api_key", "list_api_keys", "new_key", "owner_account", "revoke_api_key", "set_owner_role"]

log = logging.getLogger(__name__)
_PREFIX = "tf_"
SITE_KEY_PREFIX = "site:"  # public keys of the website snippet: made only by ``touchflow site create``
LAST_USE_EVERY = timedelta(minutes=1)
EXPORT_PERMISSIONS = frozenset({"contacts.export"})  # a key that can take personal data out needs approval


@dataclass(frozen=True)
class IssuedKey:
    id: str
    name: str
    secret: str  # the only time the full key exists outside the caller's hands
    role: str = "admin"
    scopes: frozenset[str] | None = None


@dataclass(frozen=True)
class KeySpec:
    """What a new key is for and what it may do. Exactly one owner: a person or a service account."""

    name: str
    role: str
    scopes: frozenset[str] | None = None
    owner_user_id: str | None = None
    service_account: str | None = None

    @property
    def permissions(self) -> frozenset[str]:
        return permissions_of(self.role, self.scopes)


@dataclass(frozen=True)
class OwnerAccount:
    user_id: str
    role: str | None  # None: the account's role is not known here (give --role)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_key(name: str, now: datetime, *, role_name: str = "") -> tuple[ApiKeyRecord, str]:
    """A fresh key: the record to store and the secret to show once. Site keys and callback tokens have no
    role (``""``): they never reach a ``/v1`` route."""
    key_id = secrets.token_hex(6)
    secret = f"{_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    return ApiKeyRecord(key_id, name, _hash(secret), now, None, role=role_name), secret


def owner_account(ctx: ServiceContext, email: str) -> OwnerAccount:
    """The enabled account a personal key belongs to, found by its email (FieldError("owner", …) otherwise)."""
    with ctx.reader() as uow:
        user = uow.accounts.user_by_email(normalise_email(email))
    if user is None or user.disabled_at is not None:
        raise FieldError("owner", f"no enabled account with email {email!r} (`touchflow user list`)")
    return OwnerAccount(user.id, user.role)


def check_key_name(name: str) -> str:
    """The name, stripped; FieldError for an empty, long or ``site:…`` name."""
    name = name.strip()
    if not name or len(name) > 100:
        raise FieldError("name", "1 to 100 characters")
    if name.lower().startswith(SITE_KEY_PREFIX):
        raise FieldError("name", "site:… keys belong to a site: make one with `touchflow site create NAME --origin "
                                 "https://…` (it also sets the allowed origins and the identify secret)")
    return name


def check_key_spec(spec: KeySpec) -> KeySpec:
    """The spec, cleaned; FieldError naming the field otherwise (also used by the approval of export keys)."""
    name = check_key_name(spec.name)
    granted = role(spec.role).permissions  # FieldError("role", …) for an unknown role
    if spec.scopes is not None:
        unknown = sorted(spec.scopes - set(PERMISSIONS))
        if unknown:
            raise FieldError("scope", f"unknown permission(s): {', '.join(unknown)}")
        outside = sorted(spec.scopes - granted)
        if outside:
            raise FieldError("scope", f"outside the role {spec.role}: {', '.join(outside)}")
        if not spec.scopes:
            raise FieldError("scope", "an empty scope list would allow nothing")
    if (spec.owner_user_id is None) == (spec.service_account is None):
        raise FieldError("owner", "a key belongs to one person (--owner) or one service account (--service)")
    if spec.service_account is not None and not 0 < len(spec.service_account.strip()) <= 100:
        raise FieldError("service", "1 to 100 characters")
    return replace(spec, name=name)


class NeedsApproval(FieldError):
    """A key that could take personal data out is a four-eyes request (``approval request-key``), not a key."""


def create_api_key(ctx: ServiceContext, spec: KeySpec | str, *, actor: Actor | str) -> IssuedKey:
    """Create a key for ``spec``; NeedsApproval when it could export personal data (P4: a second person
    approves it, `touchflow approval request-key`).

    A bare name (internal callers: tests, benchmarks, the demo) is an ``admin`` service-account key of that
    name, what every key was before keys had owners; no person asks for it, so no approval applies."""
    if isinstance(spec, str):
        return issue_api_key(ctx, check_key_spec(KeySpec(spec, "admin", service_account=spec.strip()[:100] or "-")),
                             actor=actor)
    spec = check_key_spec(spec)
    if spec.permissions & EXPORT_PERMISSIONS:
        raise NeedsApproval("scope", f"role {spec.role} can export personal data: such a key needs a second "
                                     f"person's approval — `touchflow approval request-key {spec.name} --reason …` "
                                     "(or give narrower --scope)")
    return issue_api_key(ctx, spec, actor=actor)


def issue_api_key(ctx: ServiceContext, spec: KeySpec, *, actor: Actor | str, note: str = "") -> IssuedKey:
    """Store the key and its audit row (one transaction); checks are ``create_api_key``'s."""
    now = ctx.clock.now()
    record, secret = new_key(spec.name, now, role_name=spec.role)
    record = replace(record, scopes=spec.scopes, owner_user_id=spec.owner_user_id,
                     service_account=spec.service_account)
    details: dict[str, JSONValue] = {"name": spec.name, "role": spec.role,
                                  "scopes": [*sorted(spec.scopes)] if spec.scopes is not None else None,
                                  "owner_user_id": spec.owner_user_id, "service_account": spec.service_account}
    if note:
        details["note"] = note
    with ctx.uow() as uow:
        uow.api_keys.add(record)
        uow.audit.record(Actor.of(actor).label, "apikey.create", record.id, details, now)
        uow.commit()
    return IssuedKey(record.id, spec.name, secret, spec.role, spec.scopes)


def authenticate_api_key(ctx: ServiceContext, secret: str) -> ApiKeyRecord | None:
    """The key's record when ``secret`` is a live key, else None; records its use (at most once a minute)."""
    if not secret.startswith(_PREFIX):
        return None
    with ctx.reader() as uow:
        record = uow.api_keys.by_hash(_hash(secret))
    if record is None or record.revoked_at is not None:
        return None
    now = ctx.clock.now()
    if record.last_used_at is None or now - record.last_used_at >= LAST_USE_EVERY:
        try:
            with ctx.uow() as uow:
                uow.api_keys.touch(record.id, now)
                uow.commit()
        except Exception:  # a busy database must not turn a valid key away: the next refresh tries again
            log.warning("could not record the last use of API key %s", record.id, exc_info=True)
            return record
        record = replace(record, last_used_at=now)
    return record


def list_api_keys(ctx: ServiceContext) -> list[ApiKeyRecord]:
    """Keys people and services call the API with (not site keys nor callback tokens: they have no role)."""
    with ctx.reader() as uow:
        return [k for k in uow.api_keys.all() if k.role]


def revoke_api_key(ctx: ServiceContext, key_id: str, *, actor: Actor | str) -> bool:
    now = ctx.clock.now()
    with ctx.uow() as uow:
        done = uow.api_keys.revoke(key_id, now)
        if done:
            uow.audit.record(Actor.of(actor).label, "apikey.revoke", key_id, {}, now)
        uow.commit()
    return done


def set_owner_role(ctx: ServiceContext, user_id: str, role_name: str) -> int:
    """Give every personal key of ``user_id`` the role ``role_name``; returns how many keys changed.

    The accounts work calls this in the same breath as changing the account's role (and on disabling an
    account it revokes the keys instead). Scopes stay: a scope the new role lacks simply grants nothing
    (``permissions_of`` intersects), so a demotion never leaves a key wider than its owner. Inside another
    transaction call ``uow.api_keys.set_owner_role(user_id, role)`` directly."""
    role(role_name)
    with ctx.uow() as uow:
        changed = uow.api_keys.set_owner_role(user_id, role_name)
        uow.commit()
    return changed
