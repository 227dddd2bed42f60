"""Attribution reads (revenue credited to touches, ROI, touchpoint ranking, holdout uplift) and channel costs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from touchflow.api.permissions import Acting, permit
from touchflow.api.routes import ApiError, api_state, json_response
from touchflow.api.schemas import ErrorOut
from touchflow.domain.errors import FieldError
from touchflow.services.attribution import (
    attribution_report,
    attribution_settings,
    journey_uplift,
    roi_report,
    set_costs,
    set_window,
    touchpoint_ranking,
)
from touchflow.services.attribution_documents import (
    attribution_document,
    ranking_document,
    roi_document,
    settings_document,
    uplift_document,
    workspace_group_document,
    workspace_uplift_document,
)
from touchflow.services.workspace_holdout import (
    end_workspace_holdout,
    set_workspace_holdout,
    workspace_holdouts,
    workspace_uplift,
)

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["attribution"])
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "missing, unknown or revoked API key"},
    404: {"model": ErrorOut, "description": "no such journey"},
    422: {"model": ErrorOut, "description": "a parameter is unusable (named in errors)"},
}
ModelQ = Annotated[Literal["last", "first", "linear"], Query(description="attribution model")]
_ISO = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})$"
FromQ = Annotated[str | None, Query(alias="from", pattern=_ISO, description=(
    "start: an ISO time with its offset (2026-03-01T00:00:00+08:00); default 30 days ago"))]
ToQ = Annotated[str | None, Query(alias="to", pattern=_ISO, description="end, exclusive (ISO time); default now")]
JourneyQ = Annotated[str | None, Query(max_length=64, description="only this journey's touches (journey key)")]


def _aware(value: str | None, name: str) -> datetime | None:
    """The pattern asks for an offset; the calendar (month 13, 30 February) is checked here."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ApiError(422, f"{name}: not a real time: {value[:40]}",
                       [{"field": name, "reason": "an ISO time with an offset"}]) from None
    if parsed.tzinfo is None:  # pragma: no cover - the pattern requires the offset
        raise ApiError(422, f"{name}: give a time zone offset", [{"field": name, "reason": "a time with an offset"}])
    return parsed


def _failed(exc: Exception) -> ApiError:
    if isinstance(exc, FieldError):
        return ApiError(422, str(exc), [{"field": exc.field, "reason": exc.reason}])
    return ApiError(404, str(exc), [{"field": "journey", "reason": "no such journey"}])


@router.get("/attribution", summary="Orders of a span credited to touches (last, first or linear touch)",
            response_model=None, responses=_ERRORS, **permit("reports.read"))
def attribution(request: Request, who: Acting, model: ModelQ = "last", journey: JourneyQ = None,
                start: FromQ = None, end: ToQ = None) -> Response:
    del who  # a read: the permission is the whole check
    try:
        report = attribution_report(api_state(request).services, model=model, journey=journey,
                                    start=_aware(start, "from"), end=_aware(end, "to"))
    except (FieldError, LookupError) as exc:
        raise _failed(exc) from None
    return json_response(attribution_document(report))


@router.get("/attribution/roi", summary="Cost, attributed revenue, ROI, cost per acquisition and sales cycle",
            response_model=None, responses=_ERRORS, **permit("reports.read"))
def roi(request: Request, who: Acting, by: Annotated[Literal["journey", "channel", "period"], Query()] = "journey",
        period: Annotated[Literal["day", "week", "month"], Query()] = "month", model: ModelQ = "last",
        journey: JourneyQ = None, start: FromQ = None, end: ToQ = None) -> Response:
    del who
    try:
        report = roi_report(api_state(request).services, by=by, model=model, journey=journey,
                            start=_aware(start, "from"), end=_aware(end, "to"), period=period)
    except (FieldError, LookupError) as exc:
        raise _failed(exc) from None
    return json_response(roi_document(report))


@router.get("/attribution/touchpoints", summary="Channels and touchpoints ranked by conversions per touch (C2)",
            response_model=None, responses=_ERRORS, **permit("reports.read"))
def touchpoints(request: Request, who: Acting, model: ModelQ = "linear", start: FromQ = None,
                end: ToQ = None) -> Response:
    del who
    try:
        ranking = touchpoint_ranking(api_state(request).services, model=model, start=_aware(start, "from"),
                                     end=_aware(end, "to"))
    except FieldError as exc:
        raise _failed(exc) from None
    return json_response(ranking_document(ranking))


@router.get("/journeys/{key}/uplift", summary="Every control group of a journey: uplift with a confidence interval",
            response_model=None, responses=_ERRORS, **permit("reports.read"))
def uplift(request: Request, who: Acting, key: Annotated[str, Path(max_length=64, description="journey key")],
           confidence: Annotated[float, Query(ge=0.5, le=0.999)] = 0.95) -> Response:
    del who
    try:
        results = journey_uplift(api_state(request).services, key, confidence=confidence)
    except (FieldError, LookupError) as exc:
        raise _failed(exc) from None
    return json_response(uplift_document(key, results))


@router.get("/attribution/settings", summary="The attribution window and the cost per message of each channel",
            response_model=None, responses={401: _ERRORS[401]}, **permit("reports.read"))
def settings(request: Request, who: Acting) -> Response:
    del who
    return json_response(settings_document(attribution_settings(api_state(request).services)))


class SettingsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    costs: dict[Annotated[str, Field(max_length=32)], str | float] | None = Field(
        None, max_length=50, description="yuan per message by channel, e.g. {\"sms\": \"0.045\"}")
    window: str | None = Field(None, max_length=20, description="a duration such as 7d (at most 90d)")


@router.put("/attribution/settings", summary="Set channel costs and/or the attribution window (audited)",
            response_model=None, responses=_ERRORS, **permit("settings.manage"))
async def put_settings(request: Request, who: Acting, body: SettingsIn) -> Response:
    state = api_state(request)
    if body.costs is None and body.window is None:
        raise ApiError(422, "give costs, window or both", [{"field": "costs", "reason": "nothing to set"}])
    try:
        if body.costs is not None:
            await state.write(set_costs, state.services, body.costs, actor=who.actor.label)
        if body.window is not None:
            await state.write(set_window, state.services, body.window, actor=who.actor.label)
    except FieldError as exc:
        raise _failed(exc) from None
    return json_response(settings_document(attribution_settings(state.services)))


# --- the workspace control group (ADR 0029 addendum) ---

@router.get("/attribution/holdout", summary="Every workspace control group, newest first (the running one has no end)",
            response_model=None, responses={401: _ERRORS[401]}, **permit("reports.read"))
def holdout_list(request: Request, who: Acting) -> Response:
    del who
    return json_response({"holdouts": [workspace_group_document(g)
                                       for g in workspace_holdouts(api_state(request).services)]})


class HoldoutIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    share: float = Field(gt=0, le=0.2, description="0 < share ≤ 0.2 of all contacts, held out of every journey")
    key: str | None = Field(None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$",
                            description="assignment salt (default: from the date)")


@router.put("/attribution/holdout", summary="Start a workspace control group; a running one ends (audited)",
            response_model=None, responses=_ERRORS, **permit("settings.manage"))
async def holdout_set(request: Request, who: Acting, body: HoldoutIn) -> Response:
    state = api_state(request)
    try:
        group = await state.write(set_workspace_holdout, state.services, body.share, body.key,
                                  actor=who.actor.label)
    except FieldError as exc:
        raise _failed(exc) from None
    return json_response(workspace_group_document(group))


@router.delete("/attribution/holdout", summary="End the running workspace control group (audited; kept queryable)",
               response_model=None, responses={401: _ERRORS[401], 409: {"model": ErrorOut,
                                                                        "description": "no group is running"}},
               **permit("settings.manage"))
async def holdout_end(request: Request, who: Acting) -> Response:
    state = api_state(request)
    ended = await state.write(end_workspace_holdout, state.services, actor=who.actor.label)
    if ended is None:
        raise ApiError(409, "no workspace control group is running", [{"field": "holdout", "reason": "none running"}])
    return json_response(workspace_group_document(ended))


@router.get("/attribution/holdout/uplift", summary="Every workspace control group: uplift over all contacts",
            response_model=None, responses=_ERRORS, **permit("reports.read"))
def holdout_uplift(request: Request, who: Acting,
                   confidence: Annotated[float, Query(ge=0.5, le=0.999)] = 0.95) -> Response:
    del who
    try:
        results = workspace_uplift(api_state(request).services, confidence=confidence)
    except FieldError as exc:
        raise _failed(exc) from None
    return json_response(workspace_uplift_document(results))
