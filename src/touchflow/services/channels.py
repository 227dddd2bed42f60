"""Channel configuration (which provider adapter carries a channel, its settings, rate and concurrency), and
the read side operators need next to it: the suppression list and the guardrail policy in force.

Credentials arrive already sealed (``SecretBox.seal(secret, f"channel:{name}")`` in the composition root or
the CLI), so this layer never sees a password; listings say only whether a secret is set.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from touchflow.domain.channel_names import canonical_channel
from touchflow.domain.errors import FieldError
from touchflow.domain.guardrails.model import ADDRESS_KIND, GuardrailPolicy
from touchflow.domain.guardrails.ports import ChannelConfig, Suppression
from touchflow.domain.identities import make_identity
from touchflow.services.context import ServiceContext
from touchflow.services.guarding import guardrail_policy

__all__ = [
    "KNOWN_KINDS",
    "ChannelSummary",
    "current_guardrail_policy",
    "list_channels",
    "list_suppressions",
    "normalise_address",
    "save_channel",
]

# The adapters the platform ships (``engine.channel_registry`` builds the ones it knows).
KNOWN_KINDS = frozenset({"smtp", "sms_http", "sms_aliyun", "sms_tencent", "wecom_staff", "wecom_customer",
                         "wechat_mp", "webhook", "capture"})
_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
_SECRET_WORDS = ("password", "secret", "token", "key")


@dataclass(frozen=True)
class ChannelSummary:
    name: str
    kind: str
    settings: Mapping[str, Any]
    has_secret: bool
    rate_per_s: float | None
    concurrency: int
    enabled: bool
    updated_at: str


def _summary(config: ChannelConfig) -> ChannelSummary:
    return ChannelSummary(config.name, config.kind, dict(config.settings), bool(config.secret), config.rate_per_s,
                          config.concurrency, config.enabled, config.updated_at.isoformat())


def save_channel(ctx: ServiceContext, name: str, kind: str, settings: Mapping[str, Any], sealed_secret: str | None,
                 rate_per_s: float | None, concurrency: int, enabled: bool, *, actor: str,
                 known_kinds: Collection[str] = KNOWN_KINDS, keep_secret: bool = True) -> ChannelSummary:
    """Create or replace one channel's configuration, with an audit row (settings, never the secret).

    ``sealed_secret`` None with ``keep_secret`` keeps the stored one, so changing a rate does not need the
    password again. A setting whose name looks like a credential is refused: it belongs in the secret.
    """
    name = canonical_channel(name)  # wechat_mp is saved as wechat (the CLI warns)
    if not _NAME.fullmatch(name):
        raise FieldError("name", f"{name!r}: lower-case letters, digits and _, starting with a letter")
    if kind not in known_kinds:
        raise FieldError("kind", f"unknown kind {kind!r} (known: {', '.join(sorted(known_kinds))})")
    for key in settings:
        if any(word in key.lower() for word in _SECRET_WORDS):
            raise FieldError(f"settings.{key}", "looks like a credential: pass it as a secret, which is sealed")
    if rate_per_s is not None and rate_per_s <= 0:
        raise FieldError("rate_per_s", f"must be > 0 (or unset for no limit), got {rate_per_s}")
    if concurrency < 1:
        raise FieldError("concurrency", f"must be ≥ 1, got {concurrency}")
    if sealed_secret is not None and not sealed_secret.startswith("v1."):
        raise FieldError("secret", "must be sealed (SecretBox.seal) before it is stored")
    now = ctx.clock.now()
    with ctx.uow() as uow:
        current = {c.name: c for c in uow.guards.channel_configs()}.get(name)
        secret = sealed_secret if sealed_secret is not None or not keep_secret else (
            current.secret if current is not None else None)
        config = ChannelConfig(name, kind, dict(settings), secret, rate_per_s, concurrency, enabled, now)
        uow.guards.save_channel_config(config)
        uow.audit.record(actor, "channel.save", name, {
            "kind": kind, "settings": {str(k): str(v) for k, v in settings.items()}, "rate_per_s": rate_per_s,
            "concurrency": concurrency, "enabled": enabled, "secret_changed": sealed_secret is not None,
            "created": current is None}, now,
            # the stored configuration as it was and is (the sealed secret's digest shows only that it changed)
            before=None if current is None else _state(current), after=_state(config))
        uow.commit()
    return _summary(config)


def _state(config: ChannelConfig) -> dict[str, Any]:
    return {"kind": config.kind, "settings": dict(config.settings), "secret": config.secret,
            "rate_per_s": config.rate_per_s, "concurrency": config.concurrency, "enabled": config.enabled}


def list_channels(ctx: ServiceContext) -> list[ChannelSummary]:
    """Every configured channel; secrets are never returned, only whether one is set."""
    with ctx.reader() as uow:
        return [_summary(c) for c in uow.guards.channel_configs()]


def list_suppressions(ctx: ServiceContext, channel: str | None = None, limit: int = 100) -> list[Suppression]:
    """The newest suppressions first."""
    with ctx.reader() as uow:
        return uow.guards.suppressions(channel, max(1, min(limit, 10_000)))


def normalise_address(channel: str, address: str) -> str:
    """An address as suppressions store it: emails lower-cased, phones in E.164 (FieldError when unusable)."""
    kind = ADDRESS_KIND.get(channel)
    return make_identity(kind, address).value if kind in ("email", "phone") else address.strip()


def current_guardrail_policy(ctx: ServiceContext) -> GuardrailPolicy:
    with ctx.reader() as uow:
        return guardrail_policy(uow)
