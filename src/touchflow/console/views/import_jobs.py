"""Console file imports: the uploaded file on disk, a look at its first rows, and the run in a thread.

The run is the CLI's (``engine.importer.import_file``, the same batches, reject file and audit row); the console
adds only where the file waits between upload and run — a private folder per upload under the data directory's
``uploads`` (mode 0700), written as it arrives by ``upload_stream.receive_upload``, removed a day later — and a
progress figure the page polls. Jobs live in this process's memory: an upload belongs to the person who made it
(only they see, run or download it), and a restart forgets unfinished uploads.
"""

from __future__ import annotations

import email.parser
import email.policy
import itertools
import logging
import re
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from touchflow.engine.headers import canonical_headers, known_fields
from touchflow.engine.importer import ImportReport, import_file
from touchflow.engine.readers import MappingError, ReadError, open_rows
from touchflow.services.context import ServiceContext

__all__ = [
    "DEFAULT_UPLOAD_ROOT",
    "MAX_UPLOAD_BYTES",
    "ImportJob",
    "Preview",
    "UploadError",
    "forget",
    "job_of",
    "parse_upload",
    "preview",
    "start",
    "store_received",
    "upload_folder",
]

MAX_UPLOAD_BYTES = 50 * 1024 * 1024
_KEEP_SECONDS = 24 * 3600
_PREVIEW_ROWS = 5
_SUFFIXES = (".csv", ".tsv", ".txt", ".jsonl", ".ndjson", ".xlsx")
DEFAULT_UPLOAD_ROOT = Path(tempfile.gettempdir()) / "touchflow-console-imports"  # when no data directory is set
_LOCK = threading.Lock()
_JOBS: dict[str, ImportJob] = {}
_log = logging.getLogger(__name__)


class UploadError(ValueError):
    def __init__(self, field_name: str, reason: str) -> None:
        super().__init__(f"{field_name}: {reason}")
        self.field = field_name
        self.reason = reason


@dataclass
class ImportJob:
    id: str
    owner: str  # the uploader's Actor.id
    kind: Literal["contacts", "events"]
    source: str
    file_name: str
    path: Path
    created: float = field(default_factory=time.monotonic)
    mapping: dict[str, str] = field(default_factory=dict)  # FIELD -> COLUMN, as ``--map``
    state: str = "uploaded"  # uploaded | running | done | failed
    done_bytes: int = 0
    total_bytes: int = 0
    report: ImportReport | None = None
    error: str | None = None

    @property
    def percent(self) -> int:
        if self.state == "done":
            return 100
        return int(100 * self.done_bytes / self.total_bytes) if self.total_bytes else 0


@dataclass(frozen=True)
class Preview:
    format: str
    encoding: str | None  # CSV only: utf-8-sig (UTF-8) or gb18030 (GBK)
    delimiter: str | None
    headers: list[str]
    fields: dict[str, str]  # header -> where it goes with the current mapping
    rows: list[list[str]]
    choices: list[str]  # fields a column may be mapped to


def parse_upload(content_type: str, body: bytes) -> tuple[dict[str, str], tuple[str, bytes] | None]:
    """A ``multipart/form-data`` body: its text fields and its one file (name, bytes), without python-multipart."""
    if not content_type.lower().startswith("multipart/form-data") or "boundary=" not in content_type:
        raise UploadError("file", "send the form as multipart/form-data")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body)
    if not message.is_multipart():
        raise UploadError("file", "not a readable multipart form")
    fields: dict[str, str] = {}
    upload: tuple[str, bytes] | None = None
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        if filename is not None:
            if upload is not None:
                raise UploadError("file", "send one file at a time")
            upload = (filename, data)
        else:
            fields[name] = data.decode("utf-8", "replace")[:1000]
    return fields, upload


def _sweep() -> None:
    now = time.monotonic()
    with _LOCK:
        old = [j for j in _JOBS.values() if now - j.created > _KEEP_SECONDS and j.state != "running"]
        for job in old:
            del _JOBS[job.id]
    for job in old:
        shutil.rmtree(job.path.parent, ignore_errors=True)


def upload_folder(root: Path) -> Path:
    """A new private folder (0700) under ``root`` for one upload; old uploads are swept first."""
    _sweep()
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(dir=root))


def _checked_name(kind: str, source: str, file_name: str) -> str:
    if kind not in ("contacts", "events"):
        raise UploadError("kind", "contacts or events")
    if not source or len(source) > 100:
        raise UploadError("source", "name the source, 1-100 characters (e.g. crm, offline_expo)")
    base = re.sub(r"[^\w.\-]", "_", Path(file_name.replace("\\", "/")).name)[-120:].lstrip(".") or "upload.csv"
    if not base.lower().endswith(_SUFFIXES):
        raise UploadError("file", "a CSV, JSON Lines (.jsonl) or Excel (.xlsx) file")
    return base


def store_received(owner: str, kind: str, source: str, file_name: str, received: Path) -> ImportJob:
    """Keep a file ``receive_upload`` wrote (in its own upload folder) for its mapping and run; ``UploadError``
    naming the field when it cannot be used (the caller removes the folder then)."""
    source = source.strip()
    base = _checked_name(kind, source, file_name)
    size = received.stat().st_size
    if not size:
        raise UploadError("file", "the file is empty")
    if size > MAX_UPLOAD_BYTES:
        raise UploadError("file", f"over {MAX_UPLOAD_BYTES // (1024 * 1024)} MB: use `touchflow import` on the server")
    path = received.rename(received.parent / base)
    job = ImportJob(secrets.token_urlsafe(12), owner, kind, source, base, path)  # type: ignore[arg-type]
    with _LOCK:
        _JOBS[job.id] = job
    return job


def forget(job_id: str) -> None:
    """Drop a job whose file was refused (its folder is removed by the caller)."""
    with _LOCK:
        _JOBS.pop(job_id, None)


def job_of(job_id: str, owner: str) -> ImportJob | None:
    """The job, only for the person who uploaded it."""
    with _LOCK:
        job = _JOBS.get(job_id)
    return job if job is not None and job.owner == owner else None


def preview(job: ImportJob, mapping: Mapping[str, str] | None = None) -> Preview:
    """Format, detected encoding, the first rows and where each column goes; ``ReadError``/``MappingError``."""
    with open_rows(job.path) as rows:
        headers = list(rows.headers)
        first = [[_cell(values.get(h)) for h in headers] for _, values in itertools.islice(iter(rows), _PREVIEW_ROWS)]
        fields = canonical_headers(headers, job.kind, mapping if mapping is not None else job.mapping)
        return Preview(rows.format, getattr(rows, "encoding", None), getattr(rows, "delimiter", None), headers,
                       fields, first, known_fields(job.kind))


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= 80 else text[:79] + "…"


def start(ctx: ServiceContext, job: ImportJob, actor: str, batch_size: int = 2000) -> None:
    """Run the import in a thread; the page polls ``job.percent`` and shows ``job.report`` when done."""
    with _LOCK:
        if job.state == "running":
            return
        job.state, job.error, job.report, job.done_bytes = "running", None, None, 0

    def progress(done: int, total: int) -> None:
        job.done_bytes, job.total_bytes = done, total

    def work() -> None:
        try:
            report = import_file(ctx, job.path, job.kind, job.source, job.mapping or None, None, progress,
                                 batch_size, False, actor=actor)
        except (ReadError, MappingError, ValueError, OSError) as exc:
            job.error, job.state = str(exc).replace(str(job.path.parent) + "/", ""), "failed"
            return
        except Exception as exc:  # a thread has nobody to raise to: the page shows it, the log keeps it
            _log.exception("console import %s stopped", job.id)
            job.error, job.state = f"the import stopped: {type(exc).__name__}", "failed"
            return
        job.report, job.state = report, "done"

    threading.Thread(target=work, name=f"console-import-{job.id}", daemon=True).start()
