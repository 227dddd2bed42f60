"""Four-eyes approvals in the console (P4): ``/settings/approvals`` lists requests and lets a second person
approve or reject them; ``/exports`` is where someone with ``contacts.export`` asks for an export and later
downloads it. The same services as ``/v1/approvals`` and ``/v1/exports``: the rule "never one's own" is the
service's (``ApprovalRefused("self_approval")``); the page only hides the buttons on one's own requests.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from touchflow.api.routes import api_state
from touchflow.console.auth import ConsoleUser, Me, allow, services
from touchflow.console.forms import FormError, read_form
from touchflow.console.i18n import N_
from touchflow.console.templating import render
from touchflow.console.views.settings_support import back, masked
from touchflow.domain.errors import FieldError
from touchflow.services.approval_files import PickupRefused
from touchflow.services.approvals import (
    ApprovalNotFound,
    ApprovalRefused,
    ApprovalRequest,
    execute_approved,
    get_request,
    kinds,
    list_requests,
    record_approval,
    reject,
)
from touchflow.services.export_files import DEFAULT_FIELDS, FORMATS
from touchflow.services.exports import EXPORT_KIND, download_export, request_export
from touchflow.services.segments import list_segments

__all__ = ["router"]

router = APIRouter()
STATES = {"pending": N_("Waiting"), "approved": N_("Approved"), "rejected": N_("Rejected"),
          "expired": N_("Expired"), "executed": N_("Done"), "failed": N_("Failed")}
REFUSALS = {"self_approval": N_("You asked for this yourself: another person must decide it."),
            "permission": N_("Your role may not decide requests of this kind."),
            "decided": N_("This request was already decided."), "expired": N_("This request has expired."),
            "held": N_("Requests of this kind are on hold (an incident froze exports). Decide later.")}


def _line(r: ApprovalRequest, me: ConsoleUser) -> dict[str, Any]:
    kind = kinds().get(r.kind)
    label = (kind.label_zh if me.preferences.locale == "zh-CN" else kind.label_en) if kind else r.kind
    shown = {k: (f"{len(v)}" if isinstance(v, list) and len(v) > 20 else v) for k, v in r.payload.items()
             if k not in ("contact_ids", "user_id", "owner_user_id")}
    return {"r": r, "label": label, "subject": masked(r.subject), "requested_by": masked(r.requested_by_label),
            "decided_by": masked(r.decided_by_label), "mine": r.requested_by == me.principal.actor.id,
            "payload": {k: masked(str(v)) for k, v in shown.items()}, "error": r.result.get("error")}


@router.get("/settings/approvals", **allow("approvals.decide"))
async def approvals_page(request: Request, me: Me, state: str = "pending", done: str = "",
                         refused: str = "") -> Response:
    wanted = state if state in STATES or state == "all" else "pending"
    found = await run_in_threadpool(list_requests, services(request), state=None if wanted == "all" else wanted)
    return render(request, me, "settings/approvals.html",
                  {"title": N_("Approvals"), "lines": [_line(r, me) for r in found], "state": wanted,
                   "states": STATES, "done": done if done in ("approved", "rejected") else "",
                   "refused": REFUSALS.get(refused, "")})


async def _decide(request: Request, me: ConsoleUser, request_id: str, approving: bool) -> Response:
    state = api_state(request)
    try:
        form = await read_form(request)
        note = form.get("note", "").strip()[:1000]
        if approving:
            approved = await state.write(record_approval, state.services, me.principal, request_id, note=note)
            await run_in_threadpool(execute_approved, state.services, approved.id, by=me.principal.actor)
        else:
            if not note:
                raise FieldError("note", "say why the request is rejected")
            await state.write(reject, state.services, me.principal, request_id, note=note)
    except ApprovalNotFound:
        return back("/settings/approvals", refused="decided")
    except ApprovalRefused as exc:
        found = await run_in_threadpool(list_requests, state.services, state="pending")
        return render(request, me, "settings/approvals.html",
                      {"title": N_("Approvals"), "lines": [_line(r, me) for r in found], "state": "pending",
                       "states": STATES, "done": "", "refused": REFUSALS.get(exc.code, REFUSALS["decided"])},
                      status_code=403 if exc.code in ("self_approval", "permission") else 409)
    except (FieldError, FormError) as exc:
        found = await run_in_threadpool(list_requests, state.services, state="pending")
        return render(request, me, "settings/approvals.html",
                      {"title": N_("Approvals"), "lines": [_line(r, me) for r in found], "state": "pending",
                       "states": STATES, "done": "", "refused": "", "field_error": exc}, status_code=422)
    return back("/settings/approvals", done="approved" if approving else "rejected")


@router.post("/settings/approvals/{request_id}/approve", **allow("approvals.decide"))
async def approve_request(request: Request, me: Me, request_id: str) -> Response:
    return await _decide(request, me, request_id[:64], True)


@router.post("/settings/approvals/{request_id}/reject", **allow("approvals.decide"))
async def reject_request(request: Request, me: Me, request_id: str) -> Response:
    return await _decide(request, me, request_id[:64], False)


# --- exports: ask, then download once approved ----------------------------------------------------------------


def _exports(request: Request, me: ConsoleUser) -> dict[str, Any]:
    ctx = services(request)
    mine = [r for r in list_requests(ctx, kind=EXPORT_KIND) if r.requested_by == me.principal.actor.id]
    segments = [s.record for s in list_segments(ctx) if s.record.status == "active"]
    return {"lines": [_line(r, me) for r in mine], "segments": segments, "formats": sorted(FORMATS)}


@router.get("/exports", **allow("contacts.export"))
async def exports_page(request: Request, me: Me, done: str = "") -> Response:
    values = await run_in_threadpool(_exports, request, me)
    return render(request, me, "settings/exports.html",
                  {"title": N_("Exports"), "states": STATES, "done": done == "requested", "form": {}, **values})


@router.post("/exports", **allow("contacts.export"))
async def exports_request(request: Request, me: Me) -> Response:
    state = api_state(request)
    form: dict[str, str] = {}
    try:
        form = await read_form(request)
        source = "segment" if form.get("segment") else "contacts"
        await state.write(request_export, state.services, me.principal.actor, source=source,
                          segment=form.get("segment") or None, tag=form.get("tag") or None,
                          fmt=form.get("format", "csv"), fields=list(DEFAULT_FIELDS),
                          reason=form.get("reason", "")[:1000])
    except (FieldError, FormError) as exc:
        values = await run_in_threadpool(_exports, request, me)
        return render(request, me, "settings/exports.html",
                      {"title": N_("Exports"), "states": STATES, "done": False, "field_error": exc, "form": form,
                       **values}, status_code=422)
    except ApprovalRefused as exc:
        values = await run_in_threadpool(_exports, request, me)
        return render(request, me, "settings/exports.html",
                      {"title": N_("Exports"), "states": STATES, "done": False, "form": form,
                       "refused": REFUSALS.get(exc.code, REFUSALS["held"]), **values}, status_code=409)
    return back("/exports", done="requested")


@router.get("/exports/{request_id}/download", **allow("contacts.export"))
async def exports_download(request: Request, me: Me, request_id: str) -> Response:
    state = api_state(request)
    try:
        found = await run_in_threadpool(get_request, state.services, request_id[:64])
        if found.kind != EXPORT_KIND or found.requested_by != me.principal.actor.id:
            raise ApprovalNotFound(request_id)
        got = await state.write(download_export, state.services, me.principal.actor, found.id)
    except ApprovalNotFound:
        return Response("no such export", status_code=404, media_type="text/plain; charset=utf-8")
    except PickupRefused as exc:
        return Response(exc.message, status_code=410 if exc.code == "gone" else 409,
                        media_type="text/plain; charset=utf-8")
    disposition = f"attachment; filename=\"{got.name}\"; filename*=UTF-8''{quote(got.name)}"
    return Response(got.data, media_type=got.media_type,
                    headers={"Content-Disposition": disposition, "Cache-Control": "no-store"})
