"""The console's own and vendored files (``static/``), served from the package: no CDN (intranets, China).

Files are read once, on first request, into memory with a strong ETag; only files that exist in the package
are answered, so a path can never leave the folder.
"""

from __future__ import annotations

import hashlib
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable

from fastapi import APIRouter, Request
from starlette.responses import Response

from touchflow.api.permissions import public

__all__ = ["STATIC_PREFIX", "router"]

STATIC_PREFIX = "/static"
_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml",
          ".png": "image/png", ".woff2": "font/woff2", ".json": "application/json", ".txt": "text/plain; charset=utf-8"}

router = APIRouter()


def _walk(folder: Traversable, prefix: str) -> dict[str, Traversable]:
    found: dict[str, Traversable] = {}
    for entry in folder.iterdir():
        name = f"{prefix}{entry.name}"
        if entry.is_dir():
            found.update(_walk(entry, f"{name}/"))
        elif any(entry.name.endswith(ext) for ext in _TYPES):
            found[name] = entry
    return found


@cache
def _files() -> dict[str, Traversable]:
    return _walk(resources.files("touchflow.console") / "static", "")


@cache
def _load(name: str) -> tuple[bytes, str]:
    data = _files()[name].read_bytes()
    return data, '"' + hashlib.sha256(data).hexdigest()[:32] + '"'


@router.get(STATIC_PREFIX + "/{name:path}", include_in_schema=False,
            **public("nothing to protect: the console's stylesheets, scripts and vendored libraries"))
async def static_file(name: str, request: Request) -> Response:
    if name not in _files():
        return Response("no such file", status_code=404, media_type="text/plain")
    data, etag = _load(name)
    kind = next(t for ext, t in _TYPES.items() if name.endswith(ext))
    headers = {"ETag": etag, "Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(data, media_type=kind, headers=headers)
