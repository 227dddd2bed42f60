"""Reads for lifecycle stages and lead scores: a contact's score and stage history, the configuration.

Included before the contacts router, whose ``/v1/contacts/{identifier:contact}`` takes identifiers holding
``/`` but never one ending in ``/score`` or ``/stages`` (so another method there is a 405, not an edit).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response

from touchflow.api.auth import Caller
from touchflow.api.routes import ApiError, api_state, json_response
from touchflow.api.schemas import ErrorOut
from touchflow.domain.scoring import model_document
from touchflow.services.contacts import ContactNotFound
from touchflow.services.lifecycle import current_lifecycle, stage_history
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
            response_model=None, responses=_ERRORS)
def contact_score(request: Request, caller: Caller, identifier: Identifier,
                  history: Annotated[int, Query(ge=0, le=500)] = 20) -> Response:
    del caller
    services = api_state(request).services
    try:
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
            response_model=None, responses=_ERRORS)
def contact_stages(request: Request, caller: Caller, identifier: Identifier) -> Response:
    del caller
    try:
        cid, rows = stage_history(api_state(request).services, identifier)
    except ContactNotFound:
        raise _not_found(identifier) from None
    return json_response({"contact_id": cid, "stage": rows[-1].stage if rows else None, "history": [
        {"at": r.at.isoformat(), "from": r.from_stage, "stage": r.stage, "rule": r.rule, "by": r.by} for r in rows]})


@router.get("/lifecycle", summary="The lifecycle stages and rules, the tier thresholds and the scoring model",
            response_model=None, responses={401: _ERRORS[401]})
def configuration(request: Request, caller: Caller) -> Response:
    del caller
    services = api_state(request).services
    model = model_in_force(services)
    return json_response({"lifecycle": current_lifecycle(services), "tiers": current_tiers(services),
                          "scoring_model": {"version": model.version, **model_document(model)}})
