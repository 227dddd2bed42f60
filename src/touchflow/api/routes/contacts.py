"""``/v1/contacts``: upsert by any identity, look up by id or identifier, edit by hand (D5), search."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.convertors import Convertor, register_url_convertor
from starlette.responses import Response

from touchflow.api.permissions import Acting, permit
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
    validation_problems,
)
from touchflow.api.schemas import (
    MAX_BATCH,
    ContactBatchOut,
    ContactIn,
    ContactOut,
    ContactUpsertOut,
    ErrorOut,
    Offset,
    PatchIn,
    SearchOut,
    contact_payload,
    summary_json,
)
from touchflow.domain.contacts import STANDARD_FIELDS
from touchflow.domain.errors import FieldError
from touchflow.domain.governance.scope import assignee_scope
from touchflow.domain.records import contact_record_from, standard_value
from touchflow.services.contacts import (
    ContactNotFound,
    get_contact_profile,
    patch_contact,
    profile_document,
    search_contacts,
)
from touchflow.services.ingest import ContactBatchReport, ItemProblem, RawItem, upsert_contacts
from touchflow.services.reach import ensure_reach, search_assigned
from touchflow.services.unmerge import NothingToUnmerge, unmerge_contact

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["contacts"])

_Responses = dict[int | str, dict[str, Any]]
_AUTH: _Responses = {401: {"model": ErrorOut, "description": "missing, unknown or revoked API key"}}
_NOT_FOUND: _Responses = {404: {"model": ErrorOut, "description": "no contact has this id or identifier"}}
_INVALID: _Responses = {422: {"model": ErrorOut, "description": "a field is invalid (named in `errors`)"}}
_BODY_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"oneOf": [
            {"$ref": "#/components/schemas/ContactIn"},
            {"type": "array", "minItems": 1, "maxItems": MAX_BATCH,
             "items": {"$ref": "#/components/schemas/ContactIn"}},
        ]}}},
    },
}
Identifier = Annotated[str, Path(description="a contact id, or email:…, phone:…, crm:…, anon:…, openid:… "
                                             "(URL-encoded); a merged-away id resolves to the survivor")]


class ContactPath(Convertor[str]):
    """An identifier that may hold ``/`` (Starlette decodes %2F before routing) but does not end in a
    contact's sub-resource, so ``PATCH …/score`` is a 405 there, not an edit of contact "0/score"."""

    regex = r"(?:(?!/(?:score|stages|unmerge)$).)+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("contact", ContactPath())


def _not_found(exc: ContactNotFound) -> ApiError:
    return ApiError(404, f"no contact matches {exc.identifier!r}",
                    [{"field": "id", "reason": "no contact has this id or identifier"}])


def _parse(body: bytes) -> tuple[list[Any], bool]:
    """The items of a body and whether it was a single object."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"body is not valid JSON: {exc}") from None
    if isinstance(data, dict) and isinstance(data.get("contacts"), list):
        data = data["contacts"]
    if isinstance(data, dict):
        return [data], True
    if not isinstance(data, list) or not data:
        raise ApiError(422, "body must be a contact object or a non-empty list of them")
    if len(data) > MAX_BATCH:
        raise ApiError(413, f"a batch holds at most {MAX_BATCH} contacts, got {len(data)}; split it")
    return data, False


def _validate(items: list[Any], nul: bool) -> tuple[list[RawItem], list[int], list[ItemProblem]]:
    raw: list[RawItem] = []
    positions: list[int] = []
    problems: list[ItemProblem] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            problems.append(ItemProblem(index, None, None, "a contact must be a JSON object"))
            continue
        if nul and has_nul(item):
            problems.append(ItemProblem(index, None, None, "text must not contain NUL (\\u0000) characters"))
            continue
        try:
            contact = ContactIn.model_validate(item)
        except ValidationError as exc:
            problems.extend(ItemProblem(index, None, p["field"], p["reason"]) for p in validation_problems(exc))
            continue
        raw.append(RawItem(payload=contact_payload(contact), original=item))
        positions.append(index)
    return raw, positions, problems


@router.post(
    "/contacts",
    summary="Create or update contacts, matched and merged by any identity",
    response_model=None,
    responses={200: {"model": ContactUpsertOut | ContactBatchOut,
                     "description": "one object in → ContactUpsertOut; a list in → ContactBatchOut"},
               207: {"model": ContactBatchOut, "description": "a list in which some contacts were rejected"},
               413: {"model": ErrorOut, "description": f"more than {MAX_BATCH} contacts, or a body over 16 MiB"},
               **_AUTH, **_INVALID},
    **permit("events.write", openapi_extra=_BODY_DOC),
)
async def post_contacts(request: Request, source: SourceQuery = None,
                        x_touchflow_source: SourceHeader = None) -> Response:
    """A contact object, or a list of up to 1,000. Identities (email, phone, crm_id, anon, openid, unionid,
    wecom) find the existing contact; several contacts found by one record are merged. Fields that are not
    usable are skipped and reported as warnings; a contact without a usable identity is rejected."""
    state = api_state(request)
    name = pick_source(source, x_touchflow_source)
    body_bytes = await read_body(request)
    items, single = _parse(body_bytes)
    raw, positions, problems = _validate(items, b"\\u0000" in body_bytes)
    if single and problems:
        raise ApiError(422, "; ".join(f"{p.field}: {p.reason}" if p.field else p.reason for p in problems),
                       [{"field": p.field, "reason": p.reason} for p in problems])
    try:
        report = await state.write(upsert_contacts, state.services, name, raw) if raw else ContactBatchReport()
    except PARSE_CRASHES:
        now = state.services.clock.now()
        bad = crashing_items(raw, lambda payload: contact_record_from(payload, name, 0, now))
        if not bad:
            raise
        problems.extend(ItemProblem(positions[i], None, *problem) for i, problem in bad.items())
        raw = [item for i, item in enumerate(raw) if i not in bad]
        positions = [at for i, at in enumerate(positions) if i not in bad]
        report = await state.write(upsert_contacts, state.services, name, raw) if raw else ContactBatchReport()
    warnings: dict[int, list[dict[str, Any]]] = {}
    for w in report.warnings:
        warnings.setdefault(positions[w.index], []).append({"field": w.field, "reason": w.reason})
    problems.extend(ItemProblem(positions[p.index], None, p.field, p.reason) for p in report.rejected)
    if single:
        if problems:
            raise ApiError(422, problems[0].reason, [{"field": p.field, "reason": p.reason} for p in problems])
        return json_response({"id": report.contact_ids[0], "created": report.created, "updated": report.updated,
                              "merged": report.merged, "warnings": warnings.get(0, [])})
    ids: list[str | None] = [None] * len(items)
    for at, contact_id in zip(positions, report.contact_ids, strict=True):
        ids[at] = contact_id
    problems.sort(key=lambda p: p.index)
    body = {"created": report.created, "updated": report.updated, "merged": report.merged,
            "rejected": [problem_json(p) for p in problems],
            "results": [{"index": i, "id": cid, "warnings": warnings.get(i, [])} for i, cid in enumerate(ids)]}
    if not problems:
        return json_response(body)
    if not any(ids):
        body["detail"] = f"all {len(items)} contacts were rejected; see 'rejected'"
        return json_response(body, 422)
    return json_response(body, 207)


@router.get("/contacts/{identifier:contact}", summary="Everything known about one contact",
            response_model=None, responses={200: {"model": ContactOut}, **_AUTH, **_NOT_FOUND},
            **permit("contacts.read"))
def get_contact(request: Request, who: Acting, identifier: Identifier,
                recent: Annotated[int, Query(ge=0, le=100, description="how many recent events")] = 10) -> Response:
    """An agent sees only the contacts of tasks assigned to them (404 for any other)."""
    services = api_state(request).services
    try:
        scope = assignee_scope(who)
        if scope is not None:
            identifier = ensure_reach(services, identifier, scope)
        profile = get_contact_profile(services, identifier, recent)
    except ContactNotFound as exc:
        raise _not_found(exc) from None
    return json_response(profile_document(profile))


@router.patch("/contacts/{identifier:contact}", summary="Edit tags and attributes by hand (D5)",
              response_model=None, responses={200: {"model": ContactOut}, **_AUTH, **_NOT_FOUND, **_INVALID},
              **permit("contacts.write"))
async def patch(request: Request, who: Acting, identifier: Identifier, body: PatchIn) -> Response:
    """Values set here outrank every data source (a later CRM import does not overwrite them); `null`
    clears an attribute. The edit is recorded in the audit log as `apikey:<key id>` with the reason."""
    state = api_state(request)
    problems = body.problems()
    if problems:
        raise ApiError(422, "; ".join(f"{f}: {r}" for f, r in problems),
                       [{"field": f, "reason": r} for f, r in problems])
    try:
        contact = await state.write(patch_contact, state.services, identifier, actor=who.actor.label,
                                    attributes=body.attributes, add_tags=body.add_tags,
                                    remove_tags=body.remove_tags, reason=body.reason)
        profile = await run_in_threadpool(get_contact_profile, state.services, contact.id)
    except ContactNotFound as exc:
        raise _not_found(exc) from None
    except FieldError as exc:
        raise _attribute_error(exc.field, exc.reason) from None
    except PARSE_CRASHES:
        for name, value in body.attributes.items():
            try:
                if value is not None and name.strip() in STANDARD_FIELDS:
                    standard_value(name.strip(), value)
            except FieldError as exc:
                raise _attribute_error(exc.field, exc.reason) from None
            except PARSE_CRASHES as exc:
                raise _attribute_error(name, f"could not be read ({exc})") from None
        raise
    return json_response(profile_document(profile))


class UnmergeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(..., min_length=1, max_length=500, description="why the merge was wrong (audited)")


_CONFLICT: _Responses = {409: {"model": ErrorOut, "description": "the contact is not merged away, or its merge "
                                                                "predates unmerging"}}


@router.post("/contacts/{contact_id}/unmerge", summary="Undo a merge that was wrong", response_model=None,
             responses={200: {"description": "who got what back"}, **_AUTH, **_CONFLICT, **_INVALID},
             **permit("contacts.write"))
async def unmerge(request: Request, who: Acting,
                  contact_id: Annotated[str, Path(max_length=64, description="the merged-away contact's id, "
                                                                             "as the survivor's merges list it")],
                  body: UnmergeIn) -> Response:
    """The merged-away contact gets back its identities, events, tags, consents, static memberships and the
    attribute values that came from it; both are rescored and re-segmented; journeys stay with the survivor.
    Recorded in the audit log as the calling API key."""
    state = api_state(request)
    try:
        result = await state.write(unmerge_contact, state.services, contact_id,
                                   actor=who.actor, reason=body.reason)
    except NothingToUnmerge as exc:
        raise ApiError(409, str(exc), [{"field": "contact_id", "reason": str(exc)}]) from None
    except ValueError as exc:
        raise ApiError(422, str(exc), [{"field": "reason", "reason": str(exc)}]) from None
    return json_response({"survivor": result.survivor, "restored": result.restored,
                          "identities": result.identities, "events": result.events, "returned": result.returned})


def _attribute_error(name: str, reason: str) -> ApiError:
    field = f"attributes.{name}"
    return ApiError(422, f"{field}: {reason}", [{"field": field, "reason": reason}])


@router.get("/contacts", summary="Search contacts", response_model=None,
            responses={200: {"model": SearchOut}, **_AUTH}, **permit("contacts.read"))
def search(
    request: Request, who: Acting,
    q: Annotated[str | None, Query(max_length=300, description="an identifier value, or part of a name or "
                                                              "company")] = None,
    tag: Annotated[str | None, Query(max_length=100, description="only contacts with this tag")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[Offset, Query()] = 0,
) -> Response:
    """An agent searches only the contacts of tasks assigned to them. Each parameter is given once: a repeated one
    is refused rather than silently read as its last value (the others would escape their limits)."""
    repeated = [name for name in ("q", "tag", "limit", "offset") if len(request.query_params.getlist(name)) > 1]
    if repeated:
        raise ApiError(422, f"{repeated[0]}: give it once", [{"field": repeated[0], "in": "query",
                                                               "reason": "given more than once"}])
    services = api_state(request).services
    scope = assignee_scope(who)
    states = (search_contacts(services, q or None, tag or None, limit, offset) if scope is None
              else search_assigned(services, scope, q or None, tag or None, limit, offset))
    return json_response({"items": [summary_json(s) for s in states], "limit": limit, "offset": offset})
