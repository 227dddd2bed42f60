"""``/v1/journeys``: publish, list, inspect, pause/resume/archive, enrol, intervene on a run, trace (J9)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, Field
from starlette.responses import Response

from touchflow.api.permissions import Acting, permit
from touchflow.api.routes import ApiError, api_state, json_response, read_body
from touchflow.api.schemas import ErrorOut
from touchflow.domain.governance.principals import Principal
from touchflow.domain.journeys.parse import DefinitionError
from touchflow.domain.journeys.ports import JourneyRecord
from touchflow.services.contacts import ContactNotFound
from touchflow.services.journeys import (
    JourneyError,
    enrol_contact,
    journey_stats,
    list_journeys,
    publish_journey,
    set_journey_status,
    set_run_status,
    trace_contact,
)

__all__ = ["router"]

router = APIRouter(prefix="/v1/journeys", tags=["journeys"])
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "missing, unknown or revoked API key"},
    404: {"model": ErrorOut, "description": "no such journey or contact"},
    409: {"model": ErrorOut, "description": "the journey or run is not in a state that allows this"},
    422: {"model": ErrorOut, "description": "the definition is invalid (the path is named)"},
}
Key = Annotated[str, Path(description="journey key")]
Identifier = Annotated[str, Path(description="a contact id, or email:…, phone:…, crm:…, anon:…")]


class ReasonIn(BaseModel):
    reason: str = Field(default="", max_length=500, description="why (recorded in the audit log)")


class EnrolIn(BaseModel):
    contact: str = Field(..., max_length=300, description="a contact id, or email:…, phone:…, crm:…, anon:…")


def _journey_json(record: JourneyRecord) -> dict[str, Any]:
    return {"id": record.id, "key": record.key, "name": record.name, "status": record.status,
            "version": record.current_version, "updated_at": record.updated_at.isoformat(),
            "status_reason": record.status_reason or None}


def _error(exc: Exception) -> ApiError:
    if isinstance(exc, DefinitionError):
        return ApiError(422, str(exc), [{"field": exc.path, "reason": exc.reason}])
    if isinstance(exc, ContactNotFound):
        return ApiError(404, str(exc), [{"field": "contact", "reason": "no contact has this id or identifier"}])
    message = str(exc)
    status = 404 if message.startswith("no journey") else 409
    return ApiError(status, message, [])


@router.get("", summary="List journeys", response_model=None, **permit("journeys.read"))
def journeys(request: Request) -> Response:
    return json_response({"items": [_journey_json(r) for r in list_journeys(api_state(request).services)]})


@router.post("", summary="Publish a journey version (YAML or JSON body)", response_model=None, responses=_ERRORS,
             **permit("journeys.publish", openapi_extra={"requestBody": {"required": True, "content": {
                 "application/yaml": {"schema": {"type": "string"}},
                 "application/json": {"schema": {
                     "type": "object", "description": "a journey definition, as specified by the JSON Schema "
                                                      "https://touchflow.dev/journey.schema.json "
                                                      "(docs/journey.schema.json)"}}}}}))
async def publish(request: Request, who: Acting) -> Response:
    """Lint errors block publishing; runs already inside keep the version they entered with."""
    state = api_state(request)
    text = (await read_body(request)).decode("utf-8", errors="replace")
    try:
        result = await state.write(publish_journey, state.services, text, actor=who.actor.label,
                                   templates_required=True)
    except (DefinitionError, JourneyError) as exc:
        raise _error(exc) from None
    return json_response({**_journey_json(result.journey), "unchanged": result.unchanged,
                          "findings": [{"code": f.code, "severity": f.severity, "path": f.path,
                                        "message": f.message} for f in result.findings]},
                         200 if result.unchanged else 201)


@router.get("/{key}", summary="A journey: status, runs by status, contacts at each node", response_model=None,
            responses=_ERRORS, **permit("journeys.read"))
def show(request: Request, key: Key) -> Response:
    try:
        stats = journey_stats(api_state(request).services, key)
    except JourneyError as exc:
        raise _error(exc) from None
    return json_response({**_journey_json(stats.journey), "runs": stats.runs_by_status, "at_nodes": stats.at_nodes,
                          "messages": stats.messages_by_channel, "messages_by_status": stats.messages_by_status})


async def _set_status(request: Request, who: Principal, key: str, status: str, body: ReasonIn) -> Response:
    state = api_state(request)
    try:
        record = await state.write(set_journey_status, state.services, key, status, actor=who.actor.label,
                                   reason=body.reason)
    except JourneyError as exc:
        raise _error(exc) from None
    return json_response(_journey_json(record))


@router.post("/{key}/pause", summary="Pause: no new entries, runs hold before their next step",
             response_model=None, responses=_ERRORS, **permit("journeys.publish"))
async def pause(request: Request, who: Acting, key: Key, body: ReasonIn | None = None) -> Response:
    return await _set_status(request, who, key, "paused", body or ReasonIn())


@router.post("/{key}/resume", summary="Resume a paused journey", response_model=None, responses=_ERRORS,
             **permit("journeys.publish"))
async def resume(request: Request, who: Acting, key: Key, body: ReasonIn | None = None) -> Response:
    return await _set_status(request, who, key, "active", body or ReasonIn())


@router.post("/{key}/archive", summary="Archive: runs inside end as exited", response_model=None,
             responses=_ERRORS, **permit("journeys.publish"))
async def archive(request: Request, who: Acting, key: Key, body: ReasonIn | None = None) -> Response:
    return await _set_status(request, who, key, "archived", body or ReasonIn())


@router.post("/{key}/enrol", summary="Enrol a contact (entry rules apply)", response_model=None,
             responses=_ERRORS, status_code=202, **permit("journeys.publish"))
async def enrol(request: Request, who: Acting, key: Key, body: EnrolIn) -> Response:
    state = api_state(request)
    try:
        contact_id = await state.write(enrol_contact, state.services, key, body.contact, actor=who.actor.label)
    except (JourneyError, ContactNotFound) as exc:
        raise _error(exc) from None
    return json_response({"contact_id": contact_id, "journey": key, "status": "requested"}, 202)


@router.post("/{key}/runs/{identifier}/{action}", summary="Pause, resume, remove or retry one contact's run",
             response_model=None, responses=_ERRORS, **permit("journeys.publish"))
async def run_action(request: Request, who: Acting, key: Key, identifier: Identifier,
                     action: Annotated[str, Path(pattern="^(pause|resume|remove|retry)$")],
                     body: ReasonIn | None = None) -> Response:
    state = api_state(request)
    try:
        runs = await state.write(set_run_status, state.services, key, identifier, action,
                                 actor=who.actor.label, reason=(body or ReasonIn()).reason)
    except (JourneyError, ContactNotFound) as exc:
        raise _error(exc) from None
    return json_response({"runs": [{"id": r.id, "status": r.status, "node": r.node_id} for r in runs]})


@router.get("/{key}/trace/{identifier}", summary="One contact's path through the journey", response_model=None,
            responses=_ERRORS, **permit("journeys.read"))
def trace(request: Request, key: Key, identifier: Identifier) -> Response:
    try:
        traces = trace_contact(api_state(request).services, key, identifier)
    except (JourneyError, ContactNotFound) as exc:
        raise _error(exc) from None
    return json_response([t.document() for t in traces])
