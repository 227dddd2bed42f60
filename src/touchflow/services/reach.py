"""What an agent may read (P2, object level): the contacts of the tasks assigned to them.

Callers pass the scope from ``domain.governance.scope.assignee_scope``; ``None`` means "everything the
permission allows" and these functions are not called. A contact outside the scope is reported exactly as
a contact that does not exist (``ContactNotFound``), so an agent cannot probe who is in the database.
"""

from __future__ import annotations

from touchflow.domain.contacts import ContactState
from touchflow.domain.unit_of_work import UnitOfWork
from touchflow.services.contacts import ContactNotFound, resolve_contact_id
from touchflow.services.context import ServiceContext

__all__ = ["MAX_ASSIGNED", "assigned_contacts", "ensure_reach", "search_assigned"]

MAX_ASSIGNED = 5000  # contacts an agent's reads consider (their tasks' contacts, newest merges resolved)


def assigned_contacts(uow: UnitOfWork, assignee: str) -> set[str]:
    """Surviving ids of the contacts whose tasks are assigned to ``assignee`` (a merge keeps the reach)."""
    if not assignee:
        return set()
    found: set[str] = set()
    for contact_id in uow.tasks.contacts_assigned(assignee, MAX_ASSIGNED):
        survivor = uow.contacts.resolve_id(contact_id)
        if survivor is not None:
            found.add(survivor)
    return found


def ensure_reach(ctx: ServiceContext, identifier: str, assignee: str) -> str:
    """The contact id behind ``identifier`` when the agent may read it; ``ContactNotFound`` otherwise."""
    with ctx.reader() as uow:
        contact_id = resolve_contact_id(uow, identifier)
        if contact_id not in assigned_contacts(uow, assignee):
            raise ContactNotFound(identifier)
    return contact_id


def search_assigned(ctx: ServiceContext, assignee: str, text: str | None = None, tag: str | None = None,
                    limit: int = 50, offset: int = 0) -> list[ContactState]:
    """``search_contacts`` within the agent's contacts: an identifier equal to ``text``, or ``text`` in the
    name or company (case-insensitive), and the tag when given; ordered by id like the full search."""
    needle = (text or "").casefold()
    with ctx.reader() as uow:
        ids = sorted(assigned_contacts(uow, assignee))
        states = uow.contacts.load(ids)
        hits: list[ContactState] = []
        for contact_id in ids:
            state = states.get(contact_id)
            if state is None or (tag and tag not in state.tags):
                continue
            if needle and not (any(needle in str(state.values.get(k) or "").casefold() for k in ("name", "company"))
                               or any(link.identity.value == text for link in uow.contacts.identities_of(contact_id))):
                continue
            hits.append(state)
    return hits[max(offset, 0):max(offset, 0) + min(max(limit, 1), 500)]
