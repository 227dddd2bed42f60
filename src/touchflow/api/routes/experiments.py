"""``/v1/experiments``: governed A/B tests (A5). Reading needs ``reports.read``; creating a draft, editing it,
starting, stopping and rolling out change (or prepare to change) what contacts receive, so they need
``journeys.publish``."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
import yaml
from fastapi import APIRouter, Path, Request
from starlette.responses import Response

from touchflow.api.permissions import Acting, permit
from touchflow.api.routes import ApiError, api_state, json_response, read_body
from touchflow.api.schemas import ErrorOut
from touchflow.domain.limits import json_problem
from touchflow.domain.measurement.experiment_rules import Experiment, ExperimentRefused
from touchflow.domain.safe_yaml import load_yaml
from touchflow.services.experiments import (
    ExperimentError,
    create_experiment,
    experiment_report,
    list_experiments,
    rollout_experiment,
    start_experiment,
    stop_experiment,
    update_experiment,
)

__all__ = ["experiment_document", "router"]

router = APIRouter(prefix="/v1/experiments", tags=["experiments"])
Key = Annotated[str, Path(max_length=64)]
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "missing, unknown or revoked API key"},
    404: {"model": ErrorOut, "description": "no such experiment"},
    409: {"model": ErrorOut, "description": "the experiment exists, is not running, or is no longer a draft"},
    422: {"model": ErrorOut, "description": "unusable input (`errors[0].field`) or refused by governance "
                                            "(`errors[*].field` is the rule: arm-share, min-duration, confidence…)"},
}


def experiment_document(e: Experiment) -> dict[str, Any]:
    return {"key": e.spec.key, "state": e.state, "spec": e.spec.to_data(), "plan": dict(e.plan),
            "created_at": e.created_at.isoformat(), "created_by": e.created_by,
            "started_at": e.started_at.isoformat() if e.started_at else None,
            "stopped_at": e.stopped_at.isoformat() if e.stopped_at else None, "stop_reason": e.stop_reason,
            "winner": e.winner, "rolled_out_version": e.rolled_out_version, "analysis": e.last_analysis}


def _fail(exc: ValueError) -> ApiError:
    if isinstance(exc, ExperimentRefused):
        return ApiError(422, f"refused by governance: {exc}",
                        [{"field": r.rule, "reason": r.message} for r in exc.refusals])
    if isinstance(exc, ExperimentError):
        return ApiError(exc.status, str(exc), [{"field": exc.field, "reason": exc.reason}])
    return ApiError(422, str(exc), [])


async def _body(request: Request) -> dict[str, Any]:
    raw = await read_body(request)
    if not raw:
        return {}
    try:
        document = orjson.loads(raw) if "json" in request.headers.get("content-type", "") else load_yaml(raw)
    except (orjson.JSONDecodeError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"body: not valid JSON or YAML: {exc}") from None
    problem = json_problem(document, "experiment")
    if problem is not None:
        raise ApiError(422, f"{problem[0]}: {problem[1]}", [{"field": problem[0], "reason": problem[1]}])
    if not isinstance(document, dict):
        raise ApiError(422, "experiment: a mapping", [{"field": "experiment", "reason": "a mapping"}])
    return document


@router.get("", summary="List experiments", response_model=None, **permit("reports.read"))
def experiments(request: Request, who: Acting) -> Response:
    return json_response({"items": [experiment_document(e) for e in list_experiments(api_state(request).services)]})


@router.get("/{key}", summary="An experiment with its analysis now", response_model=None, responses=_ERRORS,
            **permit("reports.read"))
def experiment(request: Request, key: Key, who: Acting) -> Response:
    try:
        found, analysis = experiment_report(api_state(request).services, key)
    except ValueError as exc:
        raise _fail(exc) from None
    return json_response({**experiment_document(found), "analysis": analysis.to_data()})


_OBJECT = {"requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}}}


@router.post("", summary="Create a draft experiment on a split or on journey versions (YAML or JSON body; "
             "`start: true` starts it at once)", response_model=None, responses=_ERRORS,
             **permit("journeys.publish", openapi_extra=_OBJECT))
async def create(request: Request, who: Acting) -> Response:
    state = api_state(request)
    document = await _body(request)
    start = document.pop("start", False)
    if not isinstance(start, bool):
        raise ApiError(422, "start: true or false", [{"field": "start", "reason": "true or false"}])
    try:
        created = await state.write(create_experiment, state.services, document, actor=who.actor, start=start)
    except ValueError as exc:
        raise _fail(exc) from None
    return json_response(experiment_document(created), 201)


@router.patch("/{key}", summary="Edit a draft: arms, shares, versions, metrics, strata, plan inputs",
              response_model=None, responses=_ERRORS, **permit("journeys.publish", openapi_extra=_OBJECT))
async def edit(request: Request, key: Key, who: Acting) -> Response:
    state = api_state(request)
    changes = await _body(request)
    try:
        done = await state.write(update_experiment, state.services, key, changes, actor=who.actor)
    except ValueError as exc:
        raise _fail(exc) from None
    return json_response(experiment_document(done))


@router.post("/{key}/start", summary="Start a draft (governance checked, power plan recomputed and kept)",
             response_model=None, responses=_ERRORS, **permit("journeys.publish"))
async def start(request: Request, key: Key, who: Acting) -> Response:
    state = api_state(request)
    try:
        done = await state.write(start_experiment, state.services, key, actor=who.actor)
    except ValueError as exc:
        raise _fail(exc) from None
    return json_response(experiment_document(done))


_REASON = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "required": ["reason"], "properties": {"reason": {"type": "string", "minLength": 1}}}}}}}
_ARM = {"requestBody": {"required": False, "content": {"application/json": {"schema": {
    "type": "object", "properties": {"arm": {"type": "string"}}}}}}}


@router.post("/{key}/stop", summary="Stop an experiment without a winner (body: {reason})", response_model=None,
             responses=_ERRORS, **permit("journeys.publish", openapi_extra=_REASON))
async def stop(request: Request, key: Key, who: Acting) -> Response:
    state = api_state(request)
    reason = (await _body(request)).get("reason")
    if not isinstance(reason, str):
        raise ApiError(422, "reason: required text", [{"field": "reason", "reason": "required text"}])
    try:
        done = await state.write(stop_experiment, state.services, key, actor=who.actor, reason=reason)
    except ValueError as exc:
        raise _fail(exc) from None
    return json_response(experiment_document(done))


@router.post("/{key}/rollout", summary="Roll the winner out as a new journey version (governance checked)",
             response_model=None, responses=_ERRORS, **permit("journeys.publish", openapi_extra=_ARM))
async def rollout(request: Request, key: Key, who: Acting) -> Response:
    state = api_state(request)
    arm = (await _body(request)).get("arm")
    if arm is not None and not isinstance(arm, str):
        raise ApiError(422, "arm: an arm name", [{"field": "arm", "reason": "an arm name"}])
    try:
        done = await state.write(rollout_experiment, state.services, key, actor=who.actor, arm=arm)
    except ValueError as exc:
        raise _fail(exc) from None
    return json_response(experiment_document(done))
