"""Identity rows with encryption on (ADR 0026): ``value`` holds the blind index, ``value_ct`` the ciphertext.

A row whose ``value_ct`` is NULL was written before encryption was enabled (or by a process that has not
seen the keys yet): its ``value`` is the plaintext, read as it is until ``touchflow keys rotate`` encrypts it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from touchflow.domain.ports import IdentityLink
from touchflow.security.pii import PiiCodec, PiiError

__all__ = ["identity_value", "sealed_identity_rows"]

_TABLE, _COLUMN = "contact_identities", "value"


def identity_row_key(kind: str, index: str) -> str:
    """What an identity ciphertext is bound to: its kind and blind index (not its contact: merges move it)."""
    return f"{kind}:{index}"


def identity_value(pii: PiiCodec | None, kind: str, value: str, value_ct: bytes | None) -> str:
    if value_ct is None:
        return value
    if pii is None:
        raise PiiError("this identity is encrypted but no data keys are loaded (encryption was enabled: "
                       "check the key ring)")
    return pii.decrypt(bytes(value_ct), _TABLE, _COLUMN, identity_row_key(kind, value))


def sealed_identity_rows(pii: PiiCodec, links: Sequence[IdentityLink]
                         ) -> list[tuple[str, str, str, str, datetime, bytes]]:
    rows: list[tuple[str, str, str, str, datetime, bytes]] = []
    for ln in links:
        kind, plain = ln.identity
        index = pii.index(kind, plain)
        rows.append((kind, index, ln.contact_id, ln.source, ln.at,
                     pii.encrypt(plain, _TABLE, _COLUMN, identity_row_key(kind, index))))
    return rows

