"""Imports and sources (D1–D3): upload a CSV/XLSX/JSON Lines file, check the detected encoding and the first rows,
map columns (what ``touchflow import --map FIELD=COLUMN`` does), run it with a progress bar, read the reject
reasons and download the reject file; the source registry with each source's sync success rate.

The connectors card (schedules, runs, errors, success rate; run now, pause, resume) is ``views/connectors.py``.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import FileResponse, RedirectResponse, Response

from touchflow.console.auth import ConsoleUser, Denied, Me, allow, services
from touchflow.console.errors import problem_of
from touchflow.console.forms import FormError, read_form
from touchflow.console.i18n import N_
from touchflow.console.templating import render
from touchflow.console.views import connectors
from touchflow.console.views.import_jobs import (
    DEFAULT_UPLOAD_ROOT,
    MAX_UPLOAD_BYTES,
    ImportJob,
    UploadError,
    forget,
    job_of,
    preview,
    start,
    store_received,
    upload_folder,
)
from touchflow.console.views.upload_stream import FORM_OVERHEAD, UploadTooLarge, receive_upload
from touchflow.domain.errors import FieldError
from touchflow.engine.readers import MappingError, ReadError
from touchflow.services.sources import list_sources

__all__ = ["router"]

router = APIRouter()
_KIND_PERMISSION = {"contacts": "contacts.write", "events": "events.write"}
_COUNTS = (("read", N_("rows read")), ("created", N_("created")), ("updated", N_("updated")),
           ("merged", N_("merged")), ("duplicates", N_("duplicates skipped")), ("rejected", N_("rows rejected")),
           ("warnings", N_("stored with a field left out")))


def _owner(me: ConsoleUser) -> str:
    return me.principal.actor.id


async def _start_page(request: Request, me: ConsoleUser, error: Exception | None = None, status: int = 200,
                      flash: dict[str, str] | None = None) -> Response:
    """``error``: an upload refused — over the limit (a message naming it), else a field and reason through the
    catalogs (``console/errors.py``)."""
    shown = {"error": None, "too_large": isinstance(error, UploadTooLarge),
             "problem": problem_of(error) if error is not None and not isinstance(error, UploadTooLarge) else None,
             "max_mb": MAX_UPLOAD_BYTES // (1024 * 1024)}
    if error is not None and request.headers.get("hx-request") == "true":  # the upload form's message area
        return render(request, me, "imports/_upload_error.html", shown, status_code=status)
    sources = await run_in_threadpool(list_sources, services(request))
    found = await connectors.load(request) if me.can("connectors.read") else None
    return render(request, me, "imports/start.html",
                  {"title": N_("Imports and sources"), "sources": sources, "connectors": found,
                   "can_manage_connectors": me.can("connectors.manage"), **(flash or {}), **shown,
                   "events_allowed": me.can("events.write")},
                  status_code=status)


@router.get("/imports", **allow("contacts.write"))
async def imports_page(request: Request, me: Me, connector: str = "", connector_done: str = "",
                       connector_error: str = "") -> Response:
    flash = {"connector": connector[:100],
             "connector_done": connector_done if connector_done in ("run", "pause", "resume") else "",
             "connector_error": connector_error if connector_error in ("not_found", "paused") else ""}
    return await _start_page(request, me, flash=flash)


def _upload_root(request: Request) -> Path:
    found = getattr(request.app.state, "upload_dir", None)
    return found if isinstance(found, Path) else DEFAULT_UPLOAD_ROOT


@router.post("/imports", **allow("contacts.write"))
async def upload(request: Request, me: Me) -> Response:
    """The form is sent by htmx (multipart, with the session's CSRF token as ``X-CSRF-Token``). The body is
    written to disk as it arrives (``upload_stream``), never held in memory; past the limit it stops with 413."""
    size = request.headers.get("content-length", "")
    if size.isdigit() and int(size) > MAX_UPLOAD_BYTES + FORM_OVERHEAD:
        return await _start_page(request, me, UploadTooLarge(MAX_UPLOAD_BYTES), 413)
    folder = await run_in_threadpool(upload_folder, _upload_root(request))
    try:
        fields, file = await receive_upload(request.stream(), request.headers.get("content-type", ""), folder,
                                            MAX_UPLOAD_BYTES)
        if file is None:
            raise UploadError("file", "choose a file to upload")
        kind = fields.get("kind", "contacts")
        if kind in _KIND_PERMISSION and not me.can(_KIND_PERMISSION[kind]):
            raise Denied(f"permission '{_KIND_PERMISSION[kind]}' is needed to import {kind}", me)
        job = await run_in_threadpool(store_received, _owner(me), kind, fields.get("source", ""), file[0], file[1])
        await run_in_threadpool(preview, job)  # a file that cannot be read is refused now, not after mapping
    except UploadTooLarge as exc:
        shutil.rmtree(folder, ignore_errors=True)
        return await _start_page(request, me, exc, 413)
    except UploadError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        return await _start_page(request, me, exc, 422)
    except ReadError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        forget(job.id)
        return await _start_page(request, me, FieldError("file", str(exc).split(": ", 1)[-1]), 422)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)  # a refused permission, a dropped connection: nothing is kept
        raise
    if request.headers.get("hx-request") == "true":
        return Response(status_code=204, headers={"HX-Redirect": f"/imports/{job.id}"})
    return RedirectResponse(f"/imports/{job.id}", status_code=303)


def _job(me: ConsoleUser, job_id: str) -> ImportJob | None:
    """The upload, for the person who made it; None for anyone else or when it is gone (a 404 either way)."""
    return job_of(job_id, _owner(me))


def _gone(request: Request, me: ConsoleUser) -> Response:
    return render(request, me, "imports/missing.html", {"title": N_("Upload not found")}, status_code=404)


def _mapping_problem(exc: Exception) -> Exception:
    """A reader's ``--map FIELD=COLUMN: reason`` as a field error the catalogs show (the column named)."""
    head, sep, reason = str(exc).partition(": ")
    if sep and head.startswith("--map ") and "=" in head:
        return FieldError(head.removeprefix("--map ").partition("=")[2][:100] or "file", reason)
    return FieldError("file", str(exc).split(": ", 1)[-1]) if isinstance(exc, ReadError) else exc


def _mapping_context(job: ImportJob, mapping: dict[str, str] | None = None) -> dict[str, Any]:
    """The preview with ``mapping``; ``problem`` (``console/errors.py``) when the mapping or the file is refused."""
    try:
        return {"job": job, "preview": preview(job, mapping), "problem": None}
    except (MappingError, ReadError) as exc:
        return {"job": job, "preview": preview(job, {}), "problem": problem_of(_mapping_problem(exc))}


@router.get("/imports/{job_id}", **allow("contacts.write"))
async def mapping_page(request: Request, me: Me, job_id: str) -> Response:
    job = _job(me, job_id)
    if job is None:
        return _gone(request, me)
    context = await run_in_threadpool(_mapping_context, job)
    return render(request, me, "imports/mapping.html", {"title": N_("Map columns"), **context})


def _mapping_from(form: dict[str, str], headers: list[str]) -> tuple[dict[str, str], FieldError | None]:
    """``col3=phone`` → ``phone`` is read from the fourth column; ``custom`` keeps it a custom attribute.
    A field chosen for two columns is refused, naming the column (a mapping has one column per field)."""
    mapping: dict[str, str] = {}
    for index, header in enumerate(headers):
        chosen = form.get(f"col{index}", "").strip()
        field = f"custom.{header}" if chosen == "custom" else chosen
        if not field:
            continue
        if field in mapping:
            return mapping, FieldError(header, f"{field} is already chosen for column {mapping[field]!r}")
        mapping[field] = header
    return mapping, None


@router.post("/imports/{job_id}/mapping", **allow("contacts.write"))
async def change_mapping(request: Request, me: Me, job_id: str) -> Response:
    """htmx on every change: the preview again with the new mapping; kept on the job when it is valid."""
    job = _job(me, job_id)
    if job is None:
        return _gone(request, me)
    problem: Exception | None
    try:
        form = await read_form(request)
    except FormError as exc:
        form, problem = {}, exc
    else:
        problem = None
    headers = (await run_in_threadpool(preview, job)).headers
    mapping, wrong = _mapping_from(form, headers)
    problem = problem or wrong
    context = await run_in_threadpool(_mapping_context, job, job.mapping if problem else mapping)
    if context["problem"] is None and problem is None:
        job.mapping = mapping
    if problem is not None:
        context["problem"] = problem_of(problem)
    if request.headers.get("hx-request") == "true":
        return render(request, me, "imports/_mapping.html", context)
    return RedirectResponse(f"/imports/{job.id}", status_code=303)


@router.post("/imports/{job_id}/run", **allow("contacts.write"))
async def run(request: Request, me: Me, job_id: str) -> Response:
    job = _job(me, job_id)
    if job is None:
        return _gone(request, me)
    if job.state in ("uploaded", "failed"):
        start(services(request), job, me.principal.actor.label)
    return RedirectResponse(f"/imports/{job.id}/run", status_code=303)


def _progress_context(job: ImportJob) -> dict[str, Any]:
    # the state first: the import's thread sets the report before it says "done", so a "done" read here comes with
    # its report (read the other way round, a page could say done and show no counts: a flaky browser test)
    state = job.state
    report = job.report
    counts = [(label, getattr(report, key)) for key, label in _COUNTS if report is not None and
              (getattr(report, key) or key in ("read", "rejected"))]
    reasons = report.reject_reasons.most_common(5) if report is not None else []
    return {"job": job, "state": state, "counts": counts, "reasons": reasons,
            "has_rejects": report is not None and report.rejects_file is not None}


@router.get("/imports/{job_id}/run", **allow("contacts.write"))
async def run_page(request: Request, me: Me, job_id: str) -> Response:
    job = _job(me, job_id)
    if job is None:
        return _gone(request, me)
    return render(request, me, "imports/run.html", {"title": N_("Import"), **_progress_context(job)})


@router.get("/imports/{job_id}/progress", **allow("contacts.write"))
async def progress(request: Request, me: Me, job_id: str) -> Response:
    """htmx polls this every second while the import runs; the finished fragment stops the polling."""
    job = _job(me, job_id)
    if job is None:
        return _gone(request, me)
    return render(request, me, "imports/_progress.html", _progress_context(job))


@router.get("/imports/{job_id}/rejects", **allow("contacts.write"))
async def rejects(request: Request, me: Me, job_id: str) -> Response:
    job = _job(me, job_id)
    if job is None:
        return _gone(request, me)
    if job.report is None or job.report.rejects_file is None or not job.report.rejects_file.exists():
        return Response("no reject file for this import", status_code=404, media_type="text/plain; charset=utf-8")
    name = job.report.rejects_file.name
    return FileResponse(job.report.rejects_file, filename=name, media_type="text/csv; charset=utf-8"
                        if name.endswith(".csv") else "application/octet-stream",
                        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})
