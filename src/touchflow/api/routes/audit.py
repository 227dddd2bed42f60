"""``/v1/audit``: search the audit log (P5), oldest first, with each row's hashes so a client can re-check them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from touchflow.api.permissions import Acting, permit
from touchflow.api.routes import ApiError, api_state, json_response
from touchflow.api.schemas import ErrorOut
from touchflow.domain.governance.audit_ports import AuditQuery
from touchflow.services.audit import search_audit

__all__ = ["router"]

router = APIRouter(prefix="/v1/audit", tags=["audit"])
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "missing, unknown or revoked API key"},
    403: {"model": ErrorOut, "description": "the caller's role may not read the audit log"},
}


_TIME = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})$"
_TIME_HELP = "RFC 3339 with its UTC offset, e.g. 2026-03-02T09:00:00+08:00"


def _time(name: str, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError as exc:
        raise ApiError(422, f"{name}: not a time ({exc})", [{"field": name, "in": "query", "reason": str(exc)}]) \
            from None


@router.get("", summary="Search the audit log (oldest first; page with after_id)", response_model=None,
            responses=_ERRORS, **permit("audit.read"))
def search(request: Request, who: Acting,
           actor: Annotated[str | None, Query(max_length=100)] = None,
           action: Annotated[str | None, Query(max_length=100, description="exact, or a prefix ending in '.'")]
           = None,
           subject: Annotated[str | None, Query(max_length=300)] = None,
           since: Annotated[str | None, Query(pattern=_TIME, description=f"inclusive; {_TIME_HELP}")] = None,
           until: Annotated[str | None, Query(pattern=_TIME, description=f"exclusive; {_TIME_HELP}")] = None,
           request_id: Annotated[str | None, Query(max_length=64)] = None,
           after_id: Annotated[int, Query(ge=0, le=2**62)] = 0,
           limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> Response:
    del who
    query = AuditQuery(actor, action, subject, _time("since", since), _time("until", until), request_id, after_id)
    rows = search_audit(api_state(request).services, query, limit)
    return json_response({"items": [r.as_json() for r in rows],
                          "next_after_id": rows[-1].id if len(rows) == limit else None})
