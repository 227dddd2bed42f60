"""``/v1/metrics``: KPIs from the daily rollups (A1), NPS and response times — reads only, fast enough for a
dashboard (the worker keeps the rollups fresh, at most a minute or two behind)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from touchflow.api.permissions import Acting, permit
from touchflow.api.routes import ApiError, api_state, json_response
from touchflow.api.schemas import ErrorOut
from touchflow.domain.errors import FieldError
from touchflow.domain.measurement.metrics import Dimension, row_to_dict
from touchflow.services.context import ServiceContext
from touchflow.services.metrics import local_today, metric_rows, nps, response_times

__all__ = ["router"]

router = APIRouter(prefix="/v1/metrics", tags=["metrics"])
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "an unknown dimension or journey, or `to` before `from`"},
    401: {"model": ErrorOut, "description": "missing, unknown or revoked API key"},
}
MAX_DAYS = 400

DAY = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"  # strict: a bare number is not a day
FromQ = Annotated[str | None, Query(alias="from", pattern=DAY, description="first local day, YYYY-MM-DD "
                                    "(default: 30 days before `to`)")]
ToQ = Annotated[str | None, Query(alias="to", pattern=DAY, description="last local day, YYYY-MM-DD "
                                  "(default: today, workspace zone)")]


def _day(value: str | None, field: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        raise ApiError(400, f"{field}: not a calendar day", [{"field": field, "reason": "not a calendar day"}]) \
            from None


def _window(services: ServiceContext, from_: str | None, to: str | None) -> tuple[date, date]:
    end = _day(to, "to") or local_today(services)
    start = _day(from_, "from") or end - timedelta(days=29)
    if end < start:
        raise ApiError(400, "to is before from", [{"field": "to", "reason": "is before from"}])
    if (end - start).days >= MAX_DAYS:
        raise ApiError(400, f"at most {MAX_DAYS} days", [{"field": "from", "reason": f"at most {MAX_DAYS} days"}])
    return start, end


@router.get("", summary="Counts and rates per local day (or other dimensions)", response_model=None,
            responses=_ERRORS, **permit("reports.read"))
def metrics(request: Request, who: Acting, from_: FromQ = None, to: ToQ = None,
            journey: Annotated[str | None, Query(max_length=64)] = None,
            by: Annotated[list[Dimension] | None, Query(max_length=6)] = None) -> Response:
    """``by`` is repeatable: day, journey, step, template, channel, segment. Rates are ``null`` when their
    denominator is 0."""
    services = api_state(request).services
    start, end = _window(services, from_, to)
    dims: list[str] = list(by or ["day"])
    try:
        rows = metric_rows(services, start=start, end=end, journey=journey, by=dims)
    except FieldError as exc:
        raise ApiError(400, str(exc), [{"field": exc.field, "reason": exc.reason}]) from None
    return json_response({"from": start.isoformat(), "to": end.isoformat(), "journey": journey, "by": dims,
                          "rows": [row_to_dict(r) for r in rows]})


@router.get("/nps", summary="Net Promoter Score of survey_response events", response_model=None,
            responses=_ERRORS, **permit("reports.read"))
def nps_(request: Request, who: Acting, from_: FromQ = None, to: ToQ = None) -> Response:
    services = api_state(request).services
    start, end = _window(services, from_, to)
    result = nps(services, start=start, end=end)
    return json_response({"from": start.isoformat(), "to": end.isoformat(), "nps": result.score,
                          "responses": result.responses, "promoters": result.promoters, "passives": result.passives,
                          "detractors": result.detractors, "invalid": result.invalid})


@router.get("/response-times", summary="Ingest acknowledgement, event → entry lag, lead follow-up",
            response_model=None, responses=_ERRORS, **permit("reports.read"))
def response_times_(request: Request, who: Acting, days: Annotated[int, Query(ge=1, le=366)] = 7) -> Response:
    found = response_times(api_state(request).services, days=days)
    return json_response({
        "days": days,
        "ingest": {"batches": found.ingest_batches, "p50_s": found.ingest_p50_s, "p95_s": found.ingest_p95_s},
        "entry_lag": {"runs": found.entries, "p50_s": found.entry_lag_p50_s, "p95_s": found.entry_lag_p95_s},
        "followup": [{"scope": r.scope, "queue": r.queue, "assignee": r.assignee, "share": r.share,
                      "within_sla": r.within_sla, "late": r.done_late + r.open_late,
                      "p50_response_s": r.p50_response.total_seconds() if r.p50_response else None,
                      "p90_response_s": r.p90_response.total_seconds() if r.p90_response else None}
                     for r in found.followup]})
