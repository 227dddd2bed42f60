"""The rows a merge moves from the loser to the winner (``SqlContactRepository.merge``)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, bindparam, delete, insert, or_, select, update
from sqlalchemy.sql.elements import BindParameter

from touchflow.domain.contact_ports import MergeRecord
from touchflow.store.tables import (
    contact_consents,
    contact_identities,
    contact_tags,
    contacts,
    events,
    onsite_messages,
    segment_history,
    segment_members,
    segments,
)

__all__ = ["end_memberships", "move_to_winners"]


def move_to_winners(connection: Connection, merges: Sequence[MergeRecord]) -> None:
    """Each loser's identities, events and pop-ups to its winner, its tags and consents dropped, the loser (and
    contacts merged into it before) pointed at the winner: one executemany per table, in ``merges`` order."""
    pairs = [{"b_loser": m.loser_id, "b_winner": m.winner_id, "b_at": m.at} for m in merges]
    loser: BindParameter[str] = bindparam("b_loser")
    winner: BindParameter[str] = bindparam("b_winner")
    for table in (contact_identities, events, onsite_messages):  # the survivor's browser shows what was queued
        connection.execute(update(table).where(table.c.contact_id == loser).values(contact_id=winner), pairs)
    for table in (contact_tags, contact_consents):
        connection.execute(delete(table).where(table.c.contact_id == loser), [{"b_loser": m.loser_id}
                                                                              for m in merges])
    connection.execute(update(contacts).where(or_(contacts.c.id == loser, contacts.c.merged_into == loser))
                       .values(merged_into=winner, updated_at=bindparam("b_at")), pairs)


def end_memberships(connection: Connection, m: MergeRecord) -> list[str]:
    """The loser's segment stays end at the merge (no events: nobody entered or left anything); a static
    segment's hand-picked membership passes to the winner. Dynamic ones follow the winner's next check."""
    sm, sh = segment_members, segment_history
    static = select(segments.c.id).where(segments.c.kind == "static")
    kept = {r[0] for r in connection.execute(select(sm.c.segment_id).where(sm.c.contact_id == m.winner_id))}
    moving = sorted({r[0] for r in connection.execute(
        select(sm.c.segment_id).where(sm.c.contact_id == m.loser_id, sm.c.segment_id.in_(static)))} - kept)
    connection.execute(delete(sm).where(sm.c.contact_id == m.loser_id))
    connection.execute(update(sh).where(sh.c.contact_id == m.loser_id, sh.c.left_at.is_(None)).values(left_at=m.at))
    if moving:
        connection.execute(insert(sm), [{"segment_id": s, "contact_id": m.winner_id, "since": m.at} for s in moving])
        connection.execute(insert(sh), [{"segment_id": s, "contact_id": m.winner_id, "entered_at": m.at}
                                        for s in moving])
    return moving
