"""``POST /v1/events``: the hot ingest path.

The body is parsed with orjson straight from the bytes (no pydantic model per event) and the
blocking use case runs in the threadpool, its transaction shared with the requests that came meanwhile
(group commit, ADR 0046). The answer is sent only after the transaction holding the batch committed.

Status: 200 when every item was stored or was a duplicate; 207 (Multi-Status) when some items
were rejected and the rest stored, the body telling which; 422 when every item was rejected.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from touchflow.api.permissions import permit
from touchflow.api.routes import (
    PARSE_CRASHES,
    ApiError,
    SourceHeader,
    SourceQuery,
    api_state,
    crashing_items,
    has_nul,
    json_response,
    pick_source,
    problem_json,
    read_body,
)
from touchflow.api.schemas import MAX_BATCH, ErrorOut, EventBatchOut
from touchflow.domain.records import IDENTITY_FIELDS, event_input_from
from touchflow.services.ingest import EventBatchReport, ItemProblem, RawItem

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["events"])

_BODY_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"oneOf": [
            {"$ref": "#/components/schemas/EventBatchIn"},
            {"type": "array", "minItems": 1, "maxItems": MAX_BATCH, "items": {"$ref": "#/components/schemas/EventIn"}},
        ]}}},
    },
}
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "missing, unknown or revoked API key"},
    413: {"model": ErrorOut, "description": f"more than {MAX_BATCH} events, or a body over 16 MiB"},
    422: {"model": EventBatchOut | ErrorOut, "description": "every event was rejected (see `rejected`), or the body "
                                                 "is not a batch of events (then an ErrorOut)"},
}


def parse_batch(body: bytes) -> list[Any]:
    """The events of a body: ``{"events": [...]}`` or a bare list."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"body is not valid JSON: {exc}") from None
    if isinstance(data, dict):
        if "events" not in data:
            raise ApiError(422, 'body must be {"events": [...]} or a JSON list of events',
                           [{"field": "events", "reason": "required"}])
        data = data["events"]
    if not isinstance(data, list):
        raise ApiError(422, "events: must be a list of event objects", [{"field": "events", "reason": "not a list"}])
    if not data:
        raise ApiError(422, "events: the batch is empty", [{"field": "events", "reason": "empty"}])
    if len(data) > MAX_BATCH:
        raise ApiError(413, f"events: a batch holds at most {MAX_BATCH} events, got {len(data)}; split it",
                       [{"field": "events", "reason": f"more than {MAX_BATCH} items"}])
    return data


_TEXT_KEYS = ("id", "event_id", "occurred_at", "timestamp", "time")
_IDENTITY_MAX = 255


def wire_problem(item: dict[str, Any], nul: bool) -> tuple[str | None, str] | None:
    """Type checks the JSON shape needs before the domain reads an item (cheap: a few lookups)."""
    for key in _TEXT_KEYS:
        value = item.get(key)
        if value is not None and not isinstance(value, str):
            return key, "must be a string" + (" (ISO-8601)" if key not in ("id", "event_id") else "")
    contact = item.get("contact")
    who = contact if isinstance(contact, dict) else item
    for key in IDENTITY_FIELDS:
        value = who.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, str | int):
            return key, "must be a string"
        if isinstance(value, str) and len(value) > _IDENTITY_MAX:
            return key, f"longer than {_IDENTITY_MAX} characters"
    if nul and has_nul(item):
        return None, "text must not contain NUL (\\u0000) characters"
    return None


def render(total: int, report: EventBatchReport, positions: list[int], local: list[ItemProblem]) -> dict[str, Any]:
    """Merge the service's report (on the object items) with the items refused here, by request index."""
    statuses = ["rejected"] * total
    ids: list[str | None] = [None] * total
    for at, status, event_id in zip(positions, report.statuses, report.event_ids, strict=True):
        statuses[at] = status
        ids[at] = event_id
    rejected = [ItemProblem(positions[p.index], None, p.field, p.reason) for p in report.rejected]
    rejected.extend(local)
    rejected.sort(key=lambda p: p.index)
    return {
        "accepted": report.accepted,
        "duplicates": report.duplicates,
        "contacts_created": report.contacts_created,
        "merged": report.merged,
        "rejected": [problem_json(p) for p in rejected],
        "results": [{"index": i, "status": s, "id": ids[i]} for i, s in enumerate(statuses)],
    }


@router.post(
    "/events",
    summary="Record a batch of events (at most 1,000)",
    response_model=None,
    responses={200: {"model": EventBatchOut, "description": "every event stored or acknowledged as duplicate"},
               207: {"model": EventBatchOut, "description": "some events rejected (by index and reason), "
                                                            "the others stored"},
               **_ERRORS},
    **permit("events.write", openapi_extra=_BODY_DOC),
)
async def post_events(request: Request, source: SourceQuery = None,
                      x_touchflow_source: SourceHeader = None) -> Response:
    """Each event has a `type`, optional `id`, `occurred_at` (ISO-8601) and `properties`, and at least one
    identity (email, phone, crm_id, anonymous_id/anon, openid, unionid, wecom) at the top or under `contact`.
    Events whose id is already stored are acknowledged as `duplicate` and not stored again. The answer
    comes after the batch is committed."""
    state = api_state(request)
    name = pick_source(source, x_touchflow_source)
    body_bytes = await read_body(request)
    items = parse_batch(body_bytes)
    nul = b"\\u0000" in body_bytes
    raw: list[RawItem] = []
    positions: list[int] = []
    local: list[ItemProblem] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            local.append(ItemProblem(index, None, None, f"an event must be a JSON object, got {type(item).__name__}"))
            continue
        problem = wire_problem(item, nul)
        if problem is not None:
            local.append(ItemProblem(index, None, *problem))
            continue
        raw.append(RawItem(payload=item, original=item))
        positions.append(index)
    try:
        report = await state.write_events(name, raw) if raw else EventBatchReport()
    except PARSE_CRASHES:
        now = state.services.clock.now()
        bad = crashing_items(raw, lambda payload: event_input_from(payload, name, now))
        if not bad:
            raise
        local.extend(ItemProblem(positions[i], None, *problem) for i, problem in bad.items())
        raw = [item for i, item in enumerate(raw) if i not in bad]
        positions = [at for i, at in enumerate(positions) if i not in bad]
        report = await state.write_events(name, raw) if raw else EventBatchReport()
    body = render(len(items), report, positions, local)
    if not body["rejected"]:
        return json_response(body)
    if report.accepted == 0 and report.duplicates == 0:
        body["detail"] = f"all {len(items)} events were rejected; see 'rejected'"
        return json_response(body, 422)
    return json_response(body, 207)
