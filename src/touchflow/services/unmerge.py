"""``unmerge_contact``: a person undoes a merge that was wrong (a shared family phone, a wrongly confirmed
suggestion, a forged identifier). One transaction: the merged-away contact gets back its identities, its
events (those moved at the merge, and later ones that arrived with one of its identifiers), the contacts
merged into it before, its tags, consents and static memberships, and the attribute values that came from
it (by lineage); both people's scores, tiers and stages are recomputed and their segments re-evaluated.
Journeys running for the survivor stay with it (a person moves a run by hand if it should). Audited; both
profiles show the unmerge.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from touchflow.domain.actors import Actor
from touchflow.domain.events import JSONValue
from touchflow.domain.unmerge import MergeUndo, split_survivor
from touchflow.services.context import ServiceContext
from touchflow.services.lifecycle_pass import refresh_contacts

__all__ = ["NothingToUnmerge", "UnmergeResult", "unmerge_contact"]


class NothingToUnmerge(Exception):
    """The contact was not merged away, or its merge predates unmerging (nothing was kept to undo it)."""


@dataclass(frozen=True)
class UnmergeResult:
    survivor: str
    restored: str
    identities: int
    events: int
    returned: list[str] = field(default_factory=list)  # fields, tags and consents that went back


def unmerge_contact(ctx: ServiceContext, merged_id: str, *, actor: Actor | str, reason: str) -> UnmergeResult:
    """Undo the latest merge that took ``merged_id`` (the id the survivor's profile lists) away."""
    who = Actor.of(actor)
    if not reason.strip():
        raise ValueError("reason: say why the merge was wrong (it is kept in the audit log)")
    now = ctx.clock.now()
    with ctx.uow() as uow:
        pending = uow.contacts.merge_to_undo(merged_id.strip())
        if pending is None:
            raise NothingToUnmerge(f"{merged_id} is not a merged-away contact (see the merges in `contact show`)")
        if pending.undo is None:
            raise NothingToUnmerge(f"the merge of {merged_id} was made before merges kept what they moved; "
                                   "it cannot be undone automatically")
        loser_id = pending.record.loser_id
        survivor_id = uow.contacts.resolve_id(loser_id)
        if survivor_id is None or survivor_id == loser_id:
            raise NothingToUnmerge(f"{merged_id} is not merged into anyone")
        states = uow.contacts.load([survivor_id, loser_id])
        survivor = states[survivor_id]
        undo = MergeUndo.from_document(pending.undo, survivor_id, survivor.created_at)
        loser = replace(states[loser_id], tags=dict(undo.tags), consents={c.channel: c for c in undo.consents},
                        merged_into=None)
        split, returned = split_survivor(survivor, loser, undo)
        counts = uow.contacts.unmerge(pending.id, survivor_id, loser, undo, pending.record.at, who.label, now)
        uow.contacts.update([split], now)
        uow.segments.mark_dirty([(survivor_id, "*"), (loser_id, "*")], now)
        refresh_contacts(uow, ctx, [survivor_id, loser_id], now)
        uow.audit.record(who.label, "contact.unmerge", survivor_id, {
            "restored": loser_id, "reason": reason, "merged_at": pending.record.at.isoformat(),
            "linked_by": pending.record.linked_by, "identities": counts.identities, "events": counts.events,
            "returned": list[JSONValue](returned)}, now)
        uow.commit()
    return UnmergeResult(survivor_id, loser_id, counts.identities, counts.events, returned)
