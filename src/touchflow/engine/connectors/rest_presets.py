"""The ``rest_api`` kind: dlt's declarative REST source, with presets for CRMs whose APIs are public.

A preset only fills in dlt's ``RESTAPIConfig`` (endpoint, paginator, auth, incremental placeholders); paging,
cursors, retries and state are dlt's. Presets: ``hubspot`` (CRM v3 contacts; ``after`` cursor; incremental
through the search endpoint on ``lastmodifieddate``), ``salesforce`` (SOQL ``query``; ``nextRecordsUrl``;
``SystemModstamp``), ``fxiaoke`` (纷享销客 ``/cgi/crm/v2/data/query``; offset/limit in the body;
``last_modified_time``) and ``generic`` (any paged JSON API: page number, offset, cursor or next link; bearer,
API key header or basic auth). Incremental filters use ``>=`` so a run resumed after a crash re-reads the
boundary rows; ingest is idempotent, so nothing is doubled and nothing at the boundary is lost.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, cast

import dlt
from dlt.sources.helpers.requests import Session
from dlt.sources.helpers.rest_client.auth import APIKeyAuth, BearerTokenAuth, HttpBasicAuth
from dlt.sources.helpers.rest_client.paginators import (
    BasePaginator,
    JSONLinkPaginator,
    JSONResponseCursorPaginator,
    OffsetPaginator,
    PageNumberPaginator,
)
from dlt.sources.rest_api import rest_api_resources
from dlt.sources.rest_api.typing import RESTAPIConfig

from touchflow.domain.errors import FieldError
from touchflow.domain.events import JSONValue
from touchflow.engine.connectors.http_session import (
    retrying_session,
    setting_int,
    setting_str,
    setting_str_or,
)
from touchflow.engine.connectors.kinds import SourceRequest

__all__ = ["PRESETS", "ConnectorAuthError", "build_rest_source", "fxiaoke_token", "rest_config"]

PRESETS = ("hubspot", "salesforce", "fxiaoke", "generic")
_EPOCH_ISO = "1970-01-01T00:00:00Z"


def build_rest_source(request: SourceRequest) -> Any:
    """One dlt resource named after the connector, yielding flat dict rows; the HTTP session closes with it."""
    session = retrying_session(request.settings)
    inner = rest_api_resources(rest_config(request, session))[0]
    flatten = _FLATTEN.get(_preset(request.settings))
    if flatten is not None:
        inner.add_map(flatten)

    def rows() -> Iterator[dict[str, Any]]:
        try:
            yield from inner
        finally:
            session.close()

    return dlt.resource(rows, name=request.connector_name, write_disposition="append")


def rest_config(request: SourceRequest, session: Session) -> RESTAPIConfig:
    preset = _preset(request.settings)
    builder = {"hubspot": _hubspot, "salesforce": _salesforce, "fxiaoke": _fxiaoke, "generic": _generic}[preset]
    client, endpoint = builder(request, session)
    client["session"] = session
    endpoint.setdefault("params", {})
    return cast(RESTAPIConfig, {
        "client": client,
        "resource_defaults": {"write_disposition": "append"},
        "resources": [{"name": request.connector_name, "endpoint": endpoint}],
    })


def _preset(settings: Mapping[str, JSONValue]) -> str:
    preset = setting_str(settings, "preset")
    if preset not in PRESETS:
        raise FieldError("preset", f"unknown preset {preset!r} (one of {', '.join(PRESETS)})")
    return preset


def _secret(request: SourceRequest, name: str) -> str:
    value = request.secrets.get(name)
    if not value:
        raise FieldError(name, "secret not set")
    return value


def _incremental(request: SourceRequest, cursor_path: str, initial: JSONValue) -> dict[str, Any]:
    start = request.cursor_value if request.cursor_value is not None else initial
    return {"cursor_path": cursor_path, "initial_value": start}


# --- HubSpot CRM v3 ---------------------------------------------------------------------------------------


def _hubspot(request: SourceRequest, _session: Session) -> tuple[dict[str, Any], dict[str, Any]]:
    base = setting_str_or(request.settings, "base_url", "https://api.hubapi.com")
    limit = setting_int(request.settings, "page_size", 100, low=1, high=100)
    properties = _text_list(request.settings.get("properties"), "properties") or [
        "email", "firstname", "lastname", "phone", "company", "jobtitle", "lifecyclestage", "lastmodifieddate"]
    client = {"base_url": base, "auth": BearerTokenAuth(token=_secret(request, "token"))}
    if request.cursor_field is None:  # a full read pages the list endpoint with ``after``
        return client, {
            "path": "crm/v3/objects/contacts", "data_selector": "results",
            "params": {"limit": limit, "properties": ",".join(properties)},
            "paginator": JSONResponseCursorPaginator(cursor_path="paging.next.after", cursor_param="after"),
        }
    cursor = request.cursor_field
    return client, {  # an incremental read asks the search endpoint, oldest change first
        "path": "crm/v3/objects/contacts/search", "method": "POST", "data_selector": "results",
        "json": {
            "filterGroups": [{"filters": [{"propertyName": cursor, "operator": "GTE",
                                           "value": "{incremental.start_value}"}]}],
            "sorts": [{"propertyName": cursor, "direction": "ASCENDING"}],
            "properties": properties, "limit": limit,
        },
        "paginator": JSONResponseCursorPaginator(cursor_path="paging.next.after", cursor_body_path="after"),
        "incremental": _incremental(request, cursor, _EPOCH_ISO),  # rows are flattened first
    }


def _flatten_hubspot(row: dict[str, Any]) -> dict[str, Any]:
    flat = {"hubspot_id": row.get("id"), **(row.get("properties") or {})}
    flat.pop("hs_object_id", None)
    return flat


# --- Salesforce SOQL ---------------------------------------------------------------------------------------


def _salesforce(request: SourceRequest, _session: Session) -> tuple[dict[str, Any], dict[str, Any]]:
    base = setting_str(request.settings, "base_url")  # the org's instance URL
    version = setting_str_or(request.settings, "api_version", "v59.0")
    soql = setting_str(request.settings, "soql")
    endpoint: dict[str, Any] = {"path": f"services/data/{version}/query", "data_selector": "records",
                                "paginator": JSONLinkPaginator(next_url_path="nextRecordsUrl")}
    if request.cursor_field is not None:
        cursor = request.cursor_field
        joiner = " AND " if " where " in soql.lower() else " WHERE "
        soql = f"{soql}{joiner}{cursor} >= {{incremental.start_value}} ORDER BY {cursor} ASC"
        endpoint["incremental"] = _incremental(request, cursor, "1970-01-01T00:00:00.000+0000")
    endpoint["params"] = {"q": soql}
    return {"base_url": base, "auth": BearerTokenAuth(token=_secret(request, "token"))}, endpoint


def _flatten_salesforce(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k != "attributes"}


# --- 纷享销客 FxiaoKe OpenAPI ---------------------------------------------------------------------------------


def _fxiaoke(request: SourceRequest, session: Session) -> tuple[dict[str, Any], dict[str, Any]]:
    """The token and corp id travel in the JSON body (the API's documented shape), not in a header. The token
    (valid two hours) is asked for once per run with the app's id, secret and the corp's permanent code."""
    base = setting_str_or(request.settings, "base_url", "https://open.fxiaoke.com")
    checked_send = session.send

    def send(request: Any, **kwargs: Any) -> Any:  # not a hook: dlt's paginate replaces the session's hooks
        response = checked_send(request, **kwargs)  # type: ignore[no-untyped-call]
        _fx_check(response)
        return response

    session.send = send  # type: ignore[method-assign]
    token, corp_id = fxiaoke_token(session, base, setting_str(request.settings, "app_id"),
                                   _secret(request, "app_secret"), _secret(request, "permanent_code"))
    limit = setting_int(request.settings, "page_size", 100, low=1, high=100)
    search: dict[str, Any] = {"offset": 0, "limit": limit, "filters": []}
    endpoint: dict[str, Any] = {
        "path": "cgi/crm/v2/data/query", "method": "POST", "data_selector": "data.dataList",
        "paginator": OffsetPaginator(limit=limit, offset_body_path="data.search_query_info.offset",
                                     limit_body_path="data.search_query_info.limit", total_path="data.total"),
    }
    if request.cursor_field is not None:
        cursor = request.cursor_field
        search["filters"] = [{"field_name": cursor, "field_values": ["{incremental.start_value}"],
                              "operator": "GTE"}]
        search["orders"] = [{"fieldName": cursor, "isAsc": True}]
        endpoint["incremental"] = _incremental(request, cursor, 0)
    endpoint["json"] = {
        "corpAccessToken": token,
        "corpId": corp_id,
        "currentOpenUserId": setting_str(request.settings, "open_user_id"),
        "data": {"dataObjectApiName": setting_str_or(request.settings, "object", "ContactObj"),
                 "search_query_info": search},
    }
    return {"base_url": base}, endpoint


def fxiaoke_token(session: Session, base: str, app_id: str, app_secret: str, permanent_code: str) -> tuple[str, str]:
    response = session.post(f"{base.rstrip('/')}/cgi/corpAccessToken/get/V2",
                            json={"appId": app_id, "appSecret": app_secret, "permanentCode": permanent_code})
    body = response.json()
    if not isinstance(body, dict) or body.get("errorCode") != 0:
        message = body.get("errorMessage") if isinstance(body, dict) else "not JSON"
        raise ConnectorAuthError(f"纷享销客 refused the app credentials: {message}")
    return str(body["corpAccessToken"]), str(body["corpId"])


def _fx_check(response: Any) -> None:
    """纷享销客 answers HTTP 200 with a non-zero ``errorCode`` on failure: turn that into an error."""
    try:
        body = response.json()
    except ValueError:
        return
    if isinstance(body, dict) and body.get("errorCode") not in (None, 0):
        raise ConnectorAuthError(f"纷享销客 error {body.get('errorCode')}: {body.get('errorMessage')}")


class ConnectorAuthError(RuntimeError):
    """The provider refused the connector's credentials: a permanent failure, not worth a retry."""


# --- a generic paged JSON API ------------------------------------------------------------------------------


def _generic(request: SourceRequest, _session: Session) -> tuple[dict[str, Any], dict[str, Any]]:
    settings = request.settings
    endpoint: dict[str, Any] = {
        "path": setting_str(settings, "path"),
        "method": setting_str_or(settings, "method", "GET").upper(),
        "paginator": _paginator(settings.get("paginator")),
    }
    if endpoint["method"] not in ("GET", "POST"):
        raise FieldError("method", "GET or POST")
    if settings.get("data_selector"):
        endpoint["data_selector"] = setting_str(settings, "data_selector")
    params = settings.get("params") or {}
    if not isinstance(params, dict) or not all(isinstance(v, str | int) for v in params.values()):
        raise FieldError("params", "an object of text or number values")
    endpoint["params"] = dict(params)
    if request.cursor_field is not None:
        param = setting_str_or(settings, "cursor_param", request.cursor_field)
        endpoint["params"][param] = "{incremental.start_value}"
        endpoint["incremental"] = _incremental(request, request.cursor_field, settings.get("cursor_start", ""))
    return {"base_url": setting_str(settings, "base_url"), "auth": _auth(request)}, endpoint


def _paginator(raw: JSONValue) -> BasePaginator:
    if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
        raise FieldError("paginator", "an object with a type: page_number, offset, cursor or next_link")
    kind = raw["type"]
    opts = {k: v for k, v in raw.items() if k != "type"}

    def text(name: str, default: str | None) -> Any:
        value = opts.get(name, default)
        if value is not None and not isinstance(value, str):
            raise FieldError(f"paginator.{name}", "must be text")
        return value

    if kind == "page_number":
        return PageNumberPaginator(base_page=setting_int(opts, "base_page", 1, low=0, high=1),
                                   page_param=text("page_param", "page"), total_path=text("total_path", None),
                                   stop_after_empty_page=True)
    if kind == "offset":
        return OffsetPaginator(limit=setting_int(opts, "limit", 100, low=1, high=10_000),
                               offset_param=text("offset_param", "offset"), limit_param=text("limit_param", "limit"),
                               total_path=text("total_path", None), stop_after_empty_page=True)
    if kind == "cursor":
        return JSONResponseCursorPaginator(cursor_path=text("cursor_path", "next_cursor"),
                                           cursor_param=text("cursor_param", "cursor"))
    if kind == "next_link":
        return JSONLinkPaginator(next_url_path=text("next_url_path", "next"))
    raise FieldError("paginator.type", f"unknown paginator {kind!r} (page_number, offset, cursor, next_link)")


def _auth(request: SourceRequest) -> Any:
    auth = request.settings.get("auth") or {"type": "bearer"}
    if not isinstance(auth, dict):
        raise FieldError("auth", "an object with a type: bearer, api_key or basic")
    kind = auth.get("type")
    if kind == "bearer":
        return BearerTokenAuth(token=_secret(request, "token"))
    if kind == "api_key":
        name = auth.get("name", "X-API-Key")
        if not isinstance(name, str) or not name:
            raise FieldError("auth.name", "the header name")
        return APIKeyAuth(name=name, api_key=_secret(request, "api_key"), location="header")
    if kind == "basic":
        return HttpBasicAuth(username=_secret(request, "username"), password=_secret(request, "password"))
    raise FieldError("auth.type", "bearer, api_key or basic")


def _text_list(raw: JSONValue, name: str) -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(x, str) and x for x in raw):
        raise FieldError(name, "a list of names")
    return [str(x) for x in raw]


_FLATTEN = {"hubspot": _flatten_hubspot, "salesforce": _flatten_salesforce}
