"""The journey builder's API: the draft with its version token, graph edits, the one validator, the diff.

``GET /v1/journeys/{key}/definition`` answers the YAML text and an ``ETag`` (a hash of its bytes);
``PUT`` with ``If-Match`` saves it as the draft, and a stale token is a 409 carrying both texts for a
merge view. ``POST /v1/journeys/edit`` applies graph operations to a text; ``POST /v1/journeys/lint``
checks one with the rules publishing applies, each finding pinned to its node.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Request
from pydantic import BaseModel, Field
from starlette.responses import Response

from touchflow.api.permissions import Acting, permit
from touchflow.api.routes import ApiError, api_state, json_response, read_body
from touchflow.api.schemas import ErrorOut
from touchflow.domain.errors import FieldError
from touchflow.domain.journeys.document import version_token
from touchflow.domain.journeys.dry_reactions import MAX_REACTIONS
from touchflow.domain.journeys.edits import MAX_OPS, EditError
from touchflow.domain.journeys.parse import DefinitionError
from touchflow.domain.safe_yaml import YamlTooLarge
from touchflow.engine.dry_run import dry_run, scenario_run
from touchflow.services.journey_drafts import (
    Draft,
    DraftConflict,
    NoSuchVersion,
    check_text,
    draft_diff,
    edit_and_check,
    graph_of,
    list_versions,
    read_draft,
    restore_version,
    save_draft,
)
from touchflow.services.journey_impact import impact_preview
from touchflow.services.journeys import JourneyError

__all__ = ["router"]

router = APIRouter(prefix="/v1/journeys", tags=["journey builder"])
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "missing, unknown or revoked API key"},
    404: {"model": ErrorOut, "description": "no such journey"},
    409: {"description": "the draft changed since it was loaded: `current` and `yours` for a merge view"},
    422: {"model": ErrorOut, "description": "not a journey document, or a bad operation (the field is named)"},
    428: {"model": ErrorOut, "description": "If-Match is required to change an existing journey's draft"},
}
Key = Annotated[str, Path(description="journey key", max_length=64)]
MAX_TEXT = 2 * 1024 * 1024


class EditIn(BaseModel):
    text: str = Field(..., max_length=MAX_TEXT, description="the journey YAML the operations apply to")
    ops: list[dict[str, Any]] = Field(..., max_length=MAX_OPS, description="graph operations, applied in order")


class DryRunIn(BaseModel):
    contact: str = Field(..., min_length=1, max_length=320, description="the contact: e-mail, phone or id")
    definition: str | None = Field(None, max_length=MAX_TEXT, description="journey YAML (default: the saved draft)")
    duration_days: float = Field(30, gt=0, le=366, description="how long to run in virtual time")
    reactions: list[Any] | None = Field(None, max_length=MAX_REACTIONS, description=(
        "what the contact does: [{node, does: open|click|event, event, at}] on a send or wait_event node"))


class ScenarioIn(BaseModel):
    scenario: str = Field(..., min_length=1, max_length=MAX_TEXT, description="scenario YAML (as `journey simulate`)")
    definition: str | None = Field(None, max_length=MAX_TEXT, description="journey YAML (default: the saved draft)")


class ImpactIn(BaseModel):
    definition: str | None = Field(None, max_length=MAX_TEXT, description="journey YAML (default: the saved draft)")


class LintIn(BaseModel):
    text: str = Field(..., max_length=MAX_TEXT, description="journey YAML")


def _draft_json(draft: Draft) -> dict[str, Any]:
    return {"key": draft.key, "text": draft.text, "token": draft.token, "live_version": draft.live_version,
            "is_draft": draft.is_draft, "graph": graph_of(draft.text)}


def _token(if_match: str | None) -> str | None:
    return if_match.strip().removeprefix("W/").strip('"') if if_match else None


def _problem(exc: Exception) -> ApiError:
    if isinstance(exc, EditError | DefinitionError):
        return ApiError(422, str(exc), [{"field": exc.path, "reason": exc.reason}])
    if isinstance(exc, YamlTooLarge):
        return ApiError(413 if exc.limit == "size" else 422, str(exc), [{"field": "text", "reason": str(exc)}])
    message = str(exc)
    return ApiError(404 if message.startswith("no journey") else 409, message, [])


@router.get("/{key}/definition", summary="The journey's draft (or live) YAML and its version token",
            response_model=None, responses=_ERRORS, **permit("journeys.read"))
def definition(request: Request, key: Key) -> Response:
    try:
        draft = read_draft(api_state(request).services, key)
    except JourneyError as exc:
        raise _problem(exc) from None
    return json_response(_draft_json(draft), headers={"ETag": f'"{draft.token}"'})


@router.put("/{key}/definition", summary="Save the draft (YAML body) if If-Match is the current token",
            response_model=None, responses=_ERRORS, **permit("journeys.write", openapi_extra={"requestBody": {
                "required": True, "content": {"application/yaml": {"schema": {"type": "string"}}}}}))
async def save(request: Request, who: Acting, key: Key,
               if_match: Annotated[str | None, Header(max_length=100)] = None) -> Response:
    state = api_state(request)
    try:
        text = (await read_body(request, MAX_TEXT)).decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(422, "the body is not UTF-8 text", [{"field": "body", "reason": "not UTF-8"}]) from None
    token = _token(if_match)
    try:
        draft = await state.write(save_draft, state.services, key, text, if_match=token, actor=who.actor.label)
    except DraftConflict as exc:
        yours = {"text": text, "token": version_token(text)}
        return json_response({"detail": str(exc), "errors": [{"field": "If-Match", "reason": "stale token"}],
                              "current": _draft_json(exc.current), "yours": yours}, 409)
    except (DefinitionError, YamlTooLarge, JourneyError) as exc:
        raise _problem(exc) from None
    return json_response(_draft_json(draft), headers={"ETag": f'"{draft.token}"'})


@router.get("/{key}/versions", summary="Published versions, newest first, with the contacts still running on each",
            response_model=None, responses=_ERRORS, **permit("journeys.read"))
def versions(request: Request, key: Key) -> Response:
    try:
        live, found = list_versions(api_state(request).services, key)
    except JourneyError as exc:
        raise _problem(exc) from None
    return json_response({"key": key, "live_version": live, "versions": [
        {"version": v.version, "published_at": v.published_at.isoformat(), "published_by": v.published_by,
         "running": v.running, "live": v.version == live} for v in found]})


@router.post("/{key}/versions/{version}/restore", summary="Load a published version as the draft (If-Match)",
             response_model=None, responses=_ERRORS, **permit("journeys.write"))
async def restore(request: Request, who: Acting, key: Key,
                  version: Annotated[int, Path(ge=1, le=1_000_000, description="the version to restore")],
                  if_match: Annotated[str | None, Header(max_length=100)] = None) -> Response:
    state = api_state(request)
    try:
        draft = await state.write(restore_version, state.services, key, version, if_match=_token(if_match),
                                  actor=who.actor.label)
    except DraftConflict as exc:
        return json_response({"detail": str(exc), "errors": [{"field": "If-Match", "reason": "stale token"}],
                              "current": _draft_json(exc.current)}, 409)
    except NoSuchVersion as exc:
        raise ApiError(404, str(exc), [{"field": "version", "reason": "no such version"}]) from None
    except (DefinitionError, YamlTooLarge, JourneyError) as exc:
        raise _problem(exc) from None
    return json_response(_draft_json(draft), headers={"ETag": f'"{draft.token}"'})


@router.post("/edit", summary="Apply graph operations to a journey text (the canvas's edits)",
             response_model=None, responses=_ERRORS, **permit("journeys.read"))
def edit(request: Request, body: EditIn) -> Response:
    """Pure: nothing is saved. Answers the new text, what the canvas draws and the findings."""
    try:
        edited = edit_and_check(api_state(request).services, body.text, list(body.ops))
    except (EditError, DefinitionError, YamlTooLarge) as exc:
        raise _problem(exc) from None
    return json_response({"text": edited.text, "token": version_token(edited.text), "graph": edited.graph,
                          "findings": [f.as_json() for f in edited.findings]})


@router.post("/lint", summary="Check a journey text with every rule publishing applies, pinned to nodes",
             response_model=None, responses=_ERRORS, **permit("journeys.read"))
def lint(request: Request, body: LintIn) -> Response:
    findings = check_text(api_state(request).services, body.text)
    errors = sum(f.severity == "error" for f in findings)
    return json_response({"findings": [f.as_json() for f in findings], "errors": errors,
                          "publishable": errors == 0})


@router.get("/{key}/diff", summary="The draft against the live version: nodes and edges changed, and the YAML diff",
            response_model=None, responses=_ERRORS, **permit("journeys.read"))
def diff(request: Request, key: Key) -> Response:
    try:
        semantic, unified, live_text = draft_diff(api_state(request).services, key)
    except (JourneyError, DefinitionError, YamlTooLarge) as exc:
        raise _problem(exc) from None
    return json_response({"semantic": semantic.as_json(), "yaml_diff": unified, "live_graph": graph_of(live_text)})


@router.post("/{key}/dry-run", summary="One contact through the draft in virtual time: no sends, no writes",
             response_model=None, responses=_ERRORS, **permit("journeys.read"))
def dry_run_route(request: Request, key: Key, body: DryRunIn) -> Response:
    opener = getattr(request.app.state, "open_sandbox", None)
    if opener is None:
        raise ApiError(503, "the dry run needs the sandbox, which this server was not given", [])
    try:
        result = dry_run(api_state(request).services, key, body.contact, open_store=opener, text=body.definition,
                         duration=timedelta(days=body.duration_days), reactions=body.reactions)
    except FieldError as exc:
        raise ApiError(422, str(exc), [{"field": exc.field, "reason": exc.reason}]) from None
    except YamlTooLarge as exc:
        raise _problem(exc) from None
    except JourneyError as exc:
        raise _problem(exc) from None
    return json_response(result.to_json())


@router.post("/{key}/scenario-run", summary="A scenario of personas through the draft in the sandbox: counts per node",
             response_model=None, responses=_ERRORS, **permit("journeys.read"))
def scenario_route(request: Request, key: Key, body: ScenarioIn) -> Response:
    opener = getattr(request.app.state, "open_sandbox", None)
    if opener is None:
        raise ApiError(503, "the scenario run needs the sandbox, which this server was not given", [])
    try:
        result = scenario_run(api_state(request).services, key, body.scenario, open_store=opener,
                              text=body.definition)
    except FieldError as exc:
        raise ApiError(422, str(exc), [{"field": exc.field, "reason": exc.reason}]) from None
    except (YamlTooLarge, JourneyError) as exc:
        raise _problem(exc) from None
    return json_response(result)


@router.post("/{key}/impact", summary="Before publishing: contacts at each node now, what the draft changes for them",
             response_model=None, responses=_ERRORS, **permit("journeys.read"))
def impact_route(request: Request, key: Key, body: ImpactIn) -> Response:
    try:
        result = impact_preview(api_state(request).services, key, body.definition)
    except FieldError as exc:
        raise ApiError(422, str(exc), [{"field": exc.field, "reason": exc.reason}]) from None
    except (YamlTooLarge, JourneyError) as exc:
        raise _problem(exc) from None
    return json_response(result.as_json())
