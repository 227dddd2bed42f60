"""``/v1/personas``: personas (S3), their coverage of all contacts, and their journey maps (S4)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
import yaml
from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response

from touchflow.api.permissions import Acting, permit
from touchflow.api.routes import ApiError, api_state, json_response, read_body
from touchflow.api.schemas import ErrorOut
from touchflow.domain.errors import PathError
from touchflow.domain.limits import json_problem
from touchflow.domain.safe_yaml import load_yaml
from touchflow.domain.scoring.personas import CoverageReport, persona_to_data
from touchflow.services.personas import (
    PersonaNotFound,
    SavedPersona,
    export_journey_map,
    list_personas,
    persona_coverage,
    save_persona,
    show_persona,
)

__all__ = ["coverage_document", "router"]

router = APIRouter(prefix="/v1/personas", tags=["personas"])
Key = Annotated[str, Path(max_length=64)]
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "missing, unknown or revoked API key"},
    404: {"model": ErrorOut, "description": "no such persona"},
    422: {"model": ErrorOut, "description": "the persona is unusable; `errors[0].field` names the element"},
}


def _document(saved: SavedPersona) -> dict[str, Any]:
    return {**persona_to_data(saved.persona), "created_at": saved.created_at.isoformat(),
            "updated_at": saved.updated_at.isoformat(), "updated_by": saved.updated_by}


def coverage_document(report: CoverageReport) -> dict[str, Any]:
    return {"total": report.total, "covered": report.covered, "uncovered": report.uncovered, "share": report.share,
            "target": report.target, "meets_target": report.meets_target, "in_several": report.in_several,
            "personas": [{"key": p.key, "members": p.members, "share": p.share, "only_here": p.only_here}
                         for p in report.personas],
            "overlaps": [{"personas": [o.first, o.second], "both": o.both} for o in report.overlaps]}


@router.get("", summary="List personas", response_model=None, **permit("segments.read"))
def personas(request: Request) -> Response:
    return json_response({"items": [_document(s) for s in list_personas(api_state(request).services)]})


@router.post("", summary="Create or replace a persona (YAML or JSON body)", response_model=None, responses=_ERRORS,
             **permit("segments.write", openapi_extra={"requestBody": {"required": True, "content": {
                 "application/yaml": {"schema": {"type": "string"}},
                 "application/json": {"schema": {"type": "object"}}}}}))
async def create(request: Request, who: Acting) -> Response:
    state = api_state(request)
    raw = await read_body(request)
    try:
        document = (orjson.loads(raw) if "json" in request.headers.get("content-type", "")
                    else load_yaml(raw))
    except (orjson.JSONDecodeError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"body: not valid JSON or YAML: {exc}") from None
    problem = json_problem(document, "persona")
    if problem is not None:
        raise ApiError(422, f"{problem[0]}: {problem[1]}", [{"field": problem[0], "reason": problem[1]}])
    try:
        saved = await state.write(save_persona, state.services, document, actor=who.actor.label)
    except PathError as exc:
        raise ApiError(422, str(exc), [{"field": exc.path, "reason": exc.reason}]) from None
    except ValueError as exc:
        raise ApiError(422, str(exc), []) from None
    return json_response(_document(saved), 201 if saved.created else 200)


@router.get("/coverage", summary="Share of contacts in at least one persona (target ≥ 80%), overlaps",
            response_model=None, **permit("segments.read"))
def coverage(request: Request) -> Response:
    return json_response(coverage_document(persona_coverage(api_state(request).services)))


@router.get("/{key}", summary="A persona", response_model=None, responses=_ERRORS, **permit("segments.read"))
def show(request: Request, key: Key) -> Response:
    try:
        return json_response(_document(show_persona(api_state(request).services, key)))
    except PersonaNotFound as exc:
        raise ApiError(404, str(exc), [{"field": "key", "reason": "no such persona"}]) from None


@router.get("/{key}/map", summary="The persona's journey map as Markdown or CSV", response_model=None,
            responses={**_ERRORS, 200: {"content": {"text/markdown": {}, "text/csv": {}}}}, **permit("segments.read"))
def journey_map(request: Request, key: Key,
                format: Annotated[Literal["md", "csv"], Query()] = "md") -> Response:
    try:
        text = export_journey_map(api_state(request).services, key, format)
    except PersonaNotFound as exc:
        raise ApiError(404, str(exc), [{"field": "key", "reason": "no such persona"}]) from None
    media = "text/csv" if format == "csv" else "text/markdown"
    return Response(text.encode("utf-8"), media_type=f"{media}; charset=utf-8", headers={
        "content-disposition": f'attachment; filename="{key}-journey-map.{format}"'})
