"""Callback tokens: what a provider puts in the URL it calls back (SMS replies, receipts, returned mail).

A provider that can be given only a URL must carry its credential in it, and URLs end up in access logs
and provider consoles. So the URL carries a token that can do one thing: post callbacks for one channel.
A token is 256 random bits, shown once and stored as its SHA-256 in ``api_keys`` under the name
``callback:<channel>`` (so ``apikey list`` shows it and revocation is a row update). Its prefix ``tfcb_`` is
not an API key's ``tf_``: the API-key check refuses it on every other endpoint.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from touchflow.domain.errors import FieldError
from touchflow.domain.governance.account_ports import ApiKeyRecord
from touchflow.services.context import ServiceContext

__all__ = ["CALLBACK_PREFIX", "CallbackToken", "channel_of_callback_token", "create_callback_token",
           "list_callback_tokens", "revoke_callback_tokens"]

CALLBACK_PREFIX = "tfcb_"
_NAME_PREFIX = "callback:"


@dataclass(frozen=True)
class CallbackToken:
    id: str
    channel: str
    token: str  # shown once


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_callback_token(ctx: ServiceContext, channel: str, *, actor: str) -> CallbackToken:
    """A fresh token for ``channel`` (which must be configured); older tokens stay valid until revoked."""
    now = ctx.clock.now()
    token_id = secrets.token_hex(6)
    token = f"{CALLBACK_PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
    with ctx.uow() as uow:
        if channel not in {c.name for c in uow.guards.channel_configs()}:
            raise FieldError("channel", f"no channel {channel!r} is configured (touchflow channel set {channel} …)")
        uow.api_keys.add(ApiKeyRecord(token_id, _NAME_PREFIX + channel, _hash(token), now, None))
        uow.audit.record(actor, "callback_token.create", channel, {"token_id": token_id}, now)
        uow.commit()
    return CallbackToken(token_id, channel, token)


def list_callback_tokens(ctx: ServiceContext, channel: str | None = None) -> list[ApiKeyRecord]:
    with ctx.reader() as uow:
        return [r for r in uow.api_keys.all() if r.name.startswith(_NAME_PREFIX)
                and (channel is None or r.name == _NAME_PREFIX + channel)]


def revoke_callback_tokens(ctx: ServiceContext, channel: str, token_id: str | None = None, *,
                           actor: str) -> list[str]:
    """Revoke one token of ``channel`` (``token_id``) or all of them; the ids revoked, one audit row each."""
    now = ctx.clock.now()
    with ctx.uow() as uow:
        live = [r for r in uow.api_keys.all() if r.name == _NAME_PREFIX + channel and r.revoked_at is None
                and (token_id is None or r.id == token_id)]
        for record in live:
            uow.api_keys.revoke(record.id, now)
            uow.audit.record(actor, "callback_token.revoke", channel, {"token_id": record.id}, now)
        uow.commit()
    return [r.id for r in live]


def channel_of_callback_token(ctx: ServiceContext, token: str) -> str | None:
    """The channel a live callback token was made for, else None (not checked against a cache: a revoked
    token stops at once)."""
    if not token.startswith(CALLBACK_PREFIX):
        return None
    with ctx.reader() as uow:
        record = uow.api_keys.by_hash(_hash(token))
    if record is None or record.revoked_at is not None or not record.name.startswith(_NAME_PREFIX):
        return None
    return record.name[len(_NAME_PREFIX):]
