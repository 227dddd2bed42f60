"""``/settings/incidents`` (P7, administrators): declare an incident or run the monthly drill, follow one incident —
its state, its three clocks (isolate 1 h, report 4 h, notify 24 h) and its timeline — tick off its steps, lift the
kill switch and close it. The same services as ``/v1/incidents`` and ``touchflow incident`` (each step an audit row
with subject ``incident:<id>``); the drill is ``engine.drill``'s, on a throwaway sandbox copy, recorded in the real
audit log as ``incident.drill``. Every route needs ``incidents.manage``: anyone else gets the refusal page and no
controls, and a POST is refused by the server whatever the page showed."""

from __future__ import annotations

from typing import Any

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
from touchflow.engine.drill import run_drill
from touchflow.services.audit import search_audit
from touchflow.services.incidents import (
    IncidentNotFound,
    close_incident,
    get_incident,
    incident_timeline,
    list_incidents,
    mark_step_done,
    open_incident,
    resume_sending,
)

__all__ = ["DRILL_PEOPLE", "TIMELINE_ACTIONS", "router"]

router = APIRouter()
DRILL_PEOPLE = 50  # contacts in the drill's sandbox broadcast: enough for several batches, quick enough to wait for
STEP_NAMES = {"isolate": N_("Isolate (within 1 hour)"), "report": N_("Report to the regulator (within 4 hours)"),
              "notify": N_("Notify the people affected (within 24 hours)")}
CLOCK_STATES = {"open": N_("Running"), "overdue": N_("Overdue"), "done": N_("Done in time"),
                "done_late": N_("Done late")}
TIMELINE_ACTIONS = {
    "incident.open": N_("Incident declared"), "incident.kill_switch": N_("Sending and exports stopped (kill switch)"),
    "incident.revoke_access": N_("Every API key and session revoked"),
    "incident.step.isolate": N_("Isolation marked done"),
    "incident.step.report": N_("Report to the regulator marked done"),
    "incident.step.notify": N_("Notifying the people affected marked done"),
    "incident.notify.drafted": N_("Notices drafted, waiting for a second person"),
    "incident.notify.queued": N_("Notices queued"), "incident.resume": N_("Sending and exports resumed"),
    "incident.close": N_("Incident closed"),
}
DRILL_STEPS = {"prepare": N_("Sandbox prepared"), "broadcast_started": N_("A broadcast is going out"),
               "open_incident": N_("Incident declared"), "broadcast_stopped": N_("The kill switch stopped it"),
               "affected": N_("People affected found"), "notices_approved": N_("Notices approved by a second person"),
               "clocks": N_("Clocks marked done"), "resume_and_close": N_("Sending resumed, incident closed")}
DONE = ("opened", "step", "closed", "resumed", "drilled", "drill_failed")


def _drills(request: Request) -> list[dict[str, Any]]:
    found = search_audit(services(request), AuditQuery(action="incident.drill"), 200)[-5:]
    return [{"at": r.at, "by": masked(r.actor), "ok": bool(r.details.get("ok")),
             "steps": [s for s in r.details.get("steps", []) if isinstance(s, dict)]} for r in reversed(found)]


async def _list_page(request: Request, me: ConsoleUser, status: int = 200, **values: Any) -> Response:
    found = await run_in_threadpool(list_incidents, services(request))
    drills = await run_in_threadpool(_drills, request)
    lines = [{"v": v, "opened_by": masked(v.incident.opened_by)} for v in found]
    return render(request, me, "settings/incidents.html",
                  {"title": N_("Incidents"), "lines": lines, "drills": drills, "drill_steps": DRILL_STEPS,
                   "step_names": STEP_NAMES, "clock_states": CLOCK_STATES, "drill_people": DRILL_PEOPLE, **values},
                  status_code=status)


@router.get("/settings/incidents", **allow("incidents.manage"))
async def incidents_page(request: Request, me: Me, done: str = "") -> Response:
    return await _list_page(request, me, done=done if done in DONE else "")


async def _detail_page(request: Request, me: ConsoleUser, incident_id: str, status: int = 200,
                       **values: Any) -> Response:
    ctx = services(request)
    try:
        view = await run_in_threadpool(get_incident, ctx, incident_id)
        rows = await run_in_threadpool(incident_timeline, ctx, view.incident.id)
    except IncidentNotFound:
        return await _list_page(request, me, 404, field_error=FieldError("incident", "no such incident"))
    timeline = [{"at": r["at"], "actor": masked(r["actor"]), "action": r["action"],
                 "label": TIMELINE_ACTIONS.get(r["action"]), "note": masked(str(r["details"].get("note") or ""))}
                for r in rows]
    return render(request, me, "settings/incident.html",
                  {"title": N_("Incident"), "v": view, "opened_by": masked(view.incident.opened_by),
                   "closed_by": masked(view.incident.closed_by), "timeline": timeline, "step_names": STEP_NAMES,
                   "clock_states": CLOCK_STATES, **values}, status_code=status)


@router.get("/settings/incidents/{incident_id}", **allow("incidents.manage"))
async def incident_page(request: Request, me: Me, incident_id: str, done: str = "") -> Response:
    return await _detail_page(request, me, incident_id[:64], done=done if done in DONE else "")


@router.post("/settings/incidents", **allow("incidents.manage"))
async def incidents_open(request: Request, me: Me) -> Response:
    state = api_state(request)
    try:
        form = await read_form(request)
        view = await state.write(open_incident, state.services, actor=me.principal.actor,
                                 summary=form.get("summary", "")[:2000], revoke_access=form.get("revoke") == "1",
                                 drill=form.get("drill") == "1")
    except (FieldError, FormError) as exc:
        return await _list_page(request, me, 422, field_error=exc)
    return back(f"/settings/incidents/{view.incident.id}", done="opened")


@router.post("/settings/incidents/drill", **allow("incidents.manage"))
async def incidents_drill(request: Request, me: Me) -> Response:
    """The monthly drill on a sandbox copy (nothing stops here); only its audit row lands in this workspace."""
    opener = getattr(request.app.state, "open_sandbox", None)
    if opener is None:
        return await _list_page(request, me, 409, field_error=FieldError("action", "no sandbox on this server"))
    report = await run_in_threadpool(run_drill, services(request), actor=me.principal.actor, open_store=opener,
                                     people=DRILL_PEOPLE)
    return back("/settings/incidents", done="drilled" if report.ok else "drill_failed")


def _after(form: dict[str, str], incident_id: str, done: str) -> Response:
    """Back to the page the form was on: the incident's own page, or the list."""
    if form.get("from") == "incident":
        return back(f"/settings/incidents/{incident_id}", done=done)
    return back("/settings/incidents", done=done)


async def _refused(request: Request, me: ConsoleUser, form: dict[str, str], incident_id: str,
                   exc: Exception) -> Response:
    if isinstance(exc, IncidentNotFound):
        return await _list_page(request, me, 404, field_error=FieldError("incident", "no such incident"))
    if form.get("from") == "incident":
        return await _detail_page(request, me, incident_id, 422, field_error=exc)
    return await _list_page(request, me, 422, field_error=exc)


@router.post("/settings/incidents/{incident_id}/step", **allow("incidents.manage"))
async def incidents_step(request: Request, me: Me, incident_id: str) -> Response:
    state = api_state(request)
    form: dict[str, str] = {}
    try:
        form = await read_form(request)
        await state.write(mark_step_done, state.services, incident_id[:64], form.get("step", ""),
                          actor=me.principal.actor, note=form.get("note", "").strip()[:1000] or None)
    except (IncidentNotFound, FieldError, FormError) as exc:
        return await _refused(request, me, form, incident_id[:64], exc)
    return _after(form, incident_id[:64], "step")


@router.post("/settings/incidents/{incident_id}/close", **allow("incidents.manage"))
async def incidents_close(request: Request, me: Me, incident_id: str) -> Response:
    state = api_state(request)
    form: dict[str, str] = {}
    try:
        form = await read_form(request)
        await state.write(close_incident, state.services, incident_id[:64], actor=me.principal.actor)
    except (IncidentNotFound, FieldError, FormError) as exc:
        return await _refused(request, me, form, incident_id[:64], exc)
    return _after(form, incident_id[:64], "closed")


@router.post("/settings/incidents/resume", **allow("incidents.manage"))
async def incidents_resume(request: Request, me: Me) -> Response:
    """Lift the kill switch: sending and exports resume (audited as ``incident.resume``)."""
    state = api_state(request)
    try:
        form = await read_form(request)
    except FormError:
        form = {}  # where to go back to is all the form says: the list, then
    resumed = await state.write(resume_sending, state.services, actor=me.principal.actor)
    return _after(form, resumed or "", "resumed") if resumed else back("/settings/incidents", done="resumed")
