"""``/v1/exports`` and ``/v1/approvals``: four-eyes approvals (P4). An export is requested, a second person
approves it, the requester downloads the file (24 h, every download audited).

Who requests, decides and downloads is the authenticated principal (``who: Acting``); no body names a person.
The requester's own approval is refused (403) whatever name the key carries: the rule compares actor ids.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from touchflow.api.permissions import Acting, permit
from touchflow.api.routes import ApiError, api_state, json_response
from touchflow.api.schemas import ErrorOut
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
from touchflow.services.export_files import EXPORT_FIELDS
from touchflow.services.exports import EXPORT_KIND, download_export, request_export

__all__ = ["approval_document", "router"]

router = APIRouter(prefix="/v1", tags=["approvals"])
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "missing, unknown or revoked API key"},
    403: {"model": ErrorOut, "description": "the requester tried to decide their own request, or a permission "
                                            "is missing"},
    404: {"model": ErrorOut, "description": "no such request (or it is not yours to download)"},
    409: {"model": ErrorOut, "description": "already decided, expired, not produced yet, or exports are frozen"},
    410: {"model": ErrorOut, "description": "the file is gone (kept 24 h): request the export again"},
    422: {"model": ErrorOut, "description": "the request is not usable (the field is named)"},
}
RequestId = Annotated[str, Path(max_length=64, pattern=r"^[0-9a-f]{1,64}$")]
_REFUSED_STATUS = {"self_approval": 403, "permission": 403}
FieldName = Annotated[str, StringConstraints(pattern=rf"^({'|'.join(EXPORT_FIELDS)}|custom\.[A-Za-z0-9_\-]{{1,64}})$")]
Said = Annotated[str, StringConstraints(min_length=1, max_length=1000, pattern=r"\S")]


class ExportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: Literal["contacts", "segment"] = Field("contacts", description="all contacts, or one segment's members")
    segment: str | None = Field(None, max_length=64, description="the segment key (source=segment)")
    tag: str | None = Field(None, max_length=100, description="only contacts with this tag")
    format: Literal["csv", "xlsx", "json"] = "csv"
    fields: list[FieldName] | None = Field(None, min_length=1, max_length=60, description=(
        "default: id, name, email, phone, company, city, lifecycle_stage, tags; custom.<name> for custom attributes"))
    reason: Said = Field(..., description="why: the approver decides on it")


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str = Field("", max_length=1000, description="what the approver wants on record")


class RejectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: Said = Field(..., description="why the request is rejected")


def approval_document(r: ApprovalRequest) -> dict[str, Any]:
    kind = kinds().get(r.kind)
    return {"id": r.id, "kind": r.kind, "label": {"zh": kind.label_zh, "en": kind.label_en} if kind else None,
            "subject": r.subject, "payload": _shown(r), "reason": r.reason, "state": r.state,
            "requested_by": r.requested_by_label, "requested_at": r.requested_at, "expires_at": r.expires_at,
            "decided_by": r.decided_by_label, "decided_at": r.decided_at, "note": r.note,
            "finished_at": r.finished_at, "result": dict(r.result)}


def _shown(r: ApprovalRequest) -> dict[str, Any]:
    """Long id lists (a bulk deletion) are shown as a count; the approver sees the count and the segment."""
    return {k: (f"{len(v)} ids" if isinstance(v, list) and len(v) > 20 else v) for k, v in r.payload.items()}


def _refused(exc: ApprovalRefused) -> ApiError:
    return ApiError(_REFUSED_STATUS.get(exc.code, 409), exc.message)


def _field(exc: FieldError) -> ApiError:
    return ApiError(422, str(exc), [{"field": exc.field, "in": "body", "reason": exc.reason}])


@router.post("/exports", summary="Request an export of personal data (a second person approves it)",
             response_model=None, status_code=201, responses=_ERRORS, **permit("contacts.export"))
async def post_export(request: Request, who: Acting, body: ExportIn) -> Response:
    state = api_state(request)
    try:
        created = await state.write(request_export, state.services, who.actor, source=body.source,
                                    segment=body.segment, tag=body.tag, fmt=body.format, fields=body.fields,
                                    reason=body.reason)
    except FieldError as exc:
        raise _field(exc) from exc
    except ApprovalRefused as exc:
        raise _refused(exc) from exc
    return json_response(approval_document(created), 201)


@router.get("/approvals", summary="Approval requests, newest first", response_model=None, responses=_ERRORS,
            **permit("approvals.decide"))
def get_approvals(request: Request, who: Acting,
                  state: Annotated[Literal["pending", "approved", "rejected", "expired", "executed", "failed"] | None,
                                   Query()] = None,
                  kind: Annotated[str | None, Query(max_length=40)] = None,
                  limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> Response:
    found = list_requests(api_state(request).services, state=state, kind=kind, limit=limit)
    return json_response({"items": [approval_document(r) for r in found]})


@router.get("/approvals/{request_id}", summary="One approval request", response_model=None, responses=_ERRORS,
            **permit("approvals.decide"))
def get_approval(request: Request, who: Acting, request_id: RequestId) -> Response:
    try:
        return json_response(approval_document(get_request(api_state(request).services, request_id)))
    except ApprovalNotFound as exc:
        raise ApiError(404, str(exc)) from exc


async def _decide(request: Request, who: Acting, request_id: str, body: DecisionIn | RejectIn,
                  approving: bool) -> Response:
    state = api_state(request)
    try:
        if approving:  # the decision in the write queue; the operation (an export reads for seconds) after it
            approved = await state.write(record_approval, state.services, who, request_id, note=body.note)
            decided = await run_in_threadpool(execute_approved, state.services, approved.id, by=who.actor)
        else:
            decided = await state.write(reject, state.services, who, request_id, note=body.note)
    except ApprovalNotFound as exc:
        raise ApiError(404, str(exc)) from exc
    except ApprovalRefused as exc:
        raise _refused(exc) from exc
    except FieldError as exc:
        raise _field(exc) from exc
    return json_response(approval_document(decided))


@router.post("/approvals/{request_id}/approve", summary="Approve another person's request (then it runs)",
             response_model=None, responses=_ERRORS, **permit("approvals.decide"))
async def post_approve(request: Request, who: Acting, request_id: RequestId, body: DecisionIn | None = None
                       ) -> Response:
    return await _decide(request, who, request_id, body or DecisionIn(note=""), True)


@router.post("/approvals/{request_id}/reject", summary="Reject another person's request, saying why",
             response_model=None, responses=_ERRORS, **permit("approvals.decide"))
async def post_reject(request: Request, who: Acting, request_id: RequestId, body: RejectIn) -> Response:
    return await _decide(request, who, request_id, body, False)


@router.get("/exports/{request_id}", summary="Your export request: its state and, once produced, the file's name",
            response_model=None, responses=_ERRORS, **permit("contacts.export"))
def get_export(request: Request, who: Acting, request_id: RequestId) -> Response:
    """Only the requester sees it here (others: 404); approvers list requests under ``/v1/approvals``."""
    try:
        found = get_request(api_state(request).services, request_id)
    except ApprovalNotFound as exc:
        raise ApiError(404, str(exc)) from exc
    if found.kind != EXPORT_KIND or found.requested_by != who.actor.id:
        raise ApiError(404, f"no approval request {request_id!r}")
    return json_response(approval_document(found))


@router.get("/exports/{request_id}/download", summary="Download an approved export (its requester only, 24 h)",
            response_model=None, responses={**_ERRORS, 200: {"description": "the file (CSV, XLSX or JSON)"}},
            **permit("contacts.export"))
async def get_download(request: Request, who: Acting, request_id: RequestId) -> Response:
    state = api_state(request)
    try:
        found = get_request(state.services, request_id)
        if found.kind != EXPORT_KIND:
            raise ApprovalNotFound(request_id)
        got = await state.write(download_export, state.services, who.actor, request_id)
    except ApprovalNotFound as exc:
        raise ApiError(404, str(exc)) from exc
    except PickupRefused as exc:
        raise ApiError(410 if exc.code == "gone" else 409, exc.message) from exc
    disposition = f"attachment; filename=\"{got.name}\"; filename*=UTF-8''{quote(got.name)}"
    return Response(got.data, media_type=got.media_type,
                    headers={"Content-Disposition": disposition, "Cache-Control": "no-store",
                             "X-Touchflow-Export": got.request_id})
