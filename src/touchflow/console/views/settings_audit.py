"""``/settings/audit`` (P5: search the hash-chained log) and ``/settings/incidents`` (P7: open one, tick off its
three clocks — isolate 1 h, report 4 h, notify 24 h — and close it). Same services as ``/v1/audit`` and
``touchflow incident``; the page shows addresses masked and times in the reader's zone."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

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
from touchflow.domain.governance.audit_ports import AuditQuery
from touchflow.services.audit import search_audit
from touchflow.services.incidents import (
    IncidentNotFound,
    close_incident,
    list_incidents,
    mark_step_done,
    open_incident,
    resume_sending,
)

__all__ = ["router"]

router = APIRouter()
PAGE = 100
STEP_NAMES = {"isolate": N_("Isolate (within 1 hour)"), "report": N_("Report to the regulator (within 4 hours)"),
              "notify": N_("Notify the people affected (within 24 hours)")}
CLOCK_STATES = {"open": N_("Running"), "overdue": N_("Overdue"), "done": N_("Done in time"),
                "done_late": N_("Done late")}


def _day(value: str, field: str, zone: ZoneInfo, *, end: bool = False) -> datetime | None:
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise FieldError(field, "a day written YYYY-MM-DD") from None
    return datetime.combine(day + timedelta(days=1) if end else day, time(), zone)


def audit_query(params: dict[str, str], zone: str) -> AuditQuery:
    """The search form as the service's query: days are the reader's local days (``until`` inclusive)."""
    where = ZoneInfo(zone)
    after = params.get("after_id", "0")
    if not after.isdigit() or len(after) > 18:
        raise FieldError("after_id", "a row number")
    return AuditQuery(actor=params.get("actor", "").strip()[:100] or None,
                      action=params.get("action", "").strip()[:100] or None,
                      subject=params.get("subject", "").strip()[:300] or None,
                      since=_day(params.get("since", ""), "since", where),
                      until=_day(params.get("until", ""), "until", where, end=True), after_id=int(after))


def _rows(request: Request, query: AuditQuery) -> list[dict[str, Any]]:
    found = search_audit(services(request), query, PAGE)
    return [{"row": r, "actor": masked(r.actor), "subject": masked(r.subject),
             "details": masked(", ".join(f"{k}={v}" for k, v in r.details.items()))[:400]} for r in found]


@router.get("/settings/audit", **allow("audit.read"))
async def audit_page(request: Request, me: Me) -> Response:
    params = {k: v for k, v in request.query_params.items()}
    error: FieldError | None = None
    rows: list[dict[str, Any]] = []
    searched = any(params.get(k) for k in ("actor", "action", "subject", "since", "until"))
    try:
        query = audit_query(params, me.preferences.time_zone)
        rows = await run_in_threadpool(_rows, request, query)
    except FieldError as exc:
        error = exc
    more = len(rows) == PAGE
    next_params = {**params, "after_id": str(rows[-1]["row"].id)} if more else None
    return render(request, me, "settings/audit.html",
                  {"title": N_("Audit log"), "rows": rows, "params": params, "field_error": error,
                   "searched": searched, "next_params": next_params}, status_code=422 if error else 200)


# --- incidents ---------------------------------------------------------------------------------------------------


async def _incidents_page(request: Request, me: ConsoleUser, status: int = 200, **values: Any) -> Response:
    found = await run_in_threadpool(list_incidents, services(request))
    lines = [{"v": v, "opened_by": masked(v.incident.opened_by)} for v in found]
    return render(request, me, "settings/incidents.html",
                  {"title": N_("Incidents"), "lines": lines, "step_names": STEP_NAMES, "clock_states": CLOCK_STATES,
                   **values}, status_code=status)


@router.get("/settings/incidents", **allow("incidents.manage"))
async def incidents_page(request: Request, me: Me, done: str = "") -> Response:
    return await _incidents_page(request, me, done=done if done in ("opened", "step", "closed", "resumed") else "")


@router.post("/settings/incidents", **allow("incidents.manage"))
async def incidents_open(request: Request, me: Me) -> Response:
    state = api_state(request)
    try:
        form = await read_form(request)
        await state.write(open_incident, state.services, actor=me.principal.actor,
                          summary=form.get("summary", "")[:2000], revoke_access=form.get("revoke") == "1",
                          drill=form.get("drill") == "1")
    except (FieldError, FormError) as exc:
        return await _incidents_page(request, me, 422, field_error=exc)
    return back("/settings/incidents", done="opened")


@router.post("/settings/incidents/{incident_id}/step", **allow("incidents.manage"))
async def incidents_step(request: Request, me: Me, incident_id: str) -> Response:
    state = api_state(request)
    try:
        form = await read_form(request)
        await state.write(mark_step_done, state.services, incident_id[:64], form.get("step", ""),
                          actor=me.principal.actor, note=form.get("note", "").strip()[:1000] or None)
    except IncidentNotFound:
        return await _incidents_page(request, me, 404, field_error=FieldError("incident", "no such incident"))
    except (FieldError, FormError) as exc:
        return await _incidents_page(request, me, 422, field_error=exc)
    return back("/settings/incidents", done="step")


@router.post("/settings/incidents/{incident_id}/close", **allow("incidents.manage"))
async def incidents_close(request: Request, me: Me, incident_id: str) -> Response:
    state = api_state(request)
    try:
        await state.write(close_incident, state.services, incident_id[:64], actor=me.principal.actor)
    except IncidentNotFound:
        return await _incidents_page(request, me, 404, field_error=FieldError("incident", "no such incident"))
    except FieldError as exc:
        return await _incidents_page(request, me, 422, field_error=exc)
    return back("/settings/incidents", done="closed")


@router.post("/settings/incidents/resume", **allow("incidents.manage"))
async def incidents_resume(request: Request, me: Me) -> Response:
    """Lift the kill switch: sending and exports resume (audited as ``incident.resume``)."""
    state = api_state(request)
    await state.write(resume_sending, state.services, actor=me.principal.actor)
    return back("/settings/incidents", done="resumed")
