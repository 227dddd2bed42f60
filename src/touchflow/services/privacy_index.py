"""The blind index of erased identifiers: its key, and the one set-wise check every ingest batch makes.

The HMAC key is random, made at the first erasure, kept sealed with the database's key ring in a workspace
setting (``privacy.blind_index``) and re-sealed on rotation (``services/secrets.py``), so tombstones made before a
rotation still match after it. It is distinct from every sealing key: a digest reveals nothing about them.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Sequence

from touchflow.domain.contacts import ContactRecord
from touchflow.domain.governance.privacy import blind_indexer, erased_reason
from touchflow.domain.identities import Identity
from touchflow.domain.unit_of_work import UnitOfWork
from touchflow.security.crypto import SecretBox
from touchflow.services.context import ServiceContext

__all__ = ["BLIND_INDEX_CONTEXT", "BLIND_INDEX_KEY", "ERASED_PREFIX", "blind_key", "digests_of", "erased_records"]

BLIND_INDEX_KEY = "privacy.blind_index"
BLIND_INDEX_CONTEXT = "privacy:blind_index"
ERASED_PREFIX = erased_reason("")


class NoBlindIndexKey(RuntimeError):
    """Tombstones exist but this process cannot open the key ring: refusing beats resurrecting someone."""


def _box(ctx: ServiceContext) -> SecretBox:
    if ctx.secret_box is None:
        raise NoBlindIndexKey("the privacy blind index needs the database's secret key (touchflow init)")
    return ctx.secret_box()


def blind_key(ctx: ServiceContext, uow: UnitOfWork, *, create: bool) -> bytes | None:
    """The HMAC key, made (and sealed) in this transaction when ``create`` and there is none yet."""
    stored = uow.guards.lock_setting(BLIND_INDEX_KEY) if create else uow.guards.setting(BLIND_INDEX_KEY)
    if stored and stored.get("sealed"):
        opened = _box(ctx).open(str(stored["sealed"]), BLIND_INDEX_CONTEXT)
        return base64.urlsafe_b64decode(str(opened["key"]))
    if not create:
        return None
    key = os.urandom(32)
    sealed = _box(ctx).seal({"key": base64.urlsafe_b64encode(key).decode()}, BLIND_INDEX_CONTEXT)
    uow.guards.set_setting(BLIND_INDEX_KEY, {"sealed": sealed}, "touchflow", ctx.clock.now())
    return key


def digests_of(key: bytes, identities: Sequence[Identity]) -> list[tuple[str, str]]:
    """(digest, kind) of each identifier, normalised as stored (``Identity`` values are)."""
    index = blind_indexer(key)
    return [(index(i.kind, i.value), i.kind) for i in identities]


def erased_records(ctx: ServiceContext, uow: UnitOfWork, records: Sequence[ContactRecord]) -> dict[int, str]:
    """Position -> reject reason of each record carrying an erased identifier: one query for the batch (none at
    all while nothing was ever erased)."""
    if not records or not uow.privacy.has_tombstones():
        return {}
    key = blind_key(ctx, uow, create=False)
    if key is None:
        raise NoBlindIndexKey("erasure tombstones exist but their blind-index key is missing")
    index = blind_indexer(key)
    per_record = [[(index(i.kind, i.value), i.kind) for i in r.identities] for r in records]
    found = uow.privacy.tombstoned({d for digests in per_record for d, _ in digests})
    if not found:
        return {}
    rejected: dict[int, str] = {}
    for position, digests in enumerate(per_record):
        hit = next((found[d] for d, _ in digests if d in found), None)
        if hit is not None:
            rejected[position] = erased_reason(hit)
    return rejected
