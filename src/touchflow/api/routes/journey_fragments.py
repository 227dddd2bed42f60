"""``POST /v1/journeys/copy``: the selected nodes and sticky notes of a journey text as a YAML fragment, which the
canvas puts on the clipboard; pasting it is the ``paste`` operation of ``POST /v1/journeys/edit``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field
from starlette.responses import Response

from touchflow.api.permissions import permit
from touchflow.api.routes import ApiError, json_response
from touchflow.api.schemas import ErrorOut
from touchflow.domain.journeys.edits import MAX_OPS, EditError
from touchflow.domain.journeys.fragments import copy_fragment
from touchflow.domain.journeys.parse import DefinitionError
from touchflow.domain.safe_yaml import YamlTooLarge

__all__ = ["router"]

router = APIRouter(prefix="/v1/journeys", tags=["journey builder"])
MAX_TEXT = 2 * 1024 * 1024
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "missing, unknown or revoked API key"},
    422: {"model": ErrorOut, "description": "not a journey document, or an unknown node or note (the field is named)"},
}


class CopyIn(BaseModel):
    text: str = Field(..., max_length=MAX_TEXT, description="the journey YAML to copy from")
    nodes: list[str] = Field(..., max_length=MAX_OPS, description="ids of the nodes to copy")
    notes: list[str] = Field([], max_length=MAX_OPS, description="ids of the sticky notes to copy")


@router.post("/copy", summary="Selected nodes and notes of a journey text as a YAML fragment (for paste)",
             response_model=None, responses=_ERRORS, **permit("journeys.read"))
def copy(body: CopyIn) -> Response:
    try:
        fragment = copy_fragment(body.text, body.nodes, body.notes)
    except (EditError, DefinitionError) as exc:
        raise ApiError(422, str(exc), [{"field": exc.path, "reason": exc.reason}]) from None
    except YamlTooLarge as exc:
        raise ApiError(422, str(exc), [{"field": "text", "reason": str(exc)}]) from None
    return json_response({"fragment": fragment})
