"""Reads for lifecycle stages and lead scores: a contact's score and stage history, the configuration.

Included before the contacts router, whose ``/v1/contacts/{identifier:contact}`` takes identifiers holding
``/`` but never one ending in ``/score`` or ``/stages`` (so another method there is a 405, not an edit).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response

from touchflow.api.permissions import Acting, permit
from touchflow.api.routes import ApiError, api_state, json_response
from touchflow.api.schemas import ErrorOut
from touchflow.domain.governance.principals import Principal
from touchflow.domain.governance.scope import assignee_scope
from touchflow.domain.scoring.model import model_document
from touchflow.services.contacts import ContactNotFound
from touchflow.services.context import ServiceContext
from touchflow.services.lifecycle import current_lifecycle, stage_history
from touchflow.services.reach import ensure_reach
from touchflow.services.scoring import model_in_force, score_history, score_of
from touchflow.services.tiers import current_tiers

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["lifecycle and scoring"])
Identifier = Annotated[str, Path(description="a contact id, or email:…, phone:…, crm:… (URL-encoded)")]
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "missing, unknown or revoked API key"},
    404: {"model": ErrorOut, "description": "no such contact"},
}


def _not_found(identifier: str) -> ApiError:
    return ApiError(404, f"no contact matches {identifier!r}", [{"field": "id", "reason": "no such contact"}])


@router.get("/contacts/{identifier:path}/score", summary="A contact's lead score now, its parts and history",
            response_model=None, responses=_ERRORS, **permit("contacts.read"))
def contact_score(request: Request, who: Acting, identifier: Identifier,
                  history: Annotated[int, Query(ge=0, le=500)] = 20) -> Response:
    services = api_state(request).services
    try:
        _within_reach(services, who, identifier)
        score = score_of(services, identifier)
        past = score_history(services, identifier, history) if history else []
    except ContactNotFound:
        raise _not_found(identifier) from None
    stored = score.stored
    return json_response({
        "contact_id": score.contact_id, "score": score.score, "model_version": score.model_version,
        "parts": score.parts, "mql_at": stored.mql_at.isoformat() if stored and stored.mql_at else None,
        "sql_at": stored.sql_at.isoformat() if stored and stored.sql_at else None,
        "history": [{"score": h.score, "model_version": h.model_version, "at": h.at.isoformat()} for h in past]})


@router.get("/contacts/{identifier:path}/stages", summary="A contact's lifecycle stage history, oldest first",
            response_model=None, responses=_ERRORS, **permit("contacts.read"))
def contact_stages(request: Request, who: Acting, identifier: Identifier) -> Response:
    try:
        _within_reach(api_state(request).services, who, identifier)
        cid, rows = stage_history(api_state(request).services, identifier)
    except ContactNotFound:
        raise _not_found(identifier) from None
    return json_response({"contact_id": cid, "stage": rows[-1].stage if rows else None, "history": [
        {"at": r.at.isoformat(), "from": r.from_stage, "stage": r.stage, "rule": r.rule, "by": r.by} for r in rows]})


def _within_reach(services: ServiceContext, who: Principal, identifier: str) -> None:
    """An agent reads only the contacts of tasks assigned to them: ContactNotFound (404) for any other."""
    scope = assignee_scope(who)
    if scope is not None:
        ensure_reach(services, identifier, scope)


@router.get("/lifecycle", summary="The lifecycle stages and rules, the tier thresholds and the scoring model",
            response_model=None, responses={401: _ERRORS[401]}, **permit("segments.read"))
def configuration(request: Request) -> Response:
    services = api_state(request).services
    model = model_in_force(services)
    return json_response({"lifecycle": current_lifecycle(services), "tiers": current_tiers(services),
                          "scoring_model": {"version": model.version, **model_document(model)}})
