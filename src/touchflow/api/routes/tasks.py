"""``/v1/tasks``: hand-offs to sales and customer service, with their SLA (J11, G3)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from touchflow.api.permissions import Acting, permit
from touchflow.api.routes import ApiError, api_state, json_response
from touchflow.api.schemas import ErrorOut
from touchflow.domain.governance.scope import assignee_scope
from touchflow.domain.outbox import TaskRecord
from touchflow.services.assignment import timeliness_report
from touchflow.services.tasks import TaskNotFound, complete_task, list_tasks

__all__ = ["router", "task_document"]

router = APIRouter(prefix="/v1/tasks", tags=["tasks"])
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "missing, unknown or revoked API key"},
    404: {"model": ErrorOut, "description": "no such task"},
    409: {"model": ErrorOut, "description": "the task is already done"},
}


class DoneIn(BaseModel):
    """Who handled the task is the caller (its session or key), never a name in the body."""

    model_config = ConfigDict(extra="forbid")
    note: str = Field(default="", max_length=2000)


def task_document(t: TaskRecord) -> dict[str, Any]:
    return {"id": t.id, "contact_id": t.contact_id, "queue": t.queue, "title": t.title, "assignee": t.assignee,
            "status": t.status, "created_at": t.created_at.isoformat(), "due_at": t.due_at.isoformat(),
            "done_at": t.done_at.isoformat() if t.done_at else None,
            "breached_at": t.breached_at.isoformat() if t.breached_at else None,
            "journey_id": t.journey_id, "node_id": t.node_id}


@router.get("", summary="Tasks, soonest deadline first", response_model=None, **permit("tasks.read"))
def tasks(request: Request, who: Acting,
          queue: Annotated[Literal["sales", "service", "marketing"] | None, Query()] = None,
          status: Annotated[Literal["open", "done"] | None, Query()] = "open",
          limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> Response:
    """An agent sees only the tasks assigned to them."""
    found = list_tasks(api_state(request).services, queue, status, limit, assignee=assignee_scope(who))
    return json_response({"items": [task_document(t) for t in found]})


@router.get("/timeliness", summary="Share of tasks handled within their SLA, per queue and person",
            response_model=None, **permit("reports.read"))
def timeliness(request: Request, days: Annotated[int, Query(ge=1, le=366)] = 30) -> Response:
    rows = timeliness_report(api_state(request).services, days)
    return json_response({"days": days, "items": [
        {"scope": r.scope, "queue": r.queue, "assignee": r.assignee, "within_sla": r.within_sla,
         "done_late": r.done_late, "open_late": r.open_late, "pending": r.pending, "share": r.share,
         "p50_response_s": r.p50_response.total_seconds() if r.p50_response else None,
         "p90_response_s": r.p90_response.total_seconds() if r.p90_response else None} for r in rows]})


@router.post("/{task_id}/done", summary="Mark a task handled", response_model=None, responses=_ERRORS,
             **permit("tasks.work"))
async def done(request: Request, who: Acting, task_id: Annotated[str, Path(max_length=40)],
               body: DoneIn | None = None) -> Response:
    """Recorded as handled by the caller. An agent may close only the tasks assigned to them (404 otherwise)."""
    state = api_state(request)
    try:
        task = await state.write(complete_task, state.services, task_id, by=who.actor, note=(body or DoneIn()).note,
                                 assignee=assignee_scope(who))
    except TaskNotFound as exc:
        raise ApiError(404, str(exc), [{"field": "task_id", "reason": "no such task"}]) from None
    except ValueError as exc:
        raise ApiError(409, str(exc), []) from None
    return json_response(task_document(task))
