"""Deleting contacts for good (an approved bulk deletion, P4): every row that names them, then the contacts.

Tables are found by their ``contact_id`` column, children before parents (reverse of the foreign-key order),
so a table added later is covered without touching this file; ``_KEEP`` lists the ones that must outlive a
contact. Contacts merged into a deleted one (the same person) go too, with the merge records that name them.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import Connection, delete, or_, select

from touchflow.store.tables import contact_merges, contacts, metadata

__all__ = ["SqlContactDeletion"]

_CHUNK = 500
# rows that must outlive the contact: none today (suppressions are keyed by address, not contact, and stay so a
# deleted person who had unsubscribed is still not mailed if they come back)
_KEEP: frozenset[str] = frozenset()


class SqlContactDeletion:
    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def delete_contacts(self, contact_ids: Collection[str]) -> dict[str, int]:
        """Rows deleted per table. ``contact_ids`` are live contacts; their merged-away records go with them."""
        ids = sorted(set(contact_ids))
        merged = [str(r) for start in range(0, len(ids), _CHUNK) for r in self._c.execute(
            select(contacts.c.id).where(contacts.c.merged_into.in_(ids[start:start + _CHUNK]))).scalars()]
        everyone = sorted(set(ids) | set(merged))
        counts: dict[str, int] = {}
        tables = [t for t in reversed(metadata.sorted_tables)
                  if "contact_id" in t.c and t.name not in _KEEP and t.name != "contacts"]
        for start in range(0, len(everyone), _CHUNK):
            chunk = everyone[start:start + _CHUNK]
            for table in tables:
                done = self._c.execute(delete(table).where(table.c.contact_id.in_(chunk))).rowcount
                counts[table.name] = counts.get(table.name, 0) + max(done, 0)
            done = self._c.execute(delete(contact_merges).where(or_(
                contact_merges.c.winner_id.in_(chunk), contact_merges.c.loser_id.in_(chunk)))).rowcount
            counts["contact_merges"] = counts.get("contact_merges", 0) + max(done, 0)
        for start in range(0, len(merged), _CHUNK):  # merged-away records first: nothing points at them
            self._c.execute(delete(contacts).where(contacts.c.id.in_(merged[start:start + _CHUNK])))
        for start in range(0, len(ids), _CHUNK):
            done = self._c.execute(delete(contacts).where(contacts.c.id.in_(ids[start:start + _CHUNK]))).rowcount
            counts["contacts"] = counts.get("contacts", 0) + max(done, 0)
        counts["contacts"] = counts.get("contacts", 0) + len(merged)
        return {name: n for name, n in counts.items() if n}
