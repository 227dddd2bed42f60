"""``/v1/segments``: define, preview, refresh and page through segments; static members by hand."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field, field_validator
from starlette.responses import Response

from touchflow.api.permissions import Acting, permit
from touchflow.api.routes import ApiError, api_state, json_response
from touchflow.api.schemas import ErrorOut
from touchflow.domain.errors import PathError
from touchflow.domain.limits import json_problem
from touchflow.services.contacts import ContactNotFound
from touchflow.services.segments import (
    SegmentExists,
    SegmentInUse,
    SegmentNotFound,
    SegmentSummary,
    add_members,
    archive_segment,
    contact_segment_history,
    create_segment,
    list_segments,
    preview_segment,
    refresh_segment,
    remove_members,
    segment_members,
)

__all__ = ["router", "segment_document"]

router = APIRouter(prefix="/v1/segments", tags=["segments"])
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "missing, unknown or revoked API key"},
    404: {"model": ErrorOut, "description": "no such segment or contact"},
    409: {"model": ErrorOut, "description": "the segment exists already"},
    422: {"model": ErrorOut, "description": "the definition is not usable (the field names the element)"},
}
_KEY = Path(max_length=64, pattern=r"^[a-z][a-z0-9_]*$")


class SegmentIn(BaseModel):
    key: str = Field(..., max_length=64, description="lower-case letters, digits and _")
    name: str = Field(..., max_length=200)
    kind: str = Field(default="dynamic", description="dynamic (a condition) or static (listed members)")
    condition: Any = Field(default=None, description="the condition language (docs/subsystems/conditions.md)")
    description: str = Field(default="", max_length=2000)
    refresh_every: str | None = Field(default=None, max_length=20,
                                      description="full recompute period, e.g. 1h (default)")

    @field_validator("condition")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        problem = json_problem(value, "condition")
        if problem is not None:
            raise ValueError(f"{problem[0]}: {problem[1]}")
        return value

    def data(self) -> dict[str, object]:
        found: dict[str, object] = {"key": self.key, "name": self.name, "kind": self.kind}
        if self.condition is not None:
            found["condition"] = self.condition
        if self.description:
            found["description"] = self.description
        if self.refresh_every is not None:
            found["refresh_every"] = self.refresh_every
        return found


class MembersIn(BaseModel):
    add: list[str] = Field(default_factory=list, max_length=10_000, description="email:…, phone:… or ids")
    remove: list[str] = Field(default_factory=list, max_length=10_000)


def segment_document(s: SegmentSummary) -> dict[str, Any]:
    r = s.record
    return {"key": r.key, "name": r.name, "kind": r.kind, "version": r.version, "members": s.members,
            "definition": r.definition, "refresh_every_s": int(r.refresh_every.total_seconds()),
            "next_refresh_at": r.next_refresh_at.isoformat() if r.next_refresh_at else None,
            "created_at": r.created_at.isoformat(), "created_by": r.created_by, "updated_at": r.updated_at.isoformat()}


def _invalid(exc: PathError) -> ApiError:
    return ApiError(422, str(exc), [{"field": exc.path, "reason": exc.reason}])


@router.get("", summary="Segments with their member counts", response_model=None, **permit("segments.read"))
def segments(request: Request) -> Response:
    return json_response({"items": [segment_document(s) for s in list_segments(api_state(request).services)]})


@router.post("", summary="Create a segment (or a new version with replace=true) and compute its members",
             response_model=None, responses=_ERRORS, status_code=201, **permit("segments.write"))
async def create(request: Request, who: Acting, body: SegmentIn,
                 replace: Annotated[bool, Query()] = False) -> Response:
    state = api_state(request)
    try:
        summary = await state.write(create_segment, state.services, body.data(), actor=who.actor.label,
                                    replace=replace)
    except SegmentExists as exc:
        raise ApiError(409, str(exc), [{"field": "key", "reason": "exists already"}]) from None
    except PathError as exc:
        raise _invalid(exc) from None
    return json_response(segment_document(summary), status_code=201)


@router.post("/preview", summary="Count and sample of a definition, without saving it", response_model=None,
             responses=_ERRORS, **permit("segments.read"))
def preview(request: Request, body: SegmentIn,
            sample: Annotated[int, Query(ge=0, le=100)] = 10) -> Response:
    try:
        found = preview_segment(api_state(request).services, body.data(), sample)
    except PathError as exc:
        raise _invalid(exc) from None
    return json_response({"count": found.count, "sample": found.sample})


@router.get("/{key}/members", summary="A page of members by contact id", response_model=None, responses=_ERRORS,
            **permit("segments.read"))
def members(request: Request, key: Annotated[str, _KEY],
            after: Annotated[str | None, Query(max_length=40)] = None,
            limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> Response:
    try:
        page = segment_members(api_state(request).services, key, after, limit)
    except SegmentNotFound as exc:
        raise ApiError(404, str(exc), [{"field": "key", "reason": "no such segment"}]) from None
    items = [{"contact_id": cid, "since": since.isoformat()} for cid, since in page]
    return json_response({"items": items, "next_after": items[-1]["contact_id"] if len(items) == limit else None})


@router.post("/{key}/refresh", summary="Recompute a dynamic segment now", response_model=None, responses=_ERRORS,
             **permit("segments.write"))
async def refresh(request: Request, key: Annotated[str, _KEY]) -> Response:
    state = api_state(request)
    try:
        change = await state.write(refresh_segment, state.services, key)
    except SegmentNotFound as exc:
        raise ApiError(404, str(exc), [{"field": "key", "reason": "no such segment"}]) from None
    except PathError as exc:
        raise _invalid(exc) from None
    return json_response({"entered": len(change.entered), "left": len(change.left)})


@router.delete("/{key}", summary="Archive a segment (409 while an active segment or journey reads it)",
               response_model=None, responses=_ERRORS, **permit("segments.write"))
async def archive(request: Request, who: Acting, key: Annotated[str, _KEY]) -> Response:
    state = api_state(request)
    try:
        ended = await state.write(archive_segment, state.services, key, actor=who.actor.label)
    except SegmentNotFound as exc:
        raise ApiError(404, str(exc), [{"field": "key", "reason": "no such segment"}]) from None
    except SegmentInUse as exc:
        raise ApiError(409, str(exc), [{"field": "key", "reason": f"used by {u}"} for u in exc.users]) from None
    return json_response({"archived": key, "stays_ended": ended})


@router.post("/{key}/members", summary="Add or remove members of a static segment", response_model=None,
             responses=_ERRORS, **permit("segments.write"))
async def change(request: Request, who: Acting, key: Annotated[str, _KEY], body: MembersIn) -> Response:
    state = api_state(request)
    actor = who.actor.label
    try:
        added = await state.write(add_members, state.services, key, body.add, actor=actor) if body.add else None
        removed = (await state.write(remove_members, state.services, key, body.remove, actor=actor)
                   if body.remove else None)
    except SegmentNotFound as exc:
        raise ApiError(404, str(exc), [{"field": "key", "reason": "no such segment"}]) from None
    except PathError as exc:
        raise _invalid(exc) from None
    return json_response({"entered": added.entered if added else 0, "left": removed.left if removed else 0,
                          "unknown": (added.unknown if added else []) + (removed.unknown if removed else [])})


@router.get("/history/{contact}", summary="A contact's stays in segments, oldest first", response_model=None,
            responses=_ERRORS, **permit("segments.read"))
def history(request: Request, contact: Annotated[str, Path(max_length=200)]) -> Response:
    try:
        stays = contact_segment_history(api_state(request).services, contact)
    except ContactNotFound as exc:
        raise ApiError(404, str(exc), [{"field": "contact", "reason": "no such contact"}]) from None
    return json_response({"items": [{"segment": s.segment_key, "entered_at": s.entered_at.isoformat(),
                                     "left_at": s.left_at.isoformat() if s.left_at else None} for s in stays]})
