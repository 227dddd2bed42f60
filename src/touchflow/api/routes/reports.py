"""``/v1/reports`` and ``/v1/goals``: the period reports as HTML (or JSON) and the goal table's live progress."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from starlette.responses import HTMLResponse, Response

from touchflow.api.permissions import Acting, permit
from touchflow.api.routes import ApiError, api_state, json_response
from touchflow.api.schemas import ErrorOut
from touchflow.reports.documents import goal_document, report_document
from touchflow.reports.fonts import FontMissing
from touchflow.reports.render import render_html
from touchflow.services.goals import goal_lines, goal_table
from touchflow.services.reports import build_report

__all__ = ["router"]

router = APIRouter(tags=["reports"])
# the page's own <style> and inline SVG charts; nothing is loaded from anywhere, no script runs
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_REPORT_POLICY = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
                  "form-action 'none'; frame-ancestors 'none'")
_ERRORS: dict[int | str, dict[str, Any]] = {
    200: {"description": "the report: an HTML page (default) or, with format=json, its figures",
          "content": {"text/html": {"schema": {"type": "string"}}, "application/json": {"schema": {"type": "object"}}}},
    401: {"model": ErrorOut, "description": "missing, unknown or revoked API key"},
    422: {"model": ErrorOut, "description": "a parameter is not valid (the date names it)"},
    503: {"model": ErrorOut, "description": "the CJK font for reports is not installed"},
}


def _day(text: str | None) -> date | None:
    """A calendar date written YYYY-MM-DD (not a timestamp: pydantic would read ``0`` as 1970-01-01)."""
    if text is None:
        return None
    try:
        if not _DATE.fullmatch(text):
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise ApiError(422, "date: not a date (YYYY-MM-DD)", [{"field": "date", "reason": "not a date"}]) from None


@router.get("/v1/reports/{period}", summary="A daily, weekly or monthly report (HTML, or JSON)",
            response_model=None, responses=_ERRORS, **permit("reports.read"))
def report(request: Request, who: Acting, period: Annotated[Literal["daily", "weekly", "monthly"], Path()],
           day: Annotated[str | None, Query(alias="date", max_length=10, json_schema_extra={"format": "date"},
                                            description="a day in the period (YYYY-MM-DD); default: the last "
                                                        "closed period")] = None,
           lang: Annotated[Literal["zh-CN", "en"], Query()] = "zh-CN",
           format_: Annotated[Literal["html", "json"], Query(alias="format")] = "html") -> Response:
    """KPIs against the previous period, funnels, best and worst templates, guardrail skips, compliance findings,
    goal progress and anomalies; times in the workspace's zone."""
    data = build_report(api_state(request).services, period, _day(day))
    if format_ == "json":
        return json_response(report_document(data))
    try:
        return HTMLResponse(render_html(data, lang), headers={"Content-Security-Policy": _REPORT_POLICY})
    except FontMissing as exc:
        raise ApiError(503, str(exc), []) from None


@router.get("/v1/goals", summary="The goal decomposition table with live progress and at-risk flags",
            response_model=None, responses={401: _ERRORS[401]}, **permit("reports.read"))
def goals(request: Request, who: Acting) -> Response:
    services = api_state(request).services
    table = goal_table(services)
    return json_response({"launch": table.launch.isoformat() if table.launch else None,
                          "key_results": [goal_document(g) for g in goal_lines(services, table=table)]})
