"""Live numbers of a journey on the builder's canvas, and the contacts waiting at one of its nodes (J9).

``GET /v1/journeys/{key}/live?from=&to=`` answers per node the entered, waiting, exited and converted counts and
the messages by status (the metric rollups' numbers: equal to ``GET /v1/metrics?journey=&by=step``), and per
edge the runs that took it. ``GET /v1/journeys/{key}/nodes/{node}/waiting`` lists who is at a node, by name and
masked phone and e-mail; acting on one is ``POST /v1/journeys/{key}/runs/{contact}/{action}``.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response

from touchflow.api.permissions import permit
from touchflow.api.routes import ApiError, api_state, json_response
from touchflow.api.schemas import ErrorOut
from touchflow.domain.errors import FieldError
from touchflow.services.journey_live import MAX_WAITING, live_numbers, waiting_at
from touchflow.services.journeys import JourneyError
from touchflow.services.metrics import local_today

__all__ = ["router"]

router = APIRouter(prefix="/v1/journeys", tags=["journey builder"])
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "a bad date range (the field is named)"},
    401: {"model": ErrorOut, "description": "missing, unknown or revoked API key"},
    404: {"model": ErrorOut, "description": "no such journey"},
}
Key = Annotated[str, Path(description="journey key", max_length=64)]
Node = Annotated[str, Path(description="node id", max_length=64)]
DAY = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
FromQ = Annotated[str | None, Query(alias="from", pattern=DAY, description="first local day (default: 29 days "
                                    "before `to`)")]
ToQ = Annotated[str | None, Query(alias="to", pattern=DAY, description="last local day (default: today)")]


def _day(value: str | None, field: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        raise ApiError(400, f"{field}: not a calendar day", [{"field": field, "reason": "not a calendar day"}]) \
            from None


@router.get("/{key}/live", summary="Per node and edge: entered, waiting, exited, converted, messages by status",
            response_model=None, responses=_ERRORS, **permit("journeys.read"))
def live(request: Request, key: Key, from_: FromQ = None, to: ToQ = None) -> Response:
    services = api_state(request).services
    end = _day(to, "to") or local_today(services)
    start = _day(from_, "from") or end - timedelta(days=29)
    try:
        numbers = live_numbers(services, key, start=start, end=end)
    except FieldError as exc:
        raise ApiError(400, str(exc), [{"field": exc.field, "reason": exc.reason}]) from None
    except JourneyError as exc:
        raise ApiError(404, str(exc), []) from None
    return json_response(numbers.to_json())


@router.get("/{key}/nodes/{node}/waiting", summary="The contacts at a node (name, masked phone and e-mail)",
            response_model=None, responses=_ERRORS, **permit("journeys.read", "contacts.read"))
def waiting(request: Request, key: Key, node: Node,
            limit: Annotated[int, Query(ge=1, le=MAX_WAITING)] = 50) -> Response:
    try:
        found, total = waiting_at(api_state(request).services, key, node, limit=limit)
    except JourneyError as exc:
        raise ApiError(404, str(exc), []) from None
    return json_response({"journey": key, "node": node, "total": total, "contacts": [c.to_json() for c in found]})
