"""Personal fields as stored when encryption is on (ADR 0026).

* Identity rows: ``value`` holds the blind index, ``value_ct`` the ciphertext, bound to kind and index.
* Contacts: ``name`` is NULL and ``name_ct`` holds the name, bound to the contact id.

A row whose ciphertext column is NULL was written before encryption was enabled (or by a process that had
not seen the keys yet): its plaintext column is read as it is until ``touchflow keys rotate`` encrypts it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from touchflow.domain.contact_ports import IdentityLink
from touchflow.domain.identities import Identity
from touchflow.security.pii import PiiCodec, PiiError

__all__ = ["NAME_AAD", "identity_label", "identity_row_key", "identity_value", "open_name", "seal_name",
           "sealed_identity_rows"]

_TABLE, _COLUMN = "contact_identities", "value"
NAME_AAD = ("contacts", "name")
_WHY = "processes re-read them every 30 s after `touchflow keys rotate` enabled encryption; if it persists, " \
       "check the key ring"


def identity_row_key(kind: str, index: str) -> str:
    """What an identity ciphertext is bound to: its kind and blind index (not its contact: merges move it)."""
    return f"{kind}:{index}"


def identity_label(pii: PiiCodec | None, identity: Identity) -> str:
    """How ``events.identity`` names an identifier: ``kind:value``, or ``kind:<blind index>`` when encrypted."""
    return str(identity) if pii is None else f"{identity.kind}:{pii.index(*identity)}"


def identity_value(pii: PiiCodec | None, kind: str, value: str, value_ct: bytes | None) -> str:
    if value_ct is None:
        return value
    if pii is None:
        raise PiiError(f"this identity is encrypted but this process has no data keys yet ({_WHY})")
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



def seal_name(pii: PiiCodec | None, contact_id: str, name: object) -> tuple[object, bytes | None]:
    """(name column, name_ct column) to store."""
    if pii is None or name is None:
        return name, None
    return None, pii.encrypt(str(name), *NAME_AAD, contact_id)


def open_name(pii: PiiCodec | None, contact_id: str, name: str | None, name_ct: bytes | None) -> str | None:
    if name_ct is None:
        return name
    if pii is None:
        raise PiiError(f"this name is encrypted but this process has no data keys yet ({_WHY})")
    return pii.decrypt(bytes(name_ct), *NAME_AAD, contact_id)
