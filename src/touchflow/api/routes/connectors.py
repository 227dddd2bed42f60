"""``/v1/connectors``: pulls from CRM, ERP, shop and database systems (issue 14): define, list, show, test, queue a
run, pause, resume. Credentials come in the body's ``secrets`` and are sealed here, before the service sees them;
no response ever carries one (only their names)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from touchflow.api.permissions import Acting, permit
from touchflow.api.routes import ApiError, api_state, json_response
from touchflow.api.schemas import ErrorOut
from touchflow.domain.errors import FieldError
from touchflow.engine.connectors.kinds import kind_requirements
from touchflow.engine.connectors.runner import test_connector
from touchflow.engine.headers import MappingError, mapped_fields
from touchflow.security.crypto import SecretError
from touchflow.services.connectors import (
    ConnectorNotFound,
    add_connector,
    connector_summaries,
    request_run,
    run_json,
    set_connector_status,
    show_connector,
)

__all__ = ["router"]

router = APIRouter(prefix="/v1/connectors", tags=["connectors"])
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "missing, unknown or revoked API key"},
    404: {"model": ErrorOut, "description": "no such connector"},
    422: {"model": ErrorOut, "description": "a field is invalid (named in errors)"},
}
_MAX_SETTINGS = 64 * 1024
NameParam = Annotated[str, Path(max_length=64)]


class ConnectorIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=64)
    kind: str = Field(max_length=32)
    settings: dict[str, Any] = Field(default_factory=dict, max_length=100)
    secrets: dict[str, Annotated[str, Field(max_length=8192)]] | None = Field(default=None, max_length=20)
    record_kind: Literal["contacts", "events"] = "contacts"
    event_type: str | None = Field(default=None, max_length=64)
    mapping: dict[str, Annotated[str, Field(max_length=200)]] = Field(default_factory=dict, max_length=200)
    cursor: str | None = Field(default=None, max_length=128)
    schedule: str = Field(default="manual", max_length=100)
    replace: bool = False


def _not_found(exc: ConnectorNotFound) -> ApiError:
    return ApiError(404, str(exc), [{"field": "name", "reason": "no such connector"}])


@router.get("", summary="Connectors with their last run and sync success rate", response_model=None,
            **permit("connectors.read"))
def list_(request: Request) -> Response:
    return json_response({"items": [s.to_json() for s in connector_summaries(api_state(request).services)]})


@router.post("", summary="Add (or with replace, redefine) a connector", response_model=None, status_code=201,
             responses=_ERRORS, **permit("connectors.manage"))
async def add(request: Request, who: Acting, body: ConnectorIn) -> Response:
    state = api_state(request)
    for field, value in (("settings", body.settings), ("mapping", body.mapping)):
        try:
            encoded = orjson.dumps(value)
        except TypeError:  # an integer wider than 64 bits
            raise ApiError(422, f"{field}: a number is too large", [{"field": field, "reason": "number too large"}]
                           ) from None
        if len(encoded) > _MAX_SETTINGS or b"\\u0000" in encoded:
            raise ApiError(422, f"{field}: over 64 KiB or holds a NUL character",
                           [{"field": field, "reason": "over 64 KiB or holds a NUL character"}])
    try:
        mapped_fields(body.record_kind, body.mapping)
    except MappingError as exc:
        raise ApiError(422, str(exc), [{"field": "mapping", "reason": str(exc)}]) from None
    sealed = None
    if body.secrets:
        try:
            if state.services.secret_box is None:
                raise SecretError("no key ring")
            sealed = state.services.secret_box().seal(dict(body.secrets), f"connector:{body.name}")
        except SecretError as exc:
            raise ApiError(422, f"secrets cannot be sealed: {exc}", [{"field": "secrets", "reason": str(exc)}]
                           ) from None
    try:
        connector = await state.write(
            add_connector, state.services, body.name, body.kind, body.settings, record_kind=body.record_kind,
            event_type=body.event_type, mapping=body.mapping, cursor=body.cursor, schedule=body.schedule,
            sealed_secret=sealed, secret_names=sorted(body.secrets or {}), kinds=kind_requirements(),
            actor=who.actor.label, replace_existing=body.replace)
    except FieldError as exc:
        raise ApiError(422, str(exc), [{"field": exc.field, "reason": exc.reason}]) from None
    summary, _ = show_connector(state.services, connector.name, 1)
    return json_response(summary.to_json(), status_code=201)


@router.get("/{name}", summary="One connector and its recent runs", response_model=None, responses=_ERRORS,
            **permit("connectors.read"))
def show(request: Request, name: NameParam, runs: Annotated[int, Query(ge=1, le=1000)] = 20) -> Response:
    try:
        summary, found = show_connector(api_state(request).services, name, runs)
    except ConnectorNotFound as exc:
        raise _not_found(exc) from None
    return json_response({**summary.to_json(), "runs": [run_json(r) for r in found]})


@router.post("/{name}/test", summary="Check the connector reaches its source (stores nothing)", response_model=None,
             responses=_ERRORS, **permit("connectors.manage"))
async def test(request: Request, name: NameParam) -> Response:
    services = api_state(request).services
    box = services.secret_box
    opener = None if box is None else (lambda sealed, context: box().open(sealed, context))
    try:
        result = await run_in_threadpool(test_connector, services, name, open_secret=opener)
    except ConnectorNotFound as exc:
        raise _not_found(exc) from None
    except Exception as exc:  # the source's own answer: shown to the person who asked, never a 500
        return json_response({"ok": False, "error": f"{type(exc).__name__}: {exc}"[:2000]})
    return json_response({"ok": True, "result": result})


@router.post("/{name}/run", summary="Queue a run: the worker starts it at its next pass", response_model=None,
             status_code=202, responses={**_ERRORS, 409: {"model": ErrorOut, "description": "paused"}},
             **permit("connectors.manage"))
async def run(request: Request, who: Acting, name: NameParam) -> Response:
    state = api_state(request)
    try:
        connector = await state.write(request_run, state.services, name, actor=who.actor.label)
    except ConnectorNotFound as exc:
        raise _not_found(exc) from None
    except ValueError as exc:
        raise ApiError(409, str(exc), [{"field": "name", "reason": "paused"}]) from None
    return json_response({"name": connector.name, "queued": True}, status_code=202)


async def _status(request: Request, who: Acting, name: str, status: str) -> Response:
    state = api_state(request)
    try:
        connector = await state.write(set_connector_status, state.services, name, status, actor=who.actor.label)
    except ConnectorNotFound as exc:
        raise _not_found(exc) from None
    return json_response({"name": connector.name, "status": connector.status,
                          "next_run_at": connector.next_run_at.isoformat() if connector.next_run_at else None})


@router.post("/{name}/pause", summary="Stop scheduled runs", response_model=None, responses=_ERRORS,
             **permit("connectors.manage"))
async def pause(request: Request, who: Acting, name: NameParam) -> Response:
    return await _status(request, who, name, "paused")


@router.post("/{name}/resume", summary="Schedule runs again", response_model=None, responses=_ERRORS,
             **permit("connectors.manage"))
async def resume(request: Request, who: Acting, name: NameParam) -> Response:
    return await _status(request, who, name, "active")
