"""``/v1/alerts``: metric alert rules and their decisions (A4); ``/v1/journeys/{key}/explain`` (A3)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from enum import Enum
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Body, Path, Query, Request
from starlette.responses import Response

from touchflow.api.permissions import Acting, permit
from touchflow.api.routes import ApiError, api_state, json_response
from touchflow.api.schemas import ErrorOut
from touchflow.domain.errors import FieldError
from touchflow.domain.measurement.alert_rules import DAILY_METRICS, RuleError
from touchflow.services.alerts import alert_history, list_rules, rule_states, set_rule
from touchflow.services.explain import EXPLAIN_DIMENSIONS, explain
from touchflow.services.journeys import JourneyError
from touchflow.services.metrics import workspace_zone

__all__ = ["explain_router", "router"]

router = APIRouter(prefix="/v1/alerts", tags=["alerts"])
_FIRST_DAY, _LAST_DAY = date(1970, 1, 1), date(2999, 12, 31)  # past these, a local day has no UTC instant here
DailyMetric = Enum("DailyMetric", {m: m for m in DAILY_METRICS}, type=str)  # type: ignore[misc]
"""The rates a change can be explained for (the document lists them: a schema-valid request is a usable one)."""

explain_router = APIRouter(prefix="/v1/journeys", tags=["metrics"])
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "a rule field, metric, dimension or period that cannot be used"},
    401: {"model": ErrorOut, "description": "missing, unknown or revoked API key"},
    404: {"model": ErrorOut, "description": "no such journey"},
}
MAX_DAYS = 400


def _iso(value: object) -> object:
    return value.isoformat() if isinstance(value, (date, datetime)) else value


@router.get("", summary="Alert rules in force, their state per journey and recent decisions", response_model=None,
            responses=_ERRORS, **permit("reports.read"))
def alerts(request: Request, who: Acting, journey: Annotated[str | None, Query(max_length=64)] = None,
           limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> Response:
    services = api_state(request).services
    try:
        history = alert_history(services, journey, limit)
    except JourneyError as exc:
        raise ApiError(404, str(exc), [{"field": "journey", "reason": "no such journey"}]) from None
    states = [{k: _iso(v) for k, v in s.items()} for s in rule_states(services)]
    return json_response({
        "rules": [r.to_json() for r in list_rules(services)], "states": states,
        "history": [{"at": h.at.isoformat(), "rule": h.rule, "journey": h.details.get("journey", h.journey_id),
                     "metric": h.metric, "status": h.status, "acted": h.acted, "suppressed": h.suppressed,
                     "summary": h.summary, "details": dict(h.details)} for h in history]})


@router.put("/{name}", summary="Add or replace an alert rule", response_model=None, responses=_ERRORS,
            **permit("journeys.publish"))
async def put_rule(request: Request, who: Acting, name: Annotated[str, Path(max_length=64)],
                   document: Annotated[dict[str, Any], Body()]) -> Response:
    if document.get("name", name) != name:
        raise ApiError(400, "name: differs from the path", [{"field": "name", "reason": "differs from the path"}])
    state = api_state(request)
    try:
        rule = await state.write(set_rule, state.services, {**document, "name": name}, actor=who.actor.label)
    except RuleError as exc:
        raise ApiError(400, str(exc), [{"field": exc.field, "reason": exc.reason}]) from None
    return json_response(rule.to_json())


def _bound(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), zone).astimezone(UTC)


@explain_router.get("/{key}/explain", summary="Why a rate moved: mix shift and rate change by a dimension",
                    response_model=None, responses=_ERRORS, **permit("reports.read"))
def explain_(request: Request, who: Acting, key: Annotated[str, Path(max_length=64)],
             metric: Annotated[DailyMetric, Query()], from_: Annotated[date, Query(alias="from")],
             to: Annotated[date, Query()],
             by: Annotated[str, Query(max_length=110, description=", ".join(EXPLAIN_DIMENSIONS))] = "template",
             base_from: Annotated[date | None, Query()] = None, base_to: Annotated[date | None, Query()] = None
             ) -> Response:
    """``from``/``to``: the period (local days, inclusive); the base period defaults to the same length before."""
    services = api_state(request).services
    for name, day in (("from", from_), ("to", to), ("base_from", base_from), ("base_to", base_to)):
        if day is not None and not _FIRST_DAY <= day <= _LAST_DAY:
            raise ApiError(400, f"{name}: a day from {_FIRST_DAY} to {_LAST_DAY}",
                           [{"field": name, "reason": "out of range"}])
    if to < from_ or (to - from_).days >= MAX_DAYS:
        raise ApiError(400, "to: must be on or after from, within 400 days", [{"field": "to", "reason": "bad period"}])
    zone = workspace_zone(services)
    try:
        found = explain(services, metric.value, key, _bound(from_, zone), _bound(to + timedelta(days=1), zone), by=by,
                        base_start=_bound(base_from, zone) if base_from else None,
                        base_end=_bound(base_to + timedelta(days=1), zone) if base_to else None)
    except FieldError as exc:
        raise ApiError(400, str(exc), [{"field": exc.field, "reason": exc.reason}]) from None
    except JourneyError as exc:
        raise ApiError(404, str(exc), [{"field": "key", "reason": "no such journey"}]) from None
    return json_response(found.to_json())
