"""Claiming new identities on PostgreSQL when concurrent writers may bring the same ones (ADR 0060).

Two transactions that ingest events of the same new person each create a contact and insert its identities.
The second one's insert waits on the first one's uncommitted key; a plain insert then fails with a unique
violation once the first commits, and two transactions inserting overlapping keys in different orders
deadlock. Here every transaction inserts in one order, the key's, and ``ON CONFLICT DO NOTHING`` turns a key
taken meanwhile into a row not inserted: the caller then looks the identities up again and joins the contact
the other transaction created (``services/resolve.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from touchflow.domain.contact_ports import IdentityLink
from touchflow.security.pii import PiiCodec
from touchflow.store.pii_fields import sealed_identity_rows

__all__ = ["IdentityRow", "claim_identities", "identity_rows"]

# (kind, value, contact_id, source, created_at, value_ct): value is the blind index when value_ct is set
IdentityRow = tuple[str, str, str, str, datetime, bytes | None]

_CHUNK = 5000
# One statement per chunk: the rows go in sorted by the primary key, so two writers meet on their first
# shared key, never each holding a key the other waits for.
_CLAIM_SQL = ("INSERT INTO contact_identities (kind, value, contact_id, source, created_at, value_ct) "
              "SELECT * FROM unnest(%s::varchar[], %s::varchar[], %s::varchar[], %s::varchar[], "
              "%s::timestamptz[], %s::bytea[]) ORDER BY 1, 2 ON CONFLICT DO NOTHING RETURNING 1")


def identity_rows(pii: PiiCodec | None, links: Sequence[IdentityLink]) -> list[IdentityRow]:
    """The rows to store: with encryption on, the blind index and the ciphertext (ADR 0026)."""
    if pii is not None:
        return [*sealed_identity_rows(pii, links)]
    return [(ln.identity.kind, ln.identity.value, ln.contact_id, ln.source, ln.at, None) for ln in links]


def claim_identities(connection: Connection, rows: Sequence[IdentityRow]) -> bool:
    """PostgreSQL: insert ``rows`` in key order, skipping keys a concurrent transaction committed first (it was
    waited for). True when every row was inserted; False when one was taken, so the caller's view is stale."""
    by_key = {(r[0], r[1]): r for r in rows}
    ordered = [by_key[key] for key in sorted(by_key)]
    inserted = 0
    for start in range(0, len(ordered), _CHUNK):
        chunk = ordered[start:start + _CHUNK]
        columns: list[list[Any]] = [list(c) for c in zip(*chunk, strict=True)]
        result = connection.exec_driver_sql(_CLAIM_SQL, tuple(columns))
        inserted += len(result.fetchall())
    return inserted == len(ordered)
