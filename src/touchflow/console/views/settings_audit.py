"""``/settings/audit`` (P5: search the hash-chained log). Same service as ``/v1/audit``; the page shows addresses
masked and times in the reader's zone. Incidents have their own pages (``settings_incidents``)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from touchflow.console.auth import Me, allow, services
from touchflow.console.i18n import N_
from touchflow.console.templating import render
from touchflow.console.views.settings_support import masked
from touchflow.domain.errors import FieldError
from touchflow.domain.governance.audit_ports import AuditQuery
from touchflow.services.audit import search_audit

__all__ = ["router"]

router = APIRouter()
PAGE = 100


def _day(value: str, field: str, zone: ZoneInfo, *, end: bool = False) -> datetime | None:
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise FieldError(field, "a day written YYYY-MM-DD") from None
    return datetime.combine(day + timedelta(days=1) if end else day, time(), zone)


def audit_query(params: dict[str, str], zone: str) -> AuditQuery:
    """The search form as the service's query: days are the reader's local days (``until`` inclusive)."""
    where = ZoneInfo(zone)
    after = params.get("after_id", "0")
    if not after.isdigit() or len(after) > 18:
        raise FieldError("after_id", "a row number")
    return AuditQuery(actor=params.get("actor", "").strip()[:100] or None,
                      action=params.get("action", "").strip()[:100] or None,
                      subject=params.get("subject", "").strip()[:300] or None,
                      since=_day(params.get("since", ""), "since", where),
                      until=_day(params.get("until", ""), "until", where, end=True), after_id=int(after))


def _rows(request: Request, query: AuditQuery) -> list[dict[str, Any]]:
    found = search_audit(services(request), query, PAGE)
    return [{"row": r, "actor": masked(r.actor), "subject": masked(r.subject),
             "details": masked(", ".join(f"{k}={v}" for k, v in r.details.items()))[:400]} for r in found]


@router.get("/settings/audit", **allow("audit.read"))
async def audit_page(request: Request, me: Me) -> Response:
    params = {k: v for k, v in request.query_params.items()}
    error: FieldError | None = None
    rows: list[dict[str, Any]] = []
    searched = any(params.get(k) for k in ("actor", "action", "subject", "since", "until"))
    try:
        query = audit_query(params, me.preferences.time_zone)
        rows = await run_in_threadpool(_rows, request, query)
    except FieldError as exc:
        error = exc
    more = len(rows) == PAGE
    next_params = {**params, "after_id": str(rows[-1]["row"].id)} if more else None
    return render(request, me, "settings/audit.html",
                  {"title": N_("Audit log"), "rows": rows, "params": params, "field_error": error,
                   "searched": searched, "next_params": next_params}, status_code=422 if error else 200)
