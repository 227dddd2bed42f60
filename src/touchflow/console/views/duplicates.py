"""Duplicate suggestions, the side-by-side comparison, confirming a merge and undoing one (contacts page area).

The same services as the CLI and the API (``suggest_duplicates``, ``merge_contacts``, ``unmerge_contact``), so
every merge and unmerge is audited as the signed-in person. A reader limited to their tasks' contacts (an
agent) sees only suggestions where both contacts are theirs, and a 404 for any other contact, as in the API.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from touchflow.api.routes import api_state
from touchflow.console.auth import ConsoleUser, Me, allow, services
from touchflow.console.forms import FormError, read_form
from touchflow.console.i18n import N_
from touchflow.console.templating import render
from touchflow.domain.errors import FieldError
from touchflow.domain.governance.scope import assignee_scope
from touchflow.services.contact_view import contact_view
from touchflow.services.contacts import (
    ContactNotFound,
    contact_labels,
    get_contact_profile,
    merge_contacts,
    suggest_duplicates,
)
from touchflow.services.context import ServiceContext
from touchflow.services.duplicate_index import PENDING_SHOWN, pending_duplicates
from touchflow.services.reach import ensure_reach
from touchflow.services.unmerge import NothingToUnmerge, unmerge_contact

__all__ = ["router"]

router = APIRouter()
Ref = Annotated[str, Query(max_length=64)]
ContactId = Annotated[str, Path(max_length=64)]


def _reachable(ctx: ServiceContext, me: ConsoleUser, *refs: str) -> bool:
    """Whether the reader may see every one of ``refs`` (always, unless their role is limited to their tasks)."""
    scope = assignee_scope(me.principal)
    if scope is None:
        return True
    try:
        for ref in refs:
            ensure_reach(ctx, ref, scope)
    except ContactNotFound:
        return False
    return True


@router.get("/contacts/duplicates", **allow("contacts.read"))
async def duplicates_page(request: Request, me: Me) -> Response:
    return await _duplicates(request, me)


async def _duplicates(request: Request, me: ConsoleUser, *, status: int = 200, error: str | None = None
                      ) -> Response:
    ctx = services(request)
    found = await run_in_threadpool(suggest_duplicates, ctx, 100)
    if assignee_scope(me.principal) is not None:
        found = [s for s in found if await run_in_threadpool(_reachable, ctx, me, s.first, s.second)]
    labels = await run_in_threadpool(contact_labels, ctx, [i for s in found for i in (s.first, s.second)])
    pending = await run_in_threadpool(pending_duplicates, ctx)  # left for the worker's pass (ADR 0049)
    return render(request, me, "duplicates.html", {"title": N_("Duplicate suggestions"), "found": found,
                                                   "labels": labels, "error": error, "pending": pending,
                                                   "shown": PENDING_SHOWN,
                                                   "can_merge": me.can("contacts.write")}, status_code=status)


async def _compare(request: Request, me: ConsoleUser, a: str, b: str, *, status: int = 200,
                   error: str | None = None) -> Response:
    ctx = services(request)
    scope = assignee_scope(me.principal)
    try:
        first = await run_in_threadpool(contact_view, ctx, a, assignee=scope)
        second = await run_in_threadpool(contact_view, ctx, b, assignee=scope)
    except ContactNotFound:
        return render(request, me, "not_found.html", {"title": N_("Contact not found")}, status_code=404)
    return render(request, me, "compare.html", {"title": N_("Compare two contacts"), "a": first, "b": second,
                                                "error": error, "can_merge": me.can("contacts.write")},
                  status_code=status)


@router.get("/contacts/compare", **allow("contacts.read"))
async def compare_page(request: Request, me: Me, a: Ref = "", b: Ref = "") -> Response:
    if not a.strip() or not b.strip():  # nothing chosen yet: pick a pair from the suggestions
        return RedirectResponse("/contacts/duplicates", status_code=303)
    return await _compare(request, me, a, b)


@router.post("/contacts/merge", **allow("contacts.write"))
async def confirm_merge(request: Request, me: Me) -> Response:
    state = api_state(request)
    try:
        form = await read_form(request)
        a, b = form.get("a", "").strip()[:64], form.get("b", "").strip()[:64]
        if not a or not b:
            raise FieldError("a" if not a else "b", "name both contacts")
    except (FormError, FieldError) as exc:
        return await _duplicates(request, me, status=422, error=str(exc))
    reason = form.get("reason", "").strip()[:500]
    try:
        if a == b:
            raise FieldError("b", "a contact cannot be merged with itself")
        survivor = await state.write(merge_contacts, state.services, a, b, actor=me.principal.actor.label,
                                     reason=reason or "confirmed duplicate suggestion")
    except ContactNotFound:
        return render(request, me, "not_found.html", {"title": N_("Contact not found")}, status_code=404)
    except FieldError as exc:
        return await _compare(request, me, a, b, status=422, error=str(exc))
    return RedirectResponse(f"/contacts/{survivor}/merges?done=merge", status_code=303)


@router.get("/contacts/{contact_id}/merges", **allow("contacts.read"))
async def merges_page(request: Request, me: Me, contact_id: ContactId, done: str | None = None) -> Response:
    return await _merges(request, me, contact_id, done=done)


async def _merges(request: Request, me: ConsoleUser, contact_id: str, *, status: int = 200,
                  error: str | None = None, done: str | None = None) -> Response:
    ctx = services(request)
    try:
        if not await run_in_threadpool(_reachable, ctx, me, contact_id):
            raise ContactNotFound(contact_id)
        profile = await run_in_threadpool(get_contact_profile, ctx, contact_id)
    except ContactNotFound:
        return render(request, me, "not_found.html", {"title": N_("Contact not found")}, status_code=404)
    labels = await run_in_threadpool(contact_labels, ctx, [profile.state.id] + [m.loser_id for m in profile.merges])
    notes = {"merge": N_("Merged. The contacts are now one; undo below if this was wrong."),
             "unmerge": N_("Merge undone: the contact is separate again.")}
    return render(request, me, "merges.html", {"title": N_("Merges"), "cid": profile.state.id,
                                               "merges": profile.merges, "labels": labels, "error": error,
                                               "done": notes.get(done or ""),
                                               "can_merge": me.can("contacts.write")}, status_code=status)


@router.post("/contacts/{contact_id}/merges/undo", **allow("contacts.write"))
async def undo_merge(request: Request, me: Me, contact_id: ContactId) -> Response:
    state = api_state(request)
    try:
        form = await read_form(request)
        merged, reason = form.get("merged", "").strip()[:64], form.get("reason", "").strip()[:500]
        if not merged:
            raise FieldError("merged", "name the merged-away contact")
        if not reason:
            raise FieldError("reason", "say why the merge was wrong (it is kept in the audit log)")
        await state.write(unmerge_contact, state.services, merged, actor=me.principal.actor, reason=reason)
    except (FormError, FieldError) as exc:
        return await _merges(request, me, contact_id, status=422, error=str(exc))
    except NothingToUnmerge as exc:
        return await _merges(request, me, contact_id, status=409, error=str(exc))
    return RedirectResponse(f"/contacts/{contact_id}/merges?done=unmerge", status_code=303)
