"""``/v1/tasks``: hand-offs to sales and customer service, with their SLA (J11, G3)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field
from starlette.responses import Response

from touchflow.api.auth import Caller
from touchflow.api.routes import ApiError, api_state, json_response
from touchflow.api.schemas import ErrorOut
from touchflow.domain.ports import TaskRecord
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
    by: str = Field(..., min_length=1, max_length=100, description="who handled it")
    note: str = Field(default="", max_length=2000)


def task_document(t: TaskRecord) -> dict[str, Any]:
    return {"id": t.id, "contact_id": t.contact_id, "queue": t.queue, "title": t.title, "assignee": t.assignee,
            "status": t.status, "created_at": t.created_at.isoformat(), "due_at": t.due_at.isoformat(),
            "done_at": t.done_at.isoformat() if t.done_at else None,
            "breached_at": t.breached_at.isoformat() if t.breached_at else None,
            "journey_id": t.journey_id, "node_id": t.node_id}


@router.get("", summary="Tasks, soonest deadline first", response_model=None)
def tasks(request: Request, caller: Caller,
          queue: Annotated[Literal["sales", "service"] | None, Query()] = None,
          status: Annotated[Literal["open", "done"] | None, Query()] = "open",
          limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> Response:
    del caller
    found = list_tasks(api_state(request).services, queue, status, limit)
    return json_response({"items": [task_document(t) for t in found]})


@router.get("/timeliness", summary="Share of tasks handled within their SLA, per queue and person",
            response_model=None)
def timeliness(request: Request, caller: Caller, days: Annotated[int, Query(ge=1, le=366)] = 30) -> Response:
    del caller
    rows = timeliness_report(api_state(request).services, days)
    return json_response({"days": days, "items": [
        {"scope": r.scope, "queue": r.queue, "assignee": r.assignee, "within_sla": r.within_sla,
         "done_late": r.done_late, "open_late": r.open_late, "pending": r.pending, "share": r.share,
         "p50_response_s": r.p50_response.total_seconds() if r.p50_response else None,
         "p90_response_s": r.p90_response.total_seconds() if r.p90_response else None} for r in rows]})


@router.post("/{task_id}/done", summary="Mark a task handled", response_model=None, responses=_ERRORS)
async def done(request: Request, caller: Caller, body: DoneIn,
               task_id: Annotated[str, Path(max_length=40)]) -> Response:
    state = api_state(request)
    try:
        task = await state.write(complete_task, state.services, task_id, by=body.by, note=body.note)
    except TaskNotFound as exc:
        raise ApiError(404, str(exc), [{"field": "task_id", "reason": "no such task"}]) from None
    except ValueError as exc:
        raise ApiError(409, str(exc), []) from None
    del caller
    return json_response(task_document(task))
