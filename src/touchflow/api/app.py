"""The FastAPI application factory. Nothing happens at import: ``create_app(bootstrap())`` wires it."""

from __future__ import annotations

from typing import Any, Protocol

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError, IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match

from touchflow import __version__, console
from touchflow.api import tracking
from touchflow.api.auth import ApiKeyCache
from touchflow.api.docs import complete_document, install_docs
from touchflow.api.middleware import BodyLimit, wrap_outermost
from touchflow.api.onsite_gate import OnsiteLimits
from touchflow.api.permissions import public
from touchflow.api.request_id import RequestId
from touchflow.api.routes import (
    MAX_BODY_BYTES,
    ApiError,
    ApiState,
    alerts,
    approvals,
    attribution,
    audit,
    auth,
    callbacks,
    connector_webhooks,
    connectors,
    contacts,
    content,
    events,
    experiments,
    journey_builder,
    journey_fragments,
    journey_live,
    journeys,
    json_response,
    lifecycle,
    metrics,
    onsite,
    personas,
    privacy,
    reports,
    segments,
    tasks,
)
from touchflow.api.schemas import ContactIn, EventBatchIn, EventIn, readable_reason
from touchflow.domain.safe_yaml import YamlTooLarge
from touchflow.services.context import ServiceContext

__all__ = ["OPENAPI_URL", "create_app"]

OPENAPI_URL = "/openapi.json"

_DESCRIPTION = """Customer data hub: events and contacts in, unified profiles out.

Every `/v1` endpoint needs an API key (`touchflow apikey create NAME --role ROLE`), sent as
`Authorization: Bearer <key>` or `X-API-Key: <key>`, or a browser session (cookie `touchflow_session`; a
POST, PUT, PATCH or DELETE then also sends the session's `X-CSRF-Token`). Each operation names the one
permission it needs as `x-permission`; a key has its role's permissions, or the narrower scopes it was made
with (403 otherwise). Keys are checked against the database at most once every 30 seconds per server
process, so a revoked key may keep working for up to 30 seconds.

Errors are JSON: `{"detail": "<what is wrong>", "errors": [{"field": ..., "in": ..., "reason": ...}]}`
(`in` — path, query, header or body — where the request's shape is at fault).
Batches answer per item: 200 when all items were taken, 207 when some were rejected (listed by index
and reason, the others stored), 422 when none was.
"""


class Wired(Protocol):
    """What the API needs of ``touchflow.bootstrap.Application`` (named structurally: no store import)."""

    @property
    def services(self) -> ServiceContext: ...


_DOC_ONLY_MODELS: tuple[type[BaseModel], ...] = (EventBatchIn, EventIn, ContactIn)


def create_app(application: Wired, *, api_key_ttl: float = 30.0, write_slots: int | None = None,
               onsite_limits: OnsiteLimits | None = None) -> FastAPI:
    """The HTTP API over ``application``'s services.

    ``api_key_ttl``: seconds a valid key is trusted without asking the database again (0: every request).
    ``write_slots``: write transactions run at once per process (default 1). Ingest is CPU-bound Python
    under the GIL, so more than one per process measured slower on PostgreSQL too (and SQLite has a
    single writer); scale with worker processes instead.
    ``onsite_limits``: rate limits of the public pop-up endpoints (per process; defaults in ``OnsiteLimits``).
    """
    app = FastAPI(title="Touchflow API", version=__version__, description=_DESCRIPTION, docs_url=None,
                  redoc_url=None, openapi_url=None)  # /openapi.json is declared below, like every route
    setattr(app, "build_middleware_stack", wrap_outermost(app.build_middleware_stack))  # noqa: B010
    app.add_middleware(BodyLimit, limit=MAX_BODY_BYTES, own_limits=console.OWN_BODY_LIMITS)
    app.add_middleware(RequestId)  # added last: outermost of the two, so even a 413 carries its request id
    install_docs(app)
    services = application.services
    app.state.touchflow = ApiState(services, ApiKeyCache(services, ttl=api_key_ttl), write_slots or 1)
    app.state.api_keys = app.state.touchflow.api_keys
    app.state.open_sandbox = getattr(application, "open_sandbox", None)  # the builder's dry run (optional)
    uploads = getattr(application, "upload_directory", None)  # console uploads (optional, as the sandbox)
    app.state.upload_dir = uploads() if uploads is not None else None
    app.include_router(events.router)
    app.include_router(lifecycle.router)  # before contacts: its {identifier:path} would take …/score
    app.include_router(contacts.router)
    app.include_router(alerts.explain_router)  # /v1/journeys/{key}/explain, before the journeys' own paths
    app.include_router(journey_builder.router)  # /v1/journeys/lint and /edit before the journeys' {key} paths
    app.include_router(journey_live.router)
    app.include_router(journey_fragments.router)
    app.include_router(journeys.router)
    app.include_router(attribution.router)
    app.include_router(content.router)
    onsite.install(app, application, onsite_limits)
    app.include_router(callbacks.router)
    app.include_router(tasks.router)
    app.include_router(metrics.router)
    app.include_router(alerts.router)
    app.include_router(personas.router)
    app.include_router(segments.router)
    app.include_router(experiments.router)
    auth.install(app, application)  # /v1/auth: login, TOTP, sessions (needs the key ring for TOTP secrets)
    app.include_router(approvals.router)
    app.include_router(privacy.router)
    app.include_router(audit.router)
    app.include_router(reports.router)
    app.include_router(connectors.router)
    app.include_router(connector_webhooks.router)
    tracking.install(app, application)
    console.install(app)  # the web console at / (issue 15): HTML pages over the same services
    app.add_api_route("/health", _health, methods=["GET"], tags=["health"], summary="Liveness (no API key)",
                      **public("nothing to protect: answers only that the process is up, and its version"))
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(YamlTooLarge, _yaml_too_large)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(DBAPIError, _database_busy)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description,
                                 routes=app.routes)
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for model in _DOC_ONLY_MODELS:  # request bodies parsed by hand, documented here
                doc = model.model_json_schema(ref_template="#/components/schemas/{model}")
                components.update(doc.pop("$defs", {}))
                components[model.__name__] = doc
            app.openapi_schema = complete_document(schema)
        return app.openapi_schema

    setattr(app, "openapi", openapi)  # noqa: B010  (replace the generated schema with the completed one)

    async def openapi_document() -> Response:
        return json_response(app.openapi())

    app.add_api_route(OPENAPI_URL, openapi_document, methods=["GET"], include_in_schema=False,
                      **public("nothing to protect: the API's published description"))
    return app


async def _health() -> dict[str, str]:
    return {"status": "ok", "version": __version__}


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return json_response({"detail": exc.detail, "errors": exc.errors}, exc.status_code)


async def _yaml_too_large(request: Request, exc: Exception) -> Response:
    """A YAML body over a limit of the one loader (domain/safe_yaml.py): 413 for its size, 422 otherwise."""
    assert isinstance(exc, YamlTooLarge)
    errors = [{"field": "body", "in": "body", "reason": str(exc)}]
    return json_response({"detail": f"body: {exc}", "errors": errors}, 413 if exc.limit == "size" else 422)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers) if exc.headers else {}
    if exc.status_code == 405:  # Starlette names only the first route on the path; a path may have several
        headers["Allow"] = ", ".join(_methods_on(request))
    return json_response({"detail": exc.detail, "errors": []}, exc.status_code, headers=headers or None)


_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def _methods_on(request: Request) -> list[str]:
    """The methods some route takes on this path (asked of the router, which nests included routers)."""
    routes = request.app.router.routes
    return [method for method in _METHODS
            if any(route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes)]


_RETRYABLE_SQLSTATES = ("40001", "40P01", "55P03")  # serialization failure, deadlock, lock not available


async def _database_busy(request: Request, exc: Exception) -> Response:
    """Writers that still clashed after the service's retries: 503, safe to retry (ids make it idempotent)."""
    assert isinstance(exc, DBAPIError)
    state = getattr(exc.orig, "sqlstate", None)
    if isinstance(exc, IntegrityError) or state in _RETRYABLE_SQLSTATES or "database is locked" in str(exc.orig):
        return json_response({"detail": "the database is busy with concurrent writes; retry the request "
                                        "(events with the same ids are not stored twice)", "errors": []},
                             503, headers={"Retry-After": "1"})
    raise exc


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors: list[dict[str, str]] = []
    for error in exc.errors():
        loc = [str(p) for p in error.get("loc", ())]
        where = loc[0] if loc else "body"
        path = ".".join(loc[1:]) if where in ("body", "query", "path", "header") else ".".join(loc)
        reason = readable_reason(error)
        if error.get("type") == "extra_forbidden":
            reason = "unknown field"
        elif error.get("type") == "json_invalid":
            reason = f"body is not valid JSON: {reason}"
        errors.append({"field": path or where, "in": where, "reason": reason})
    detail = "; ".join(f"{e['field']}: {e['reason']}" for e in errors) or "invalid request"
    return json_response({"detail": detail, "errors": errors}, 422)
