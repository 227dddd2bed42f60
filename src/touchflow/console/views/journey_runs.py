"""``/journeys/{key}/runs`` (J9): one journey's runs with each contact's name and masked phone/email, by status,
paged; pause, resume, remove or retry one contact's run; archiving a journey (its runs stop) and restoring an
archived one (paused, ``services/journey_archive.py``). Thin: each route
calls one service (``services/journey_runs.py``, ``services/journeys.py``), which writes the audit row with the
signed-in person as actor. Reading needs ``journeys.read``; acting needs ``journeys.publish``, as on
``/v1/journeys/{key}/runs``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from touchflow.api.routes import api_state
from touchflow.console.auth import ConsoleUser, Me, allow, services
from touchflow.console.errors import problem_of
from touchflow.console.forms import FormError, read_form
from touchflow.console.i18n import N_
from touchflow.console.templating import render
from touchflow.console.views.settings_support import back
from touchflow.console.views.work import journeys_response
from touchflow.domain.errors import FieldError
from touchflow.services.contacts import ContactNotFound
from touchflow.services.journey_archive import restore_journey
from touchflow.services.journey_runs import RUN_STATUSES, journey_run_page
from touchflow.services.journeys import JourneyError, set_journey_status, set_run_status

__all__ = ["router"]

router = APIRouter()
PAGE = 50
Key = Annotated[str, Path(max_length=64)]
STATUS_NAMES = {"active": N_("Running"), "waiting": N_("Waiting in the journey"), "paused": N_("Paused"),
                "failed": N_("Failed"), "completed": N_("Completed"), "converted": N_("Reached the goal"),
                "exited": N_("Exited"),
                "held_out": N_("Held out")}
ACTION_NAMES = {"pause": N_("Pause"), "resume": N_("Resume"), "remove": N_("Remove from the journey"),
                "retry": N_("Retry")}
DONE = {"pause": N_("The contact's run is paused."), "resume": N_("The contact's run goes on."),
        "remove": N_("The contact was removed from the journey."), "retry": N_("The failed step will be tried again.")}


async def _runs_page(request: Request, me: ConsoleUser, key: str, status: str | None, offset: int, *,
                     done: str = "", problem: object = None, code: int = 200) -> Response:
    try:
        page = await run_in_threadpool(lambda: journey_run_page(services(request), key, status, offset, PAGE,
                                                                with_labels=me.can("contacts.read")))
    except JourneyError as exc:
        return render(request, me, "journeys/missing.html", {"title": N_("Journey not found"),
                                                             "problem": problem_of(exc)}, status_code=404)
    return render(request, me, "journeys/runs.html",
                  {"title": N_("Runs of a journey"), "page": page, "status_names": STATUS_NAMES,
                   "action_names": ACTION_NAMES, "statuses": RUN_STATUSES, "can_act": me.can("journeys.publish"),
                   "done": DONE.get(done), "problem": problem}, status_code=code)


@router.get("/journeys/{key}/runs", **allow("journeys.read"))
async def runs_page(request: Request, me: Me, key: Key, status: Annotated[str, Query(max_length=20)] = "",
                    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
                    done: Annotated[str, Query(max_length=20)] = "") -> Response:
    return await _runs_page(request, me, key, status or None, offset, done=done)


@router.post("/journeys/{key}/runs/{contact_id}/{action}", **allow("journeys.publish"))
async def run_action(request: Request, me: Me, key: Key, contact_id: Annotated[str, Path(max_length=64)],
                     action: Annotated[str, Path(max_length=20)]) -> Response:
    state = api_state(request)
    try:
        if action not in ACTION_NAMES:
            raise FieldError("action", f"one of {', '.join(ACTION_NAMES)}")
        form = await read_form(request)
        await state.write(set_run_status, state.services, key, contact_id, action, actor=me.principal.actor.label,
                          reason=form.get("reason", "").strip()[:500])
    except (FieldError, FormError, JourneyError, ContactNotFound) as exc:
        code = 404 if isinstance(exc, ContactNotFound) else 422
        return await _runs_page(request, me, key, None, 0, problem=problem_of(exc), code=code)
    return back(f"/journeys/{key}/runs", done=action)


@router.post("/journeys/{key}/archive", **allow("journeys.publish"))
async def archive(request: Request, me: Me, key: Key) -> Response:
    """Archiving stops every run of the journey (they do not come back on a restore): a reason is asked for and
    audited."""
    state = api_state(request)
    try:
        form = await read_form(request)
        reason = form.get("reason", "").strip()[:500]
        if not reason:
            raise FieldError("reason", "say why the journey is archived (its runs stop)")
        await state.write(set_journey_status, state.services, key, "archived", actor=me.principal.actor.label,
                          reason=reason)
    except (FieldError, FormError, JourneyError) as exc:
        return await journeys_response(request, me, problem=problem_of(exc), status=422)
    return back("/journeys", done="archived")



@router.post("/journeys/{key}/restore", **allow("journeys.publish"))
async def restore(request: Request, me: Me, key: Key) -> Response:
    """Bring an archived journey back, paused (a reason is asked for and audited as ``journey.restore``)."""
    state = api_state(request)
    try:
        form = await read_form(request)
        await state.write(restore_journey, state.services, key, actor=me.principal.actor.label,
                          reason=form.get("reason", "")[:1000])
    except (FormError, JourneyError) as exc:
        return await journeys_response(request, me, problem=problem_of(exc), status=422, archived=True)
    return back("/journeys", done="restored")
