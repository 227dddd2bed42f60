"""Identity resolution inside one transaction: lookups, merges, creates and updates as sets."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from touchflow.domain.contact_ports import IdentityLink, MergeRecord
from touchflow.domain.contacts import Consent, ContactRecord, ContactState, apply_record, merge_into, pick_winner
from touchflow.domain.errors import ConcurrentWrite
from touchflow.domain.ids import IdFactory
from touchflow.domain.resolution import group_records
from touchflow.domain.tagging import TagRule, apply_tag_rules
from touchflow.domain.unit_of_work import UnitOfWork

__all__ = ["Resolution", "resolve_records"]

_ROUNDS = 5  # then the whole transaction runs again (ConcurrentWrite is a conflict to its unit of work)


@dataclass
class Resolution:
    contact_ids: list[str]  # per input record
    created: int = 0
    updated: int = 0
    merged: int = 0
    merges: list[MergeRecord] = field(default_factory=list)
    unchanged: int = 0  # records that changed nothing (a repeat: not counted again by the source, ADR 0013)


def resolve_records(uow: UnitOfWork, records: Sequence[ContactRecord], rules: Sequence[TagRule],
                    ids: IdFactory, source: str, now: datetime) -> Resolution:
    """Fold ``records`` into the contact store: one lookup, one load, bulk writes.

    A concurrent transaction may commit one of the batch's new identities while this one is writing it: then
    nothing of this fold was written, and it runs again on a fresh lookup, which finds the contact the other
    transaction created (ADR 0060). Each round needs another writer to have committed in between."""
    for _ in range(_ROUNDS):
        result = _resolve_once(uow, records, rules, ids, source, now)
        if result is not None:
            return result
    raise ConcurrentWrite(f"new identities taken by concurrent writers {_ROUNDS} times in a row")


def _resolve_once(uow: UnitOfWork, records: Sequence[ContactRecord], rules: Sequence[TagRule],
                  ids: IdFactory, source: str, now: datetime) -> Resolution | None:
    existing = uow.contacts.lookup({i for r in records for i in r.identities})
    components = group_records([r.identities for r in records], existing)
    # Fast path: an observation that only names one known contact (most events) changes no state.
    states = uow.contacts.load({cid for comp in components if _needs_state(comp.existing, comp.records, records)
                                for cid in comp.existing})
    contact_ids: list[str] = [""] * len(records)
    result = Resolution(contact_ids)
    inserts: list[ContactState] = []
    updates: list[ContactState] = []
    rewrite: set[str] = set()  # updated contacts whose tags or consents changed: only their rows are rewritten
    links: list[IdentityLink] = []
    for comp in components:
        changed = False
        if not _needs_state(comp.existing, comp.records, records):
            contact_id = comp.existing[0]
            for index in comp.records:
                contact_ids[index] = contact_id
            fresh_links = [IdentityLink(i, contact_id, source, now) for i in sorted(comp.identities)
                           if i not in existing]
            links.extend(fresh_links)
            result.unchanged += 0 if fresh_links else len(comp.records)
            continue
        before: tuple[dict[str, str], dict[str, Consent]] | None = None
        if comp.existing:
            live = [states[cid] for cid in comp.existing]
            state = pick_winner(live)
            before = dict(state.tags), dict(state.consents)
            for loser in live:
                if loser is state:
                    continue
                why = sorted(str(i) for i, cid in comp.links.items() if cid in (loser.id, state.id))
                conflicts = merge_into(state, loser)
                result.merges.append(MergeRecord(state.id, loser.id, ", ".join(why)[:300], source, now,
                                                 tuple(conflicts)))
                changed = True
        else:
            state = ContactState(id=ids.new(now), created_at=now)
        for index in comp.records:
            changed |= apply_record(state, records[index])
            contact_ids[index] = state.id
        changed |= apply_tag_rules(state, rules)
        fresh = sorted(i for i in comp.identities if i not in existing)
        links.extend(IdentityLink(i, state.id, source, now) for i in fresh)
        if not comp.existing:
            inserts.append(state)
        elif changed or fresh:
            updates.append(state)
            if before != (state.tags, state.consents):
                rewrite.add(state.id)
        else:
            result.unchanged += len(comp.records)
    if not uow.contacts.add(inserts, links, now):
        return None  # an identity was taken meanwhile: nothing written, look again
    uow.contacts.merge(result.merges)
    uow.contacts.update(updates, now, rewrite)
    result.created, result.updated, result.merged = len(inserts), len(updates), len(result.merges)
    return result


def _needs_state(existing: Sequence[str], indexes: Sequence[int], records: Sequence[ContactRecord]) -> bool:
    if len(existing) != 1:
        return True  # a new contact, or a merge
    return any(records[i].values or records[i].tags or records[i].consents for i in indexes)
