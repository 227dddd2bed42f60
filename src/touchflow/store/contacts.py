"""ContactRepository on SQL: set-based lookups and writes for identity resolution."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterator, Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any, cast

import psycopg
from sqlalchemy import Connection, and_, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.sql.elements import ColumnElement

from touchflow.domain.contact_ports import IdentityLink, MergeRecord, MergeToUndo, UnmergeCounts
from touchflow.domain.contacts import STANDARD_FIELDS, Consent, ContactState, FieldConflict, Scalar, Stamp
from touchflow.domain.duplicates import DuplicateCandidate
from touchflow.domain.identities import Identity
from touchflow.domain.unmerge import EVENTS_KEPT, MergeUndo
from touchflow.security.pii import PiiCodec
from touchflow.store.bulk import bulk_insert
from touchflow.store.identity_claims import claim_identities, identity_rows
from touchflow.store.merge_rows import end_memberships, move_to_winners
from touchflow.store.pii_fields import identity_label, identity_value, open_name, seal_name
from touchflow.store.privacy import record_consent_ledger
from touchflow.store.tables import (
    contact_consents,
    contact_identities,
    contact_merges,
    contact_tags,
    contacts,
    events,
    segment_history,
    segment_members,
)

__all__ = ["IDENTITY_LOOKUP_SQL", "STATISTICS_TABLES", "SqlContactRepository"]

_CHUNK = 500  # keeps IN lists well under every driver's parameter limit

# PostgreSQL: one probe of the (kind, value) primary key per value. ``kind = $1 AND value = ANY($2)`` is not
# enough: with no statistics the planner takes ``kind`` as selective and scans every identity of that kind,
# filtering on ``value``. Equality on every column of a unique key is one row whatever the statistics say, so
# this plan is the same on an empty, a fresh or a large table, prepared or not (ADR 0013).
IDENTITY_LOOKUP_SQL = ("SELECT v.value, (SELECT c.contact_id FROM contact_identities c "
                       "WHERE c.kind = %s AND c.value = v.value) FROM unnest(%s::text[]) AS v(value)")
_PG_CHUNK = 5000
# What an import grows: ANALYZE them while it runs (ADR 0013).
STATISTICS_TABLES = ("contact_identities", "contacts", "contact_tags", "contact_consents")


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _lineage_doc(lineage: dict[str, Stamp]) -> dict[str, list[Any]]:
    # Fields set by one record share one Stamp: format each stamp once.
    done: dict[int, list[Any]] = {}
    doc: dict[str, list[Any]] = {}
    for name, stamp in lineage.items():
        entry = done.get(id(stamp))
        if entry is None:
            entry = done[id(stamp)] = [stamp.source, stamp.priority, stamp.at.isoformat()]
            if stamp.file is not None:
                entry += [stamp.file, stamp.row]
        doc[name] = entry
    return doc


def _lineage_from(doc: dict[str, list[Any]]) -> dict[str, Stamp]:
    return {name: Stamp(v[0], int(v[1]), datetime.fromisoformat(v[2]), *((str(v[3]), int(v[4])) if len(v) > 4 else ()))
            for name, v in doc.items()}


def _row_values(state: ContactState, at: datetime, pii: PiiCodec | None) -> dict[str, Any]:
    row: dict[str, Any] = {name: state.values.get(name) for name in STANDARD_FIELDS}
    row["name"], row["name_ct"] = seal_name(pii, state.id, row["name"])
    row["custom"] = {k[len("custom."):]: v for k, v in state.values.items() if k.startswith("custom.")}
    row["lineage"] = _lineage_doc(state.lineage)
    row["updated_at"] = at
    row["merged_into"] = state.merged_into
    return row


class SqlContactRepository:
    def __init__(self, connection: Connection, pii: PiiCodec | None = None) -> None:
        self._c = connection
        self._pii = pii  # None: personal data in plaintext, as before encryption is enabled (ADR 0026)

    def lookup(self, identities: Collection[Identity]) -> dict[Identity, str]:
        """Identity -> contact; with encryption on, through the blind index (and the plaintext form while the
        encryption pass has rows left to do)."""
        pii = self._pii
        stored: dict[tuple[str, str], Identity] = {}
        for identity in set(identities):
            if pii is None:
                stored[identity] = identity
                continue
            stored[(identity.kind, pii.index(identity.kind, identity.value))] = identity
            if pii.plaintext_left:
                stored[identity] = identity
        by_kind: dict[str, list[str]] = defaultdict(list)
        for kind, value in stored:
            by_kind[kind].append(value)
        raw = self._lookup_unprepared(by_kind) if self._c.dialect.name == "postgresql" else self._lookup(by_kind)
        return {stored[key]: contact_id for key, contact_id in raw.items()}

    def _lookup(self, by_kind: dict[str, list[str]]) -> dict[tuple[str, str], str]:
        found: dict[tuple[str, str], str] = {}
        t = contact_identities
        for kind, values in by_kind.items():
            for chunk in _chunks(values):
                rows = self._c.execute(
                    select(t.c.value, t.c.contact_id).where(t.c.kind == kind, t.c.value.in_(chunk)))
                for value, contact_id in rows:
                    found[(kind, value)] = contact_id
        return found

    def _lookup_unprepared(self, by_kind: dict[str, list[str]]) -> dict[tuple[str, str], str]:
        """Unprepared as well: psycopg prepares a query after five runs and PostgreSQL may then keep a generic
        plan made while the table was empty (before: the key's ``kind`` only, then a filter on ``value``,
        1.8 s a lookup at 52k identities). The statement above no longer needs it; this keeps it so."""
        driver = cast(psycopg.Connection[Any], self._c.connection.dbapi_connection)
        found: dict[tuple[str, str], str] = {}
        with driver.cursor() as cursor:
            for kind, values in by_kind.items():
                for chunk in _chunks(values, _PG_CHUNK):
                    cursor.execute(IDENTITY_LOOKUP_SQL, (kind, list(chunk)), prepare=False)
                    for value, contact_id in cursor.fetchall():
                        if contact_id is not None:
                            found[(kind, value)] = contact_id
        return found

    def refresh_statistics(self) -> None:
        """PostgreSQL: ANALYZE the contact tables, so that plans made during a large first import see its size."""
        if self._c.dialect.name == "postgresql":
            self._c.exec_driver_sql(f"ANALYZE {', '.join(STATISTICS_TABLES)}")

    def load(self, ids: Collection[str]) -> dict[str, ContactState]:
        states: dict[str, ContactState] = {}
        id_list = sorted(set(ids))
        for chunk in _chunks(id_list):
            for row in self._c.execute(select(contacts).where(contacts.c.id.in_(chunk))).mappings():
                values: dict[str, Scalar] = {n: row[n] for n in STANDARD_FIELDS if row[n] is not None}
                if row["name_ct"] is not None:
                    values["name"] = cast(str, open_name(self._pii, row["id"], None, row["name_ct"]))
                values.update({f"custom.{k}": v for k, v in (row["custom"] or {}).items()})
                states[row["id"]] = ContactState(
                    id=row["id"], created_at=row["created_at"], values=values,
                    lineage=_lineage_from(row["lineage"] or {}), merged_into=row["merged_into"])
            for contact_id, tag, set_by in self._c.execute(
                    select(contact_tags.c.contact_id, contact_tags.c.tag, contact_tags.c.set_by)
                    .where(contact_tags.c.contact_id.in_(chunk))):
                states[contact_id].tags[tag] = set_by
            for r in self._c.execute(select(contact_consents).where(contact_consents.c.contact_id.in_(chunk))):
                states[r.contact_id].consents[r.channel] = Consent(r.channel, r.status, r.source, r.at)
        return states

    def insert(self, states: Sequence[ContactState], at: datetime) -> None:
        if not states:
            return
        columns = ("id", "created_at", "updated_at", "merged_into", *STANDARD_FIELDS, "custom", "lineage", "name_ct")
        rows = []
        pii = self._pii
        for s in states:
            values = s.values
            custom = {k[7:]: v for k, v in values.items() if k.startswith("custom.")}
            row: list[Any] = [s.id, s.created_at, at, s.merged_into, *[values.get(n) for n in STANDARD_FIELDS], custom,
                   _lineage_doc(s.lineage), None]
            if pii is not None and row[4] is not None:  # 4: "name", the first standard field
                row[4], row[-1] = seal_name(pii, s.id, row[4])
            rows.append(row)
        bulk_insert(self._c, contacts, columns, rows)
        self._write_children(states, replace=False)

    def update(self, states: Sequence[ContactState], at: datetime,
               children: Collection[str] | None = None) -> None:
        """Write the contacts' rows; their tags and consents are rewritten for the ids in ``children`` only (the
        contacts whose tags or consents changed), or for all of them when it is ``None``."""
        if not states:
            return
        stmt = update(contacts).where(contacts.c.id == bindparam("b_id"))
        rows = [{"b_id": s.id, **_row_values(s, at, self._pii)} for s in states]
        self._c.execute(stmt, rows)
        rewrite = states if children is None else [s for s in states if s.id in children]
        if rewrite:
            self._write_children(rewrite, replace=True)

    def _write_children(self, states: Sequence[ContactState], replace: bool) -> None:
        if replace:
            ids = [s.id for s in states]
            for chunk in _chunks(ids):
                self._c.execute(delete(contact_tags).where(contact_tags.c.contact_id.in_(chunk)))
                self._c.execute(delete(contact_consents).where(contact_consents.c.contact_id.in_(chunk)))
        bulk_insert(self._c, contact_tags, ("contact_id", "tag", "set_by"),
                    [(s.id, t, by) for s in states for t, by in s.tags.items()])
        consents = [(s.id, c.channel, c.status, c.source, c.at) for s in states for c in s.consents.values()]
        bulk_insert(self._c, contact_consents, ("contact_id", "channel", "status", "source", "at"), consents)
        record_consent_ledger(self._c, consents)  # the append-only history (PIPL): store/privacy.py

    def add(self, states: Sequence[ContactState], links: Sequence[IdentityLink], at: datetime) -> bool:
        """Insert new contacts and the identities new to the store (of new and known contacts), all or none.
        False on PostgreSQL when a concurrent transaction committed one of the identities first: nothing was
        written, look them up again (ADR 0060). SQLite has one writer at a time: always True."""
        rows = identity_rows(self._pii, links)
        if self._c.dialect.name != "postgresql" or not rows:
            self.insert(states, at)
            bulk_insert(self._c, contact_identities, ("kind", "value", "contact_id", "source", "created_at",
                                                      "value_ct"), sorted(rows, key=lambda r: (r[0], r[1])))
            return True
        with self._c.begin_nested() as savepoint:
            self.insert(states, at)
            if claim_identities(self._c, rows):
                return True
            savepoint.rollback()  # the contacts made for the taken identities, their tags, consents, ledger rows
        return False

    def merge(self, merges: Sequence[MergeRecord]) -> None:
        """Move every identity, event, tag, consent and pop-up of each loser to its winner; keep a tombstone and
        what moved (``MergeUndo``), so a person can unmerge."""
        if not merges:
            return
        losers = [m.loser_id for m in merges]
        if len(set(losers)) < len(losers) or set(losers) & {m.winner_id for m in merges}:
            undos = []  # a chain (a loser that wins or loses again): each merge sees the ones before it
            for m in merges:
                undos.append(self._undo_of(m, self.load([m.loser_id, m.winner_id])))
                move_to_winners(self._c, [m])
        else:  # disjoint (one resolution batch): no merge touches another's rows, so one statement per kind
            states = self.load({c for m in merges for c in (m.loser_id, m.winner_id)})
            undos = [self._undo_of(m, states) for m in merges]
            move_to_winners(self._c, merges)
        self._c.execute(insert(contact_merges), [
            {"at": m.at, "winner_id": m.winner_id, "loser_id": m.loser_id, "linked_by": m.linked_by,
             "source": m.source, "conflicts": [asdict(c) for c in m.conflicts], "undo": undo}
            for m, undo in zip(merges, undos, strict=True)])

    def _undo_of(self, m: MergeRecord, states: dict[str, ContactState]) -> dict[str, Any]:
        """What the merge is about to move, as ``MergeUndo.document()``; ends the loser's segment stays.
        ``states``: the loser and the winner as stored now."""
        loser = states.get(m.loser_id)
        before = states.get(m.winner_id) or ContactState(m.winner_id, m.at)
        ids = list(self._c.execute(select(events.c.id).where(events.c.contact_id == m.loser_id)
                                   .limit(EVENTS_KEPT + 1)).scalars())
        undo = MergeUndo(
            identities=tuple(i.identity for i in self.identities_of(m.loser_id)),
            events=tuple(ids[:EVENTS_KEPT]), events_complete=len(ids) <= EVENTS_KEPT,
            tags=dict(loser.tags) if loser else {},
            consents=tuple(loser.consents.values()) if loser else (),
            repointed=tuple(self._c.execute(select(contacts.c.id).where(contacts.c.merged_into == m.loser_id))
                            .scalars()),
            static_segments=(), survivor_before=before).document()
        undo["static_segments"] = end_memberships(self._c, m)
        return undo

    def merge_to_undo(self, loser_id: str) -> MergeToUndo | None:
        """The latest merge that took ``loser_id`` away and is not undone yet."""
        t = contact_merges
        row = self._c.execute(select(t).where(t.c.loser_id == loser_id, t.c.undone_at.is_(None))
                              .order_by(t.c.id.desc()).limit(1)).first()
        if row is None:
            return None
        record = MergeRecord(row.winner_id, row.loser_id, row.linked_by, row.source, row.at,
                             tuple(FieldConflict(**c) for c in row.conflicts))
        return MergeToUndo(row.id, record, row.undo)

    def unmerge(self, merge_id: int, survivor_id: str, loser: ContactState, undo: MergeUndo, merged_at: datetime,
                by: str, now: datetime) -> UnmergeCounts:
        """Give the loser back what was its own: identities, events (those moved at the merge, and later
        ones that arrived with one of its identifiers), contacts merged into it before, static memberships."""
        keys = [(i.kind, v) for i in undo.identities for v in self._stored_forms(i)]
        ci = contact_identities
        moved_identities = 0
        for kind, value in keys:
            moved_identities += self._c.execute(update(ci).where(
                ci.c.kind == kind, ci.c.value == value, ci.c.contact_id == survivor_id)
                .values(contact_id=loser.id)).rowcount
        moved_events = 0
        for chunk in _chunks(list(undo.events)):
            moved_events += self._c.execute(update(events).where(events.c.contact_id == survivor_id,
                                                                 events.c.id.in_(chunk))
                                            .values(contact_id=loser.id)).rowcount
        labels = sorted({str(i) for i in undo.identities}  # as written before encryption, and after
                        | {identity_label(self._pii, i) for i in undo.identities})
        for chunk in _chunks(labels):  # arrived after the merge (or beyond the listed ids) with its identifier
            late = [events.c.received_at >= merged_at] if undo.events_complete else []
            moved_events += self._c.execute(update(events).where(
                events.c.contact_id == survivor_id, events.c.identity.in_(chunk), *late)
                .values(contact_id=loser.id)).rowcount
        self._c.execute(update(contacts).where(contacts.c.id == loser.id).values(merged_into=None, updated_at=now))
        if undo.repointed:
            self._c.execute(update(contacts).where(contacts.c.id.in_(undo.repointed),
                                                   contacts.c.merged_into == survivor_id)
                            .values(merged_into=loser.id, updated_at=now))
        self._write_children([loser], replace=True)
        sm, sh = segment_members, segment_history
        for segment_id in undo.static_segments:  # the membership passed on at the merge goes back
            self._c.execute(delete(sm).where(sm.c.segment_id == segment_id, sm.c.contact_id == survivor_id))
            self._c.execute(update(sh).where(sh.c.segment_id == segment_id, sh.c.contact_id == survivor_id,
                                             sh.c.left_at.is_(None)).values(left_at=now))
            self._c.execute(insert(sm).values(segment_id=segment_id, contact_id=loser.id, since=now))
            self._c.execute(insert(sh).values(segment_id=segment_id, contact_id=loser.id, entered_at=now))
        self._c.execute(update(contact_merges).where(contact_merges.c.id == merge_id)
                        .values(undone_at=now, undone_by=by[:200]))
        return UnmergeCounts(moved_identities, moved_events)

    def resolve_id(self, contact_id: str) -> str | None:
        row = self._c.execute(select(contacts.c.id, contacts.c.merged_into)
                              .where(contacts.c.id == contact_id)).first()
        if row is None:
            return None
        return str(row.merged_into or row.id)

    def _stored_forms(self, identity: Identity) -> list[str]:
        """How ``identity`` may be stored: its blind index, and its plaintext while rows are left to encrypt."""
        if self._pii is None:
            return [identity.value]
        forms = [self._pii.index(identity.kind, identity.value)]
        return [*forms, identity.value] if self._pii.plaintext_left else forms

    def identities_of(self, contact_id: str) -> list[IdentityLink]:
        t = contact_identities
        rows = self._c.execute(select(t).where(t.c.contact_id == contact_id))
        links = [IdentityLink(Identity(r.kind, identity_value(self._pii, r.kind, r.value, r.value_ct)),
                              r.contact_id, r.source, r.created_at) for r in rows]
        return sorted(links, key=lambda ln: ln.identity)

    def merges_of(self, contact_id: str) -> list[MergeRecord]:
        """Merges into this contact, and unmerged ones that took it away (both profiles show an unmerge)."""
        t = contact_merges
        rows = self._c.execute(select(t).where(or_(t.c.winner_id == contact_id, and_(
            t.c.loser_id == contact_id, t.c.undone_at.is_not(None)))).order_by(t.c.id))
        return [MergeRecord(r.winner_id, r.loser_id, r.linked_by, r.source, r.at,
                            tuple(FieldConflict(**c) for c in r.conflicts), r.undone_at, r.undone_by) for r in rows]

    def search(self, text: str | None, tag: str | None, limit: int, offset: int) -> list[str]:
        query = select(contacts.c.id).where(contacts.c.merged_into.is_(None))
        if text:
            by_identity = select(contact_identities.c.contact_id).where(
                contact_identities.c.value.in_(self._search_forms(text)))
            clauses: list[ColumnElement[bool]] = [  # autoescape: % and _ in the text match themselves
                contacts.c.id.in_(by_identity), contacts.c.name.contains(text, autoescape=True),
                contacts.c.company.contains(text, autoescape=True)]
            if self._pii is not None:  # encrypted names: decrypted in batches, compared here
                clauses.append(contacts.c.id.in_(self._names_containing(text, tag, limit + offset)))
            query = query.where(or_(*clauses))
        if tag:
            query = query.where(contacts.c.id.in_(select(contact_tags.c.contact_id)
                                                  .where(contact_tags.c.tag == tag)))
        query = query.order_by(contacts.c.id).limit(limit).offset(offset)
        return [r[0] for r in self._c.execute(query)]

    def _search_forms(self, text: str) -> list[str]:
        """An exact identifier match: with encryption on, ``text`` under the blind index of every kind in use."""
        if self._pii is None:
            return [text]
        kinds = self._c.execute(select(contact_identities.c.kind).distinct()).scalars().all()
        forms = [self._pii.index(kind, text) for kind in kinds]
        return [*forms, text] if self._pii.plaintext_left else forms

    def _names_containing(self, text: str, tag: str | None, first: int) -> list[str]:
        """The ``first`` live contacts (by id, with ``tag`` if given) whose encrypted name contains ``text`` (as
        SQL ``LIKE``: ASCII letters in any case). More cannot reach a page ordered by id of ``first`` rows, and
        the IN list stays small. A scan: names are not searchable in SQL once encrypted (ADR 0026)."""
        fold = text.isascii()
        needle = text.casefold() if fold else text
        tagged = None if tag is None else set(self._c.execute(
            select(contact_tags.c.contact_id).where(contact_tags.c.tag == tag)).scalars())
        found = sorted(contact_id for contact_id, name in self._encrypted_names()
                       if needle in (name.casefold() if fold else name) and (tagged is None or contact_id in tagged))
        return found[:first]

    def _encrypted_names(self) -> Iterator[tuple[str, str]]:
        c = contacts.c
        query = select(c.id, c.name_ct).where(c.merged_into.is_(None), c.name_ct.is_not(None))
        for r in self._c.execute(query.execution_options(yield_per=2000)):
            yield r.id, cast(str, open_name(self._pii, r.id, None, r.name_ct))

    def duplicate_candidates(self) -> Iterator[DuplicateCandidate]:
        """Live contacts with a name and a city; encrypted names are decrypted here, row by row."""
        c = contacts.c
        query = (select(c.id, c.name, c.name_ct, c.company, c.city)
                 .where(and_(c.merged_into.is_(None), or_(c.name.is_not(None), c.name_ct.is_not(None)),
                             c.city.is_not(None))))
        for r in self._c.execute(query):
            yield DuplicateCandidate(r.id, cast(str, open_name(self._pii, r.id, r.name, r.name_ct)),
                                     r.company or "", r.city)

    def count(self) -> int:
        return int(self._c.execute(select(func.count()).select_from(contacts)
                                   .where(contacts.c.merged_into.is_(None))).scalar_one())

    def completeness(self, fields: Sequence[str]) -> dict[str, int]:
        live = contacts.c.merged_into.is_(None)
        columns = [(func.count(contacts.c[name]) + (func.count(contacts.c.name_ct) if name == "name" else 0))
                   .label(name) for name in fields if name in STANDARD_FIELDS]
        row = self._c.execute(select(*columns).where(live)).mappings().one()
        return {name: int(row[name]) for name in row}

