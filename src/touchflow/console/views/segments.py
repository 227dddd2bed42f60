"""Segments (S-requirements, D4): the list with member counts, the condition builder with a live count and masked
sample members (``preview_segment``: nothing saved), a segment's page (its condition, members, static list edits,
a contact's membership history, the segment's whole history paged), and "export this segment", which files an
approval request (P4: an export of personal data needs a second person) and shows it pending.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

import yaml
from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from touchflow.api.routes import api_state
from touchflow.console.auth import ConsoleUser, Me, allow, services
from touchflow.console.errors import problem_of
from touchflow.console.forms import FormError, read_form
from touchflow.console.i18n import N_
from touchflow.console.templating import render
from touchflow.console.views.segment_form import ATTR_OPS, KINDS, MAX_ROWS, Builder, read_builder
from touchflow.domain.errors import FieldError, PathError
from touchflow.domain.governance.approvals import ApprovalRefused
from touchflow.services.approvals import list_requests
from touchflow.services.contacts import ContactNotFound, contact_labels
from touchflow.services.exports import EXPORT_KIND, request_export
from touchflow.services.segment_history import segment_history_page
from touchflow.services.segments import (
    SegmentExists,
    SegmentNotFound,
    add_members,
    contact_segment_history,
    create_segment,
    list_segments,
    preview_segment,
    refresh_segment,
    remove_members,
    segment_members,
)

__all__ = ["router"]

router = APIRouter()
_SAMPLE = 10
_MEMBERS_SHOWN = 50
_HISTORY_SHOWN = 25


def _builder_page(request: Request, me: ConsoleUser, builder: Builder, *, error: Exception | None = None,
                  status: int = 200) -> Response:
    """The builder; ``error`` a refused form or condition, shown through the catalogs (``console/errors.py``)."""
    return render(request, me, "segments/new.html",
                  {"title": N_("New segment"), "b": builder, "kinds": KINDS, "ops": ATTR_OPS, "max_rows": MAX_ROWS,
                   "problem": problem_of(error) if error is not None else None}, status_code=status)


@router.get("/segments", **allow("segments.read"))
async def segment_list(request: Request, me: Me) -> Response:
    found = await run_in_threadpool(list_segments, services(request))
    return render(request, me, "segments/list.html", {"title": N_("Segments"), "segments": found})


@router.get("/segments/new", **allow("segments.write"))
async def new_segment(request: Request, me: Me) -> Response:
    return _builder_page(request, me, Builder())


@router.post("/segments/builder", **allow("segments.write"))
async def builder_rows(request: Request, me: Me) -> Response:
    """htmx: the rows again after "add a condition" or "remove" (no script of our own needed)."""
    try:
        builder = read_builder(await read_form(request))
    except FormError as exc:
        return render(request, me, "segments/_preview.html", {"problem": problem_of(exc)}, status_code=422)
    return render(request, me, "segments/_rows.html", {"b": builder, "kinds": KINDS, "ops": ATTR_OPS,
                                                      "max_rows": MAX_ROWS})


@router.post("/segments/preview", **allow("segments.read"))
async def live_preview(request: Request, me: Me) -> Response:
    """htmx, after a pause in editing: how many contacts the condition selects now, and a few of them, masked."""
    try:
        builder = read_builder(await read_form(request))
        if builder.kind == "static":
            return render(request, me, "segments/_preview.html", {"static": True})
        ctx = services(request)
        found = await run_in_threadpool(preview_segment, ctx, builder.data(for_preview=True), _SAMPLE)
    except (FormError, PathError) as exc:
        return render(request, me, "segments/_preview.html", {"problem": problem_of(exc)})
    labels = await run_in_threadpool(contact_labels, ctx, found.sample) if me.can("contacts.read") else {}
    return render(request, me, "segments/_preview.html",
                  {"count": found.count, "sample": [labels.get(c) for c in found.sample], "masked_ids": found.sample})


@router.post("/segments", **allow("segments.write"))
async def save_segment(request: Request, me: Me) -> Response:
    try:
        builder = read_builder(await read_form(request))
        data = builder.data()
    except FormError as exc:
        return _builder_page(request, me, Builder(), error=exc, status=422)
    except PathError as exc:
        return _builder_page(request, me, builder, error=exc, status=422)
    state = api_state(request)
    try:
        saved = await state.write(create_segment, state.services, data, actor=me.principal.actor.label)
    except SegmentExists:
        return _builder_page(request, me, builder, status=409,
                             error=FieldError("key", f"{builder.key!r} exists already; choose another key"))
    except PathError as exc:
        return _builder_page(request, me, builder, error=exc, status=422)
    return RedirectResponse(f"/segments/{quote(saved.record.key)}?saved=1", status_code=303)


def _find(summaries: list[Any], key: str) -> Any:
    return next((s for s in summaries if s.record.key == key), None)


@router.get("/segments/{key}", **allow("segments.read"))
async def segment_page(request: Request, me: Me, key: str, contact: str = "", saved: str | None = None,
                       note: str | None = None,
                       history_before: Annotated[int | None, Query(ge=1, le=2**62)] = None) -> Response:
    ctx = services(request)
    summary = _find(await run_in_threadpool(list_segments, ctx), key)
    if summary is None:
        return render(request, me, "segments/missing.html", {"title": N_("Segment not found"), "key": key},
                      status_code=404)
    members = await run_in_threadpool(segment_members, ctx, key, None, _MEMBERS_SHOWN)
    labels = (await run_in_threadpool(contact_labels, ctx, [m[0] for m in members])
              if me.can("contacts.read") else {})
    history, history_error = None, None
    if contact.strip() and me.can("contacts.read"):
        try:
            history = [s for s in await run_in_threadpool(contact_segment_history, ctx, contact.strip()[:200])
                       if s.segment_key == key]
        except ContactNotFound:
            history_error = True
    timeline = await run_in_threadpool(lambda: segment_history_page(ctx, key, history_before, _HISTORY_SHOWN,
                                                                    with_labels=me.can("contacts.read")))
    exports = []
    if me.can("contacts.export"):
        exports = [r for r in await run_in_threadpool(lambda: list_requests(ctx, kind=EXPORT_KIND, limit=50))
                   if r.subject == f"segment:{key}"][:5]
    condition = summary.record.definition.get("condition")
    return render(request, me, "segments/detail.html",
                  {"title": N_("Segment"), "s": summary, "members": [(labels.get(c), c, since) for c, since in members],
                   "condition": yaml.safe_dump(condition, allow_unicode=True, sort_keys=False) if condition else "",
                   "contact": contact, "history": history, "history_error": history_error, "exports": exports,
                   "saved": saved, "note": note, "shown": _MEMBERS_SHOWN, "timeline": timeline})


@router.post("/segments/{key}/refresh", **allow("segments.write"))
async def refresh(request: Request, me: Me, key: str) -> Response:
    state = api_state(request)
    try:
        await state.write(refresh_segment, state.services, key)
    except (SegmentNotFound, PathError):
        return RedirectResponse("/segments", status_code=303)
    return RedirectResponse(f"/segments/{quote(key)}?note=refreshed", status_code=303)


@router.post("/segments/{key}/members", **allow("segments.write"))
async def change_members(request: Request, me: Me, key: str) -> Response:
    """A static list: one identifier a line (``email:…``, ``phone:…`` or a contact id) to add or to remove."""
    try:
        form = await read_form(request)
    except FormError:
        return RedirectResponse(f"/segments/{quote(key)}?note=form", status_code=303)
    identifiers = [line.strip() for line in form.get("identifiers", "").splitlines() if line.strip()][:1000]
    state = api_state(request)
    change = remove_members if form.get("action") == "remove" else add_members
    try:
        done = await state.write(change, state.services, key, identifiers, actor=me.principal.actor.label)
    except SegmentNotFound:
        return RedirectResponse("/segments", status_code=303)
    except PathError:
        return RedirectResponse(f"/segments/{quote(key)}?note=not_static", status_code=303)
    return RedirectResponse(f"/segments/{quote(key)}?note={'unknown' if done.unknown else 'members'}",
                            status_code=303)


@router.post("/segments/{key}/export", **allow("contacts.export"))
async def export(request: Request, me: Me, key: str) -> Response:
    """Files the approval request; the file is made only after a second person approves it (Settings › approvals)."""
    try:
        form = await read_form(request)
    except FormError:
        form = {}
    reason = form.get("reason", "").strip()[:500]
    if not reason:
        return RedirectResponse(f"/segments/{quote(key)}?note=reason", status_code=303)
    state = api_state(request)
    try:
        await state.write(request_export, state.services, me.principal.actor, source="segment", segment=key,
                          fmt="csv" if form.get("format") != "xlsx" else "xlsx", reason=reason)
    except (FieldError, ApprovalRefused, ValueError):
        return RedirectResponse(f"/segments/{quote(key)}?note=export_refused", status_code=303)
    return RedirectResponse(f"/segments/{quote(key)}?note=export", status_code=303)
