"""``/v1/templates``, ``/v1/reviews``, ``/v1/assets``: the content library (C7) and its review queue (G5).

Assets travel as base64 inside JSON (no multipart dependency; 5 MB per asset keeps that cheap). Who saved,
asked for review or decided is the API key that called (``apikey:<id> (<key name>)``); a body that names a
person (``by``, ``reviewer``) is refused as an unknown field, so one key cannot approve its own copy by typing
another name.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from touchflow.api.permissions import Acting, permit
from touchflow.api.routes import ApiError, api_state, json_response
from touchflow.api.schemas import BASE64, MEDIA_TYPE, VISIBLE, AttributeValue, ErrorOut, Version
from touchflow.content.documents import asset_document, review_document, template_document
from touchflow.content.templates import TemplateError
from touchflow.domain.channel_names import alias_warning
from touchflow.domain.governance.principals import Principal
from touchflow.services.contacts import ContactNotFound
from touchflow.services.content import (
    AssetTooLarge,
    ContentConflict,
    ContentError,
    ContentNotFound,
    decide_review,
    get_asset,
    get_template,
    list_assets,
    list_reviews,
    list_templates,
    preview_template,
    save_asset,
    save_template,
    template_history,
)

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["content"])
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "missing, unknown or revoked API key"},
    404: {"model": ErrorOut, "description": "no such template, review, asset or contact"},
    409: {"model": ErrorOut, "description": "the review is not pending, or the key that saved it tried to review"},
    422: {"model": ErrorOut, "description": "the content is invalid (the reason names template and line)"},
}
Name = Annotated[str, Path(description="template key, as journeys name it")]


class TemplateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., max_length=120, description="the key journeys use, e.g. welcome_email")
    channel: str = Field("email", description="email, sms, wecom, wechat (wechat_mp: its old name), onsite, webhook")
    subject: str = Field("", max_length=1000, description="Liquid allowed")
    body: str = Field(..., max_length=256 * 1024, description="Liquid in MJML, HTML or text")
    layout: str = Field("html", description="mjml, html or text")
    text_body: str | None = Field(None, max_length=256 * 1024, description="hand-written text part (optional)")
    tags: list[str] = Field(default_factory=list, max_length=20, description="medical/finance need review (G5); "
                            "copy the compliance scan finds medical or financial needs it anyway")


class PreviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    contact: str = Field(..., max_length=300, description="a contact id, or email:…, phone:…, crm:…")
    version: Version | None = Field(None, description="default: the newest version")


class DecisionIn(BaseModel):
    """The reviewer is the calling API key, which must not be the one that saved the version."""

    model_config = ConfigDict(extra="forbid")

    comment: str = Field("", max_length=2000, description="required when rejecting")


class AssetIn(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    name: str = Field(..., max_length=200, pattern=VISIBLE)
    content_base64: str = Field(..., pattern=BASE64, description="the file, base64-encoded (at most 5 MB decoded)")
    content_type: str | None = Field(None, max_length=100, pattern=MEDIA_TYPE,
                                     description="default: guessed from the name")
    metadata: dict[Annotated[str, StringConstraints(max_length=100)], AttributeValue] = Field(
        default_factory=dict, max_length=50, description="at most 50 entries of text, numbers or booleans")


def _error(exc: Exception) -> ApiError:
    if isinstance(exc, ContentNotFound | ContactNotFound):
        return ApiError(404, str(exc))
    if isinstance(exc, AssetTooLarge):
        return ApiError(413, str(exc))
    return ApiError(409 if isinstance(exc, ContentConflict) else 422, str(exc))


@router.post("/templates", summary="Save a new template version (scanned for Advertising-Law terms)",
             status_code=201, response_model=None, responses=_ERRORS, **permit("content.write"))
async def post_template(request: Request, who: Acting, body: TemplateIn) -> Response:
    """The answer's `status`: `approved`, `pending_review` (medical/finance: a reviewer decides) or `draft`
    (blocking findings, listed in `findings` with offsets: fix and save again)."""
    state = api_state(request)
    try:
        saved = await state.write(save_template, state.services, body.name, body.channel, body.subject, body.body,
                                  body.layout, body.tags, who.actor, text_body=body.text_body)
    except ContentError as exc:
        raise _error(exc) from None
    warning = alias_warning(body.channel, "channel")  # wechat_mp: saved as wechat (ADR 0016)
    return json_response({**template_document(saved), **({"warnings": [warning]} if warning else {})}, 201)


@router.get("/templates", summary="The newest version of every template", response_model=None, responses=_ERRORS,
            **permit("content.read"))
def get_templates(request: Request,
                  status: Annotated[Literal["draft", "pending_review", "approved", "rejected"] | None,
                                    Query(description="only templates in this status")] = None) -> Response:
    found = list_templates(api_state(request).services, status)
    return json_response({"items": [template_document(t) for t in found]})


@router.get("/templates/{name}", summary="One template version with its body and history", response_model=None,
            responses=_ERRORS, **permit("content.read"))
def get_one_template(request: Request, name: Name,
                     version: Annotated[Version | None, Query()] = None) -> Response:
    services = api_state(request).services
    try:
        found = get_template(services, name, version)
    except ContentNotFound as exc:
        raise _error(exc) from None
    data = template_document(found, with_body=True)
    data["history"] = [{"version": t.version, "status": t.status, "created_at": t.created_at.isoformat(),
                        "created_by": t.created_by} for t in template_history(services, name)]
    return json_response(data)


@router.post("/templates/{name}/preview", summary="Render a template for one contact (untracked)",
             response_model=None, responses=_ERRORS, **permit("content.read", "contacts.read"))
def post_preview(request: Request, name: Name, body: PreviewIn) -> Response:
    try:
        shown = preview_template(api_state(request).services, name, body.contact, body.version)
    except (ContentNotFound, ContactNotFound) as exc:
        raise _error(exc) from None
    except TemplateError as exc:
        raise ApiError(422, str(exc)) from None
    return json_response({"template": shown.template, "version": shown.version, "channel": shown.channel,
                          "status": shown.status, "contact_id": shown.contact_id, "subject": shown.subject,
                          "html": shown.html, "text": shown.text, "undefined": list(shown.undefined)})


@router.get("/reviews", summary="The compliance review queue", response_model=None, responses=_ERRORS,
            **permit("content.read"))
def get_reviews(request: Request,
                status: Annotated[Literal["pending", "approved", "rejected", "all"], Query()] = "pending"
                ) -> Response:
    try:
        found = list_reviews(api_state(request).services, None if status == "all" else status)
    except ContentError as exc:
        raise _error(exc) from None
    return json_response({"items": [review_document(r) for r in found]})


async def _decide(request: Request, who: Principal, review_id: str, approve: bool,
                  body: DecisionIn) -> Response:
    state = api_state(request)
    try:
        review = await state.write(decide_review, state.services, review_id, approve, who, body.comment)
    except (ContentNotFound, ContentError) as exc:
        raise _error(exc) from None
    return json_response(review_document(review))


@router.post("/reviews/{review_id}/approve", summary="Approve: the version may be sent", response_model=None,
             responses=_ERRORS, **permit("content.review"))
async def approve(request: Request, who: Acting, review_id: str, body: DecisionIn | None = None) -> Response:
    return await _decide(request, who, review_id, True, body or DecisionIn(comment=""))


@router.post("/reviews/{review_id}/reject", summary="Reject, saying what must change", response_model=None,
             responses=_ERRORS, **permit("content.review"))
async def reject(request: Request, who: Acting, review_id: str, body: DecisionIn) -> Response:
    return await _decide(request, who, review_id, False, body)


@router.post("/assets", summary="Add an image or file to the asset library (base64 JSON)", status_code=201,
             response_model=None, responses={**_ERRORS, 413: {"model": ErrorOut, "description": "over 5 MB"}},
             **permit("content.write"))
async def post_asset(request: Request, who: Acting, body: AssetIn) -> Response:
    state = api_state(request)
    try:
        data = base64.b64decode(body.content_base64, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(422, "content_base64: not valid base64",
                       [{"field": "content_base64", "reason": "not valid base64"}]) from None
    try:
        record = await state.write(save_asset, state.services, body.name, data, content_type=body.content_type,
                                   metadata=body.metadata, by=who.actor)
    except ContentError as exc:
        raise _error(exc) from None
    return json_response(asset_document(record), 201)


@router.get("/assets", summary="The newest version of every asset", response_model=None, responses=_ERRORS,
            **permit("content.read"))
def get_assets(request: Request) -> Response:
    return json_response({"items": [asset_document(a) for a in list_assets(api_state(request).services)]})


@router.get("/assets/{name}/content", summary="An asset's bytes (raster images inline, anything else as a download)",
            response_model=None, responses={**_ERRORS, 200: {
                "description": "the bytes, with the type they were saved with",
                "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
                            "*/*": {"schema": {"type": "string", "format": "binary"}}}}}, **permit("content.read"))
async def get_asset_content(request: Request, name: str,
                            version: Annotated[Version | None, Query()] = None) -> Response:
    try:
        record, data = await run_in_threadpool(get_asset, api_state(request).services, name, version)
    except ContentNotFound as exc:
        raise _error(exc) from None
    return asset_response(record.name, record.content_type, record.sha256, data)


# Shown in place: raster images only. SVG is an image that runs script, so it downloads like any file.
INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "image/avif", "image/bmp"})


def asset_response(name: str, content_type: str, sha256: str, data: bytes) -> Response:
    """An asset's bytes that a browser cannot run as a page of this origin (stored XSS).

    Anything but a raster image is sent as an attachment under a sandboxing CSP; with ``nosniff`` (on every
    answer) the browser also keeps to the type sent.
    """
    media = content_type.split(";")[0].strip().lower()
    if not re.fullmatch(MEDIA_TYPE, content_type) or "\n" in content_type:
        content_type = media = "application/octet-stream"
    headers = {"ETag": f'"{sha256}"', "Content-Security-Policy": "default-src 'none'; sandbox"}
    if media not in INLINE_TYPES:
        fallback = re.sub(r'[^A-Za-z0-9._ -]', "_", name.rsplit("/", 1)[-1]) or "asset"
        headers["Content-Disposition"] = f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"
    return Response(data, media_type=content_type, headers=headers)
