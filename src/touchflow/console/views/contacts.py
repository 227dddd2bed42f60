"""``/contacts``: search (any identifier, or part of a name/company; masked in the list) and the profile, with
hand edits of tags and attributes (D5) and freeze/unfreeze — through the services the API uses, audited as the
signed-in person. An agent reaches only the contacts of their tasks (404 for the others, as in the API)."""

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
from touchflow.services.contact_view import contact_view, find_contacts
from touchflow.services.contacts import ContactNotFound, patch_contact
from touchflow.services.guarding import freeze_contact, lift_freeze

__all__ = ["router"]

router = APIRouter()
ContactId = Annotated[str, Path(max_length=64)]
_DONE = {"tags": N_("Tags saved."), "attribute": N_("Attribute saved."), "freeze": N_("Contact frozen: no messages "
         "will be sent until a person lifts the freeze."), "unfreeze": N_("Freeze lifted.")}


@router.get("/contacts", **allow("contacts.read"))
async def contacts_page(request: Request, me: Me, q: Annotated[str, Query(max_length=300)] = "") -> Response:
    found = await run_in_threadpool(find_contacts, services(request), q.strip() or None,
                                    assignee=assignee_scope(me.principal)) if q.strip() else []
    return render(request, me, "contacts.html", {"title": N_("Contacts"), "q": q, "found": found})


@router.get("/contacts/results", **allow("contacts.read"))
async def contacts_results(request: Request, me: Me, q: Annotated[str, Query(max_length=300)] = "") -> Response:
    """The result list alone: what the search box's htmx request swaps in as the reader types."""
    found = await run_in_threadpool(find_contacts, services(request), q.strip() or None,
                                    assignee=assignee_scope(me.principal)) if q.strip() else []
    return render(request, me, "contacts_results.html", {"q": q, "found": found})


async def _profile(request: Request, me: ConsoleUser, contact_id: str, *, status: int = 200,
                   error: str | None = None, done: str | None = None) -> Response:
    try:
        view = await run_in_threadpool(contact_view, services(request), contact_id,
                                       assignee=assignee_scope(me.principal))
    except ContactNotFound:
        return render(request, me, "not_found.html", {"title": N_("Contact not found")}, status_code=404)
    return render(request, me, "contact.html", {"title": N_("Contact"), "c": view, "error": error,
                                                "done": _DONE.get(done or ""),
                                                "can_edit": me.can("contacts.write")}, status_code=status)


@router.get("/contacts/{contact_id}", **allow("contacts.read"))
async def contact_page(request: Request, me: Me, contact_id: ContactId, done: str | None = None) -> Response:
    return await _profile(request, me, contact_id, done=done)


async def _change(request: Request, me: ConsoleUser, contact_id: str, what: str) -> Response:
    """Run one hand edit from the posted form; back to the profile (PRG), or the profile with the error."""
    state = api_state(request)
    actor = me.principal.actor.label
    try:
        form = await read_form(request)
        reason = form.get("reason", "").strip()[:500]
        if what == "tags":
            add = [t for t in form.get("add", "").replace("，", ",").split(",") if t.strip()]
            remove = [t for t in form.get("remove", "").split(",") if t.strip()]
            if any(len(t.strip()) > 64 for t in add):
                raise FieldError("add", "a tag has at most 64 characters")
            await state.write(patch_contact, state.services, contact_id, actor=actor, add_tags=add,
                              remove_tags=remove, reason=reason)
        elif what == "attribute":
            name, value = form.get("name", "").strip(), form.get("value", "")
            if not name:
                raise FieldError("name", "name the attribute")
            await state.write(patch_contact, state.services, contact_id, actor=actor,
                              attributes={name: value[:2000] if value.strip() else None}, reason=reason)
        elif what == "freeze":
            await state.write(freeze_contact, state.services, contact_id, reason or "frozen by hand", actor=actor)
        else:
            if not reason:
                raise FieldError("reason", "say why the freeze is lifted")
            await state.write(lift_freeze, state.services, contact_id, by=actor, reason=reason)
    except ContactNotFound:
        return render(request, me, "not_found.html", {"title": N_("Contact not found")}, status_code=404)
    except (FormError, FieldError) as exc:
        return await _profile(request, me, contact_id, status=422, error=str(exc))
    except (ValueError, LookupError) as exc:  # NotFrozen, a value a standard field refuses
        return await _profile(request, me, contact_id, status=409, error=str(exc))
    return RedirectResponse(f"/contacts/{contact_id}?done={what}", status_code=303)


@router.post("/contacts/{contact_id}/tags", **allow("contacts.write"))
async def edit_tags(request: Request, me: Me, contact_id: ContactId) -> Response:
    return await _change(request, me, contact_id, "tags")


@router.post("/contacts/{contact_id}/attributes", **allow("contacts.write"))
async def edit_attribute(request: Request, me: Me, contact_id: ContactId) -> Response:
    return await _change(request, me, contact_id, "attribute")


@router.post("/contacts/{contact_id}/freeze", **allow("contacts.write"))
async def freeze(request: Request, me: Me, contact_id: ContactId) -> Response:
    return await _change(request, me, contact_id, "freeze")


@router.post("/contacts/{contact_id}/unfreeze", **allow("contacts.write"))
async def unfreeze(request: Request, me: Me, contact_id: ContactId) -> Response:
    return await _change(request, me, contact_id, "unfreeze")
