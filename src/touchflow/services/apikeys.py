"""API keys: shown once, stored as a SHA-256 hash (they are long random secrets, so no slow hash)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from touchflow.domain.errors import FieldError
from touchflow.domain.ports import ApiKeyRecord
from touchflow.services.context import ServiceContext

__all__ = ["SITE_KEY_PREFIX", "IssuedKey", "authenticate_api_key", "create_api_key", "list_api_keys", "new_key",
           "revoke_api_key"]

_PREFIX = "tf_"
SITE_KEY_PREFIX = "site:"  # public keys of the website snippet: made only by ``touchflow site create``


@dataclass(frozen=True)
class IssuedKey:
    id: str
    name: str
    secret: str  # the only time the full key exists outside the caller's hands


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_key(name: str, now: datetime) -> tuple[ApiKeyRecord, str]:
    """A fresh key: the record to store and the secret to show once."""
    key_id = secrets.token_hex(6)
    secret = f"{_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    return ApiKeyRecord(key_id, name, _hash(secret), now, None), secret


def create_api_key(ctx: ServiceContext, name: str, *, actor: str) -> IssuedKey:
    if name.strip().lower().startswith(SITE_KEY_PREFIX):
        raise FieldError("name", "site:… keys belong to a site: make one with `touchflow site create NAME --origin "
                                 "https://…` (it also sets the allowed origins and the identify secret)")
    now = ctx.clock.now()
    record, secret = new_key(name, now)
    key_id = record.id
    with ctx.uow() as uow:
        uow.api_keys.add(record)
        uow.audit.record(actor, "apikey.create", key_id, {"name": name}, now)
        uow.commit()
    return IssuedKey(key_id, name, secret)


def authenticate_api_key(ctx: ServiceContext, secret: str) -> ApiKeyRecord | None:
    """The key's record when ``secret`` is a live key, else None."""
    if not secret.startswith(_PREFIX):
        return None
    with ctx.reader() as uow:
        record = uow.api_keys.by_hash(_hash(secret))
    if record is None or record.revoked_at is not None:
        return None
    return record


def list_api_keys(ctx: ServiceContext) -> list[ApiKeyRecord]:
    with ctx.reader() as uow:
        return uow.api_keys.all()


def revoke_api_key(ctx: ServiceContext, key_id: str, *, actor: str) -> bool:
    now = ctx.clock.now()
    with ctx.uow() as uow:
        done = uow.api_keys.revoke(key_id, now)
        if done:
            uow.audit.record(actor, "apikey.revoke", key_id, {}, now)
        uow.commit()
    return done
