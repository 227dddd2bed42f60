"""The asset library (素材库, C7): images and files with their versions, uploaded by editors.

The same service as ``/v1/assets`` (``save_asset``: a new version unless the bytes equal the newest); the bytes
are served by the API route ``/v1/assets/{name}/content`` (raster images inline, anything else as a sandboxed
download), which the session cookie opens like any ``/v1`` GET.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from touchflow.api.routes import api_state
from touchflow.console.auth import ConsoleUser, Me, allow, services
from touchflow.console.errors import problem_of
from touchflow.console.i18n import N_
from touchflow.console.templating import render
from touchflow.console.views.import_jobs import UploadError, parse_upload
from touchflow.services.content import MAX_ASSET_BYTES, ContentError, list_assets, save_asset

__all__ = ["router"]

router = APIRouter()


async def _page(request: Request, me: ConsoleUser, failure: Exception | None = None, saved: str | None = None,
                status: int = 200) -> Response:
    error = str(failure) if failure is not None else None
    if request.headers.get("hx-request") == "true" and failure is not None:  # the reader's language
        return render(request, me, "imports/_upload_error.html", {"problem": problem_of(failure)},
                      status_code=status)
    found = await run_in_threadpool(list_assets, services(request))
    return render(request, me, "content/assets.html",
                  {"title": N_("Asset library"), "assets": found, "error": error, "saved": saved,
                   "max_mb": MAX_ASSET_BYTES // (1024 * 1024)}, status_code=status)


@router.get("/content/assets", **allow("content.read"))
async def asset_list(request: Request, me: Me, saved: str | None = None) -> Response:
    return await _page(request, me, saved=saved)


@router.post("/content/assets", **allow("content.write"))
async def upload_asset(request: Request, me: Me) -> Response:
    """htmx multipart (the CSRF header goes with it); a new version of ``name`` (default: the file's name)."""
    size = request.headers.get("content-length", "")
    if size.isdigit() and int(size) > MAX_ASSET_BYTES + 64 * 1024:
        return await _page(request, me, UploadError("file", f"over {MAX_ASSET_BYTES // (1024 * 1024)} MB"),
                           status=413)
    try:
        fields, file = parse_upload(request.headers.get("content-type", ""), await request.body())
        if file is None:
            raise UploadError("file", "choose a file to upload")
        name = fields.get("name", "").strip() or file[0].replace("\\", "/").rsplit("/", 1)[-1]
        state = api_state(request)
        record = await state.write(save_asset, state.services, name, file[1], by=me.principal.actor)
    except UploadError as exc:
        return await _page(request, me, exc, status=422)
    except ContentError as exc:
        return await _page(request, me, exc, status=413 if "limit" in str(exc) else 422)
    target = f"/content/assets?saved={record.name}"
    if request.headers.get("hx-request") == "true":
        return Response(status_code=204, headers={"HX-Redirect": target})
    return Response(status_code=303, headers={"Location": target})
