"""``/tasks`` (J11: queues with SLA countdowns, complete with an outcome, timeliness per person and team) and
``/journeys`` (status, key numbers, pause/resume — J9; ``?show=archived``: the archived ones, who archived each, when
and why, and restoring one — ``journey_runs``). Thin: each route calls one service."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from touchflow.api.routes import api_state
from touchflow.console.auth import ConsoleUser, Me, allow, services
from touchflow.console.errors import problem_of
from touchflow.console.forms import FormError, read_form
from touchflow.console.i18n import N_
from touchflow.console.templating import render
from touchflow.console.views.settings_support import masked
from touchflow.domain.governance.scope import assignee_scope
from touchflow.services.journey_archive import archived_journeys
from touchflow.services.journeys import JourneyError, journeys_overview, list_journeys, set_journey_status
from touchflow.services.task_board import OUTCOMES, finish_task, task_board
from touchflow.services.tasks import TaskNotFound

__all__ = ["router"]

router = APIRouter()
Queue = Literal["sales", "service", "marketing"]
OUTCOME_NAMES = {"reached": N_("Reached"), "no_answer": N_("No answer"), "not_interested": N_("Not interested"),
                 "converted": N_("Converted"), "other": N_("Other")}
PAGE = 50  # tasks shown, soonest deadline first: a queue is worked from the top
QUEUE_NAMES = {"sales": N_("Sales"), "service": N_("Service"), "marketing": N_("Marketing")}


async def _tasks(request: Request, me: ConsoleUser, queue: str | None, *, status: int = 200,
                 error: str | None = None, done: bool = False, problem: object = None) -> Response:
    board = await run_in_threadpool(task_board, services(request), queue, assignee=assignee_scope(me.principal),
                                    with_timeliness=me.can("reports.read"), limit=PAGE)
    return render(request, me, "tasks.html", {"title": N_("Tasks"), "board": board, "outcomes": OUTCOMES,
                                              "outcome_names": OUTCOME_NAMES, "queue_names": QUEUE_NAMES,
                                              "can_work": me.can("tasks.work"), "error": error, "done": done,
                                              "page": PAGE, "problem": problem},
                  status_code=status)


@router.get("/tasks", **allow("tasks.read"))
async def tasks_page(request: Request, me: Me, queue: Annotated[Queue | None, Query()] = None,
                     done: str | None = None) -> Response:
    return await _tasks(request, me, queue, done=done == "1")


@router.post("/tasks/{task_id}/done", **allow("tasks.work"))
async def task_done(request: Request, me: Me, task_id: Annotated[str, Path(max_length=40)]) -> Response:
    state = api_state(request)
    try:
        form = await read_form(request)
        await state.write(finish_task, state.services, task_id, form.get("outcome", ""), form.get("note", ""),
                          by=me.principal.actor, assignee=assignee_scope(me.principal))
    except TaskNotFound as exc:
        return await _tasks(request, me, None, status=404, problem=problem_of(exc))
    except (FormError, ValueError) as exc:
        return await _tasks(request, me, None, status=422, problem=problem_of(exc))
    return RedirectResponse("/tasks?done=1", status_code=303)


async def journeys_response(request: Request, me: ConsoleUser, *, error: str | None = None, problem: object = None,
                            done: str = "", status: int = 200, archived: bool = False) -> Response:
    """The journeys list (archived ones left out), or with ``archived`` only the archived ones; ``problem`` a
    ``console.errors.Problem`` to show."""
    ctx = services(request)
    stats = [] if archived else await run_in_threadpool(journeys_overview, ctx)
    # who/when/why (one audit read per archived journey) only on the archived tab; the other tab counts them
    gone = await run_in_threadpool(archived_journeys, ctx) if archived else []
    count = len(gone) if archived else sum(j.status == "archived" for j in await run_in_threadpool(list_journeys,
                                                                                                    ctx))
    lines = [{"a": a, "by": masked(a.archived_by), "reason": masked(a.reason)} for a in gone]
    return render(request, me, "journeys.html", {"title": N_("Journeys"), "stats": stats, "archived": lines,
                                                 "archived_count": count, "show_archived": archived,
                                                 "can_publish": me.can("journeys.publish"), "error": error,
                                                 "problem": problem, "done": done}, status_code=status)


@router.get("/journeys", **allow("journeys.read"))
async def journeys_page(request: Request, me: Me, error: str | None = None, done: str = "",
                        show: Annotated[Literal["archived"] | None, Query()] = None) -> Response:
    return await journeys_response(request, me, error=error, archived=show == "archived",
                                   done=done if done in ("archived", "restored") else "")


@router.post("/journeys/{key}/status", **allow("journeys.publish"))
async def journey_status(request: Request, me: Me, key: Annotated[str, Path(max_length=64)]) -> Response:
    state = api_state(request)
    try:
        form = await read_form(request)
        wanted = {"pause": "paused", "resume": "active"}.get(form.get("action", ""))
        if wanted is None:
            raise FormError("action", "pause or resume")
        await state.write(set_journey_status, state.services, key, wanted, actor=me.principal.actor.label,
                          reason=form.get("reason", "").strip()[:500])
    except (FormError, JourneyError) as exc:
        return await journeys_response(request, me, problem=problem_of(exc), status=422)
    return RedirectResponse("/journeys", status_code=303)
