"""The asset library (素材库, C7): images and files with their versions, uploaded by editors.

The same service as ``/v1/assets`` (``save_asset``: a new version unless the bytes equal the newest); the bytes
are served by the API route ``/v1/assets/{name}/content`` (raster images inline, anything else as a sandboxed
download), which the session cookie opens like any ``/v1`` GET.

An upload is received like an import (``upload_stream``): written to a private folder under the data directory as
it arrives, never read whole into memory; past ``MAX_ASSET_BYTES`` it stops at once with a 413 in the reader's
language. Only a file within the limit is read back, for the service, and its folder is removed either way.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from touchflow.api.routes import api_state
from touchflow.console.auth import ConsoleUser, Me, allow, services
from touchflow.console.errors import problem_of
from touchflow.console.i18n import N_
from touchflow.console.templating import render
from touchflow.console.views.import_jobs import DEFAULT_UPLOAD_ROOT, UploadError, upload_folder
from touchflow.console.views.upload_stream import FORM_OVERHEAD, UploadTooLarge, receive_upload
from touchflow.services.content import MAX_ASSET_BYTES, AssetTooLarge, ContentError, list_assets, save_asset

__all__ = ["router"]

router = APIRouter()


async def _page(request: Request, me: ConsoleUser, failure: Exception | None = None, saved: str | None = None,
                status: int = 200) -> Response:
    too_large = isinstance(failure, (UploadTooLarge, AssetTooLarge))
    shown = {"problem": problem_of(failure) if failure is not None and not too_large else None,
             "too_large": too_large, "max_mb": MAX_ASSET_BYTES // (1024 * 1024)}
    if request.headers.get("hx-request") == "true" and failure is not None:  # the upload form's message area
        return render(request, me, "content/_asset_error.html", shown, status_code=status)
    found = await run_in_threadpool(list_assets, services(request))
    return render(request, me, "content/assets.html",
                  {"title": N_("Asset library"), "assets": found, "saved": saved, **shown}, status_code=status)


@router.get("/content/assets", **allow("content.read"))
async def asset_list(request: Request, me: Me, saved: str | None = None) -> Response:
    return await _page(request, me, saved=saved)


def _upload_root(request: Request) -> Path:
    found = getattr(request.app.state, "upload_dir", None)
    return found if isinstance(found, Path) else DEFAULT_UPLOAD_ROOT


@router.post("/content/assets", **allow("content.write"))
async def upload_asset(request: Request, me: Me) -> Response:
    """htmx multipart (the CSRF header goes with it); a new version of ``name`` (default: the file's name)."""
    size = request.headers.get("content-length", "")
    if size.isdigit() and int(size) > MAX_ASSET_BYTES + FORM_OVERHEAD:
        return await _page(request, me, UploadTooLarge(MAX_ASSET_BYTES), status=413)
    folder = await run_in_threadpool(upload_folder, _upload_root(request))
    try:
        fields, file = await receive_upload(request.stream(), request.headers.get("content-type", ""), folder,
                                            MAX_ASSET_BYTES)
        if file is None:
            raise UploadError("file", "choose a file to upload")
        name = fields.get("name", "").strip() or file[0].replace("\\", "/").rsplit("/", 1)[-1]
        data = await run_in_threadpool(file[1].read_bytes)  # within the limit: receive_upload stopped past it
        state = api_state(request)
        record = await state.write(save_asset, state.services, name, data, by=me.principal.actor)
    except (UploadTooLarge, AssetTooLarge) as exc:
        return await _page(request, me, exc, status=413)
    except UploadError as exc:
        return await _page(request, me, exc, status=422)
    except ContentError as exc:
        return await _page(request, me, exc, status=422)
    finally:
        await run_in_threadpool(shutil.rmtree, folder, True)
    target = f"/content/assets?saved={record.name}"
    if request.headers.get("hx-request") == "true":
        return Response(status_code=204, headers={"HX-Redirect": target})
    return Response(status_code=303, headers={"Location": target})
