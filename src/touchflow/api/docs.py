"""``/docs`` without a CDN, and an OpenAPI document that tells the truth about every answer.

Swagger UI's bundle and stylesheet ship inside the package (``api/static/swagger-ui``, see the README
there): public CDNs are blocked on many intranets and slow or unreachable in China. The page carries
a CSP that allows only those files, its one inline script (by hash) and calls back to this server.

The generated document is completed by ``complete_document``: the real 4xx body (``ErrorOut``) instead
of FastAPI's ``HTTPValidationError``, and the 400/401/403/413/422/429/503 answers where they can happen.
"""

from __future__ import annotations

import base64
import hashlib
import re
from importlib import resources
from typing import Any

from fastapi import FastAPI, HTTPException
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from touchflow.api.permissions import public

__all__ = ["ASSETS_PREFIX", "complete_document", "install_docs"]

ASSETS_PREFIX = "/docs-assets"
_ASSETS = {"swagger-ui-bundle.js": "text/javascript; charset=utf-8", "swagger-ui.css": "text/css; charset=utf-8",
           "favicon-32x32.png": "image/png"}
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def install_docs(app: FastAPI) -> None:
    """``/docs`` and its assets; the app must be built with ``docs_url=None, redoc_url=None``."""
    page = bytes(get_swagger_ui_html(
        openapi_url="/openapi.json", title=f"{app.title} — docs",
        swagger_js_url=f"{ASSETS_PREFIX}/swagger-ui-bundle.js", swagger_css_url=f"{ASSETS_PREFIX}/swagger-ui.css",
        swagger_favicon_url=f"{ASSETS_PREFIX}/favicon-32x32.png",
        # 128 operations in 23 tags: open with the tags listed and folded (a tag opens on a click); with every
        # operation drawn at once this Swagger UI stopped drawing after the third tag, silently
        swagger_ui_parameters={"docExpansion": "none"}).body)
    hashes = " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'"
                      for s in _INLINE_SCRIPT.findall(page.decode()))
    policy = (f"default-src 'none'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; "
              "img-src 'self' data:; connect-src 'self'; font-src 'self' data:; base-uri 'none'; "
              "form-action 'none'; frame-ancestors 'none'")
    folder = resources.files("touchflow.api") / "static" / "swagger-ui"
    files = {name: (folder / name).read_bytes() for name in _ASSETS}

    async def docs(request: Request) -> Response:
        return HTMLResponse(page, headers={"Content-Security-Policy": policy, "Cache-Control": "no-cache"})

    async def asset(name: str) -> Response:
        if name not in files:
            raise HTTPException(404, "no such file")
        return Response(files[name], media_type=_ASSETS[name], headers={"Cache-Control": "public, max-age=86400"})

    app.add_api_route("/docs", docs, methods=["GET"], include_in_schema=False,
                      **public("nothing to protect: a static page (strict CSP) that reads /openapi.json"))
    app.add_api_route(f"{ASSETS_PREFIX}/{{name}}", asset, methods=["GET"], include_in_schema=False,
                      **public("nothing to protect: the page's bundled script, stylesheet and icon"))


# --- the OpenAPI document -------------------------------------------------------------------------------

_ERROR = {"$ref": "#/components/schemas/ErrorOut"}
_WRITES = ("post", "put", "patch", "delete")
_DEFAULTS: dict[str, str] = {
    "400": "the body could not be read (not JSON, not UTF-8)",
    "401": "missing, unknown or revoked API key",
    "403": "the caller's role or scopes lack the operation's `x-permission`, a session request without its CSRF "
           "token, or a public site key outside /v1/onsite",
    "413": "the body is over its size limit, or a batch over its item limit",
    "422": "a field is invalid; `errors` names each one (`field`, `in`: path/query/header/body, `reason`)",
    "429": "too many requests from this visitor or key; wait `Retry-After` seconds",
    "503": "the database is busy with concurrent writes; retry after `Retry-After` seconds",
}
_RETRY_AFTER = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}}


def _error_response(code: str) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": _DEFAULTS[code], "content": {"application/json": {"schema": _ERROR}}}
    if code in ("429", "503"):
        answer["headers"] = _RETRY_AFTER
    return answer


def _needs_key(path: str, operation: dict[str, Any]) -> bool:
    return bool(operation.get("security")) or (path.startswith("/v1/") and path != "/v1/onsite/snippet.js")


def complete_document(schema: dict[str, Any]) -> dict[str, Any]:
    """Document the answers every route can give that FastAPI does not know about."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            if method not in (*_WRITES, "get", "head", "options"):
                continue
            responses: dict[str, Any] = operation.setdefault("responses", {})
            codes: list[str] = []
            if operation.get("parameters") or operation.get("requestBody") or method in _WRITES:
                codes.append("422")
            if operation.get("requestBody") or method in _WRITES:  # a POST may carry a body it reads by hand
                codes += ["400", "413"]
            if _needs_key(path, operation):
                codes += ["401", "403"]
            if path.startswith("/v1/onsite/"):
                codes.append("429")
            if method in _WRITES:
                codes.append("503")
            for code in codes:
                found = responses.get(code)
                if found is None or _is_fastapi_validation(found):
                    responses[code] = _error_response(code)
    return schema


def _is_fastapi_validation(answer: dict[str, Any]) -> bool:
    content = answer.get("content", {}).get("application/json", {})
    return bool(content.get("schema", {}).get("$ref", "").endswith("/HTTPValidationError"))
