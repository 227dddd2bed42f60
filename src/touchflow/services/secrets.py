"""What a key rotation changes in the database: channel credentials re-sealed with the new key, and the
audit row saying who rotated, when, and which keys retire when (never a key itself)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from touchflow.domain.events import JSONValue
from touchflow.security.crypto import SecretBox, SecretError
from touchflow.services.accounts import reseal_totp_secrets
from touchflow.services.approval_files import reseal_artifacts
from touchflow.services.connectors import reseal_connector_secrets
from touchflow.services.context import ServiceContext
from touchflow.services.privacy_index import BLIND_INDEX_CONTEXT, BLIND_INDEX_KEY
from touchflow.services.sites import secret_context, setting_key, site_secrets

__all__ = ["Rotation", "record_key_created", "reseal_after_rotation"]


@dataclass(frozen=True)
class Rotation:
    new_key: str  # the new current key's id (a fingerprint, not the key)
    retiring: Mapping[str, datetime | None]  # older key id → when it stops being accepted
    resealed: tuple[str, ...]  # channels whose credentials were sealed again with the new key
    source: str
    unopened: tuple[str, ...] = ()  # channels whose credentials opened with no key of the ring: set them again


def reseal_after_rotation(ctx: ServiceContext, old: SecretBox, new: SecretBox, *, actor: str, new_key: str,
                          grace: timedelta, source: str, retiring: Mapping[str, datetime | None]) -> Rotation:
    """Re-seal every channel secret, every site's identify secret and every account's TOTP secret with the new
    key and audit the rotation, in one transaction.

    ``old`` opens with any key of the ring before the rotation, so a secret sealed with a key still in
    its grace period is carried over; after this, no stored credential needs a retiring key.
    """
    now = ctx.clock.now()
    resealed: list[JSONValue] = []
    unopened: list[JSONValue] = []
    with ctx.uow() as uow:
        for config in uow.guards.channel_configs():
            if not config.secret:
                continue
            context = f"channel:{config.name}"
            try:
                plain = old.open(config.secret, context)
            except SecretError:  # sealed with a key already gone: it did not open before the rotation either
                unopened.append(config.name)
                continue
            uow.guards.save_channel_config(replace(config, secret=new.seal(plain, context)))
            resealed.append(config.name)
        for key_id, doc in site_secrets(uow):  # the websites' identify secrets (services/sites.py)
            context = secret_context(key_id)
            try:
                plain = old.open(doc["identify_secret"], context)
            except SecretError:
                unopened.append(f"site:{doc.get('name', key_id)}")
                continue
            uow.guards.set_setting(setting_key(key_id), {**doc, "identify_secret": new.seal(plain, context)},
                                   actor, now)
            resealed.append(f"site:{doc.get('name', key_id)}")
        totp_done, totp_lost = reseal_totp_secrets(uow, old, new)  # accounts' second factors (services/accounts)
        blind = uow.guards.setting(BLIND_INDEX_KEY)  # the erasure tombstones' HMAC key (services/privacy_index.py)
        if blind and blind.get("sealed"):
            try:
                plain = old.open(str(blind["sealed"]), BLIND_INDEX_CONTEXT)
            except SecretError:
                unopened.append(BLIND_INDEX_KEY)
            else:
                uow.guards.set_setting(BLIND_INDEX_KEY, {"sealed": new.seal(plain, BLIND_INDEX_CONTEXT)}, actor, now)
                resealed.append(BLIND_INDEX_KEY)
        sealed_files, unopened_files = reseal_artifacts(uow, old, new)  # approved exports, keys awaiting pickup
        resealed.extend(sealed_files)
        unopened.extend(unopened_files)
        sealed_connectors, unopened_connectors = reseal_connector_secrets(uow, old, new)  # services/connectors.py
        resealed.extend(sealed_connectors)
        unopened.extend(unopened_connectors)
        uow.audit.record(actor, "secret.rotate", source, {
            "new_key": new_key, "grace_s": int(grace.total_seconds()), "resealed_channels": resealed,
            "unopened_channels": unopened, "resealed_totp_secrets": len(totp_done),
            "unopened_totp_secrets": [f"user:{u}" for u in totp_lost],
            "retiring": {k: v.isoformat() if v else None for k, v in retiring.items()}}, now)
        uow.commit()
    return Rotation(new_key, dict(retiring), tuple(str(r) for r in resealed), source,
                    tuple(str(u) for u in unopened))


def record_key_created(ctx: ServiceContext, *, actor: str, source: str, key_id: str) -> None:
    """The audit row of ``touchflow init`` making the database's first key (where it is, its id; never the key)."""
    now = ctx.clock.now()
    with ctx.uow() as uow:
        uow.audit.record(actor, "secret.create", source, {"key": key_id}, now)
        uow.commit()
