"""``/v1/privacy`` (PIPL requests) and ``/v1/incidents`` (breach response, P7).

Who acts is the authenticated principal (``who: Acting``); an erasure and incident notices become approval
requests (``/v1/approvals``) that a second person decides.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from starlette.responses import Response

from touchflow.api.permissions import Acting, permit
from touchflow.api.routes import ApiError, api_state, json_response
from touchflow.api.routes.approvals import approval_document
from touchflow.api.schemas import ErrorOut
from touchflow.domain.errors import FieldError
from touchflow.services.contacts import ContactNotFound
from touchflow.services.incident_state import ExportsFrozen, kill_switch_active
from touchflow.services.incidents import (
    IncidentNotFound,
    affected_contacts,
    close_incident,
    draft_notifications,
    get_incident,
    incident_timeline,
    list_incidents,
    mark_step_done,
    open_incident,
    resume_sending,
)
from touchflow.services.privacy import export_person, request_erasure, set_personalisation

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["privacy"])
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "missing, unknown or revoked API key"},
    403: {"model": ErrorOut, "description": "a permission is missing"},
    404: {"model": ErrorOut, "description": "no such contact or incident"},
    409: {"model": ErrorOut, "description": "exports are frozen (incident), or the step is already done"},
    422: {"model": ErrorOut, "description": "the request is not usable (the field is named)"},
}
ContactRef = Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=r"\S")]
Said = Annotated[str, StringConstraints(min_length=1, max_length=1000, pattern=r"\S")]
IncidentId = Annotated[str, Path(max_length=64, pattern=r"^[0-9a-f]{1,64}$")]


class ErasureIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    contact: ContactRef = Field(..., description="email:…, phone:…, crm:… or a contact id")
    reason: Said = Field(..., description="the request this answers: the approver decides on it")


class PersonalisationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    contact: ContactRef = Field(..., description="email:…, phone:…, crm:… or a contact id")
    opted_out: bool = Field(..., description="true: no profiling-based marketing (PIPL Art. 24)")


class IncidentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    summary: Said = Field(..., description="what happened")
    revoke_access: bool = Field(False, description="revoke every API key and session")
    since: str | None = Field(None, max_length=40, description="when the breach may have begun: ISO 8601 with a "
                                                             "zone, e.g. 2026-03-02T08:00:00+08:00")
    segment: str | None = Field(None, max_length=64, description="a segment whose members count as affected")


class StepIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(None, max_length=1000)


class NotifyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channels: list[Literal["sms", "email", "wecom", "wechat"]] = Field(["sms", "email"], min_length=1, max_length=4)


def _field(exc: FieldError) -> ApiError:
    return ApiError(422, str(exc), [{"field": exc.field, "in": "body", "reason": exc.reason}])


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise ApiError(422, "since: ISO 8601 with a zone", [{"field": "since", "in": "body",
                                                              "reason": "ISO 8601 with a zone, e.g. …+08:00"}])
    return moment


def _missing(exc: LookupError) -> ApiError:
    return ApiError(404, str(exc))


@router.get("/privacy/export", summary="Everything held about one person (PIPL Art. 45)", response_model=None,
            responses=_ERRORS, **permit("privacy.manage"))
async def get_export(request: Request, who: Acting,
                     contact: Annotated[ContactRef, Query(description="email:…, phone:… or a contact id")]
                     ) -> Response:
    state = api_state(request)
    try:
        document = await state.write(export_person, state.services, contact, actor=who.actor)  # audited
    except ContactNotFound as exc:
        raise _missing(exc) from exc
    except ExportsFrozen as exc:
        raise ApiError(409, str(exc)) from exc
    return json_response(document, headers={"Cache-Control": "no-store"})


@router.post("/privacy/erasures", summary="Ask for a person's data to be erased (a second person approves)",
             response_model=None, status_code=201, responses=_ERRORS, **permit("privacy.manage"))
async def post_erasure(request: Request, who: Acting, body: ErasureIn) -> Response:
    state = api_state(request)
    try:
        created = await state.write(request_erasure, state.services, body.contact, actor=who.actor,
                                    reason=body.reason)
    except ContactNotFound as exc:
        raise _missing(exc) from exc
    except FieldError as exc:
        raise _field(exc) from exc
    return json_response(approval_document(created), 201)


@router.put("/privacy/personalisation", summary="Opt a person out of (or back into) personalised marketing",
            response_model=None, responses=_ERRORS, **permit("privacy.manage"))
async def put_personalisation(request: Request, who: Acting, body: PersonalisationIn) -> Response:
    state = api_state(request)
    try:
        opted_out = await state.write(set_personalisation, state.services, body.contact, opted_out=body.opted_out,
                                      actor=who.actor)
    except ContactNotFound as exc:
        raise _missing(exc) from exc
    return json_response({"contact": body.contact, "personalisation": "opted_out" if opted_out else "allowed"})


@router.post("/incidents", summary="Open an incident: kill switch on, clocks start", response_model=None,
             status_code=201, responses=_ERRORS, **permit("incidents.manage"))
async def post_incident(request: Request, who: Acting, body: IncidentIn) -> Response:
    since = _moment(body.since) if body.since is not None else None
    state = api_state(request)
    try:
        view = await state.write(open_incident, state.services, actor=who.actor, summary=body.summary,
                                 revoke_access=body.revoke_access, since=since, segment=body.segment)
    except FieldError as exc:
        raise _field(exc) from exc
    return json_response(view.document(), 201)


@router.get("/incidents", summary="Incidents with their clocks, newest first", response_model=None,
            responses=_ERRORS, **permit("incidents.manage"))
def get_incidents(request: Request, who: Acting,
                  status: Annotated[Literal["open", "closed"] | None, Query()] = None) -> Response:
    return json_response({"items": [v.document() for v in list_incidents(api_state(request).services, status)]})


@router.get("/incidents/{incident_id}", summary="One incident: each clock's time left or overdue",
            response_model=None, responses=_ERRORS, **permit("incidents.manage"))
def get_one(request: Request, who: Acting, incident_id: IncidentId) -> Response:
    try:
        return json_response(get_incident(api_state(request).services, incident_id).document())
    except IncidentNotFound as exc:
        raise _missing(exc) from exc


@router.post("/incidents/{incident_id}/steps/{step}/done", summary="Mark a clock's step done",
             response_model=None, responses=_ERRORS, **permit("incidents.manage"))
async def post_step(request: Request, who: Acting, incident_id: IncidentId,
                    step: Literal["isolate", "report", "notify"], body: StepIn | None = None) -> Response:
    state = api_state(request)
    try:
        view = await state.write(mark_step_done, state.services, incident_id, step, actor=who.actor,
                                 note=body.note if body else None)
    except IncidentNotFound as exc:
        raise _missing(exc) from exc
    except FieldError as exc:
        raise ApiError(409, str(exc)) from exc
    return json_response(view.document())


@router.post("/incidents/{incident_id}/close", summary="Close an incident", response_model=None,
             responses=_ERRORS, **permit("incidents.manage"))
async def post_close(request: Request, who: Acting, incident_id: IncidentId) -> Response:
    state = api_state(request)
    try:
        view = await state.write(close_incident, state.services, incident_id, actor=who.actor)
    except IncidentNotFound as exc:
        raise _missing(exc) from exc
    except FieldError as exc:
        raise ApiError(409, str(exc)) from exc
    return json_response(view.document())


@router.get("/kill-switch", summary="Whether the incident kill switch is on (no sending, no exports)",
            response_model=None, responses=_ERRORS, **permit("incidents.manage"))
def get_kill_switch(request: Request, who: Acting) -> Response:
    return json_response({"on": kill_switch_active(api_state(request).services)})


@router.delete("/kill-switch", summary="Lift the kill switch: sending and exports resume", response_model=None,
               responses=_ERRORS, **permit("incidents.manage"))
async def delete_kill_switch(request: Request, who: Acting) -> Response:
    state = api_state(request)
    incident_id = await state.write(resume_sending, state.services, actor=who.actor)
    return json_response({"resumed": incident_id is not None, "incident": incident_id})


@router.get("/incidents/{incident_id}/affected", summary="Who is affected (read, exported or changed in the window)",
            response_model=None, responses=_ERRORS, **permit("incidents.manage"))
def get_affected(request: Request, who: Acting, incident_id: IncidentId) -> Response:
    try:
        ids = affected_contacts(api_state(request).services, incident_id)
    except IncidentNotFound as exc:
        raise _missing(exc) from exc
    return json_response({"incident": incident_id, "count": len(ids), "contact_ids": ids})


@router.get("/incidents/{incident_id}/timeline", summary="Every step, from the audit log", response_model=None,
            responses=_ERRORS, **permit("incidents.manage"))
def get_timeline(request: Request, who: Acting, incident_id: IncidentId) -> Response:
    try:
        return json_response({"items": incident_timeline(api_state(request).services, incident_id)})
    except IncidentNotFound as exc:
        raise _missing(exc) from exc


@router.post("/incidents/{incident_id}/notify", summary="Draft the notices; a second person approves sending",
             response_model=None, status_code=201, responses=_ERRORS, **permit("incidents.manage"))
async def post_notify(request: Request, who: Acting, incident_id: IncidentId, body: NotifyIn | None = None
                      ) -> Response:
    state = api_state(request)
    channels = tuple(dict.fromkeys(body.channels)) if body is not None else ("sms", "email")
    try:
        created = await state.write(draft_notifications, state.services, incident_id, actor=who.actor,
                                    channels=channels)
    except IncidentNotFound as exc:
        raise _missing(exc) from exc
    except FieldError as exc:
        raise _field(exc) from exc
    return json_response(approval_document(created), 201)
