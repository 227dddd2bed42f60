"""Exports of personal data (P4): asked for, approved by a second person, produced once, kept encrypted for the
requester alone for 24 h.

``request_export`` checks what is asked (source, format, fields) and files an ``export`` approval request. On
approval ``produce_export`` reads the contacts in one snapshot, writes the file (``export_files``), seals it
(``approval_files``) and audits it; a second run finds the file and produces nothing. While the incident kill
switch (workspace setting ``incident.kill_switch``, ``{"on": true}``) is on, no export is requested, approved,
produced or downloaded.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from touchflow.domain.actors import Actor
from touchflow.domain.errors import FieldError
from touchflow.domain.governance.approvals import ApprovalRefused, ApprovalRequest
from touchflow.domain.unit_of_work import UnitOfWork
from touchflow.services.approval_files import ARTIFACT_TTL, Pickup, pick_up, store_artifact
from touchflow.services.approvals import request_approval
from touchflow.services.context import ServiceContext
from touchflow.services.export_files import DEFAULT_FIELDS, FORMATS, check_fields, export_name, render

__all__ = [
    "EXPORT_KIND",
    "KILL_SWITCH_KEY",
    "MAX_EXPORT_ROWS",
    "ExportsFrozen",
    "download_export",
    "exports_frozen",
    "frozen_reason",
    "produce_export",
    "request_export",
    "validate_export",
]

EXPORT_KIND = "export"
KILL_SWITCH_KEY = "incident.kill_switch"
MAX_EXPORT_ROWS = 200_000  # a bigger pull of personal data is not an "export" but a migration: talk to IT
_PAGE = 1000


class ExportsFrozen(ApprovalRefused):
    def __init__(self, why: str) -> None:
        super().__init__("frozen", why)


def frozen_reason(uow: UnitOfWork) -> str | None:
    """Why exports are stopped now (the incident kill switch is on), or None."""
    setting = uow.guards.setting(KILL_SWITCH_KEY) or {}
    if not any(bool(setting.get(flag)) for flag in ("on", "enabled", "active")):
        return None
    reason = str(setting.get("reason") or setting.get("incident") or "").strip()
    return "exports are frozen: the incident kill switch is on" + (f" ({reason})" if reason else "")


def exports_frozen(ctx: ServiceContext) -> bool:
    """The check hook the incident response flips (``save_setting(ctx, KILL_SWITCH_KEY, {"on": True}, …)``)."""
    with ctx.reader() as uow:
        return frozen_reason(uow) is not None


def _refuse_if_frozen(ctx: ServiceContext) -> None:
    with ctx.reader() as uow:
        why = frozen_reason(uow)
    if why:
        raise ExportsFrozen(why)


def validate_export(ctx: ServiceContext, payload: Mapping[str, Any]) -> dict[str, Any]:
    """The payload as stored: ``source`` contacts|segment, ``segment`` key, ``tag``, ``format``, ``fields``."""
    _refuse_if_frozen(ctx)
    source = str(payload.get("source") or "contacts")
    if source not in ("contacts", "segment"):
        raise FieldError("source", f"contacts or segment, got {source!r}")
    fmt = str(payload.get("format") or "csv").lower()
    if fmt not in FORMATS:
        raise FieldError("format", f"one of {', '.join(FORMATS)}, got {fmt!r}")
    raw_fields = payload.get("fields") or list(DEFAULT_FIELDS)
    if isinstance(raw_fields, str):
        raw_fields = [f for f in raw_fields.split(",") if f.strip()]
    if not isinstance(raw_fields, list | tuple):
        raise FieldError("fields", "a list of field names")
    fields = check_fields([str(f) for f in raw_fields])
    clean: dict[str, Any] = {"source": source, "format": fmt, "fields": fields}
    tag = payload.get("tag")
    if tag is not None and str(tag).strip():
        clean["tag"] = str(tag).strip()[:100]
    if source == "segment":
        key = str(payload.get("segment") or "").strip()
        if not key:
            raise FieldError("segment", "name the segment to export")
        with ctx.reader() as uow:
            record = uow.segments.get(key)
        if record is None or record.status != "active":
            raise FieldError("segment", f"no active segment {key!r}")
        clean["segment"] = key
    return clean


def request_export(ctx: ServiceContext, actor: Actor, *, source: str = "contacts", segment: str | None = None,
                   tag: str | None = None, fmt: str = "csv", fields: Sequence[str] | None = None,
                   reason: str) -> ApprovalRequest:
    payload: dict[str, Any] = {"source": source, "format": fmt, "fields": list(fields or DEFAULT_FIELDS)}
    if segment is not None:
        payload["segment"] = segment
    if tag is not None:
        payload["tag"] = tag
    subject = f"segment:{segment}" if source == "segment" else ("contacts" + (f" tag:{tag}" if tag else ""))
    return request_approval(ctx, actor, EXPORT_KIND, subject, payload, reason=reason)


def _contact_ids(uow: UnitOfWork, payload: Mapping[str, Any]) -> Iterator[list[str]]:
    tag = payload.get("tag")
    if payload["source"] == "segment":
        record = uow.segments.get(str(payload["segment"]))
        if record is None:
            raise FieldError("segment", f"segment {payload['segment']!r} no longer exists")
        after: str | None = None
        while page := [cid for cid, _ in uow.segments.members(record.id, after, _PAGE)]:
            after = page[-1]
            if tag:
                tagged = uow.contacts.load(page)
                page = [cid for cid in page if cid in tagged and str(tag) in tagged[cid].tags]
            yield page
        return
    offset = 0
    while page := uow.contacts.search(None, str(tag) if tag else None, _PAGE, offset):
        offset += len(page)
        yield page


def _rows(uow: UnitOfWork, payload: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for page in _contact_ids(uow, payload):
        states = uow.contacts.load(page)
        addresses = uow.guards.addresses(page)
        for cid in page:
            state = states.get(cid)
            if state is None or state.merged_into is not None:
                continue
            found = addresses.get(cid, {})
            row: dict[str, Any] = {"id": cid, "email": found.get("email"), "phone": found.get("phone"),
                                   "tags": ",".join(sorted(state.tags)), "created_at": state.created_at.isoformat()}
            row.update(state.values)
            rows.append(row)
            if len(rows) > MAX_EXPORT_ROWS:
                raise FieldError("source", f"more than {MAX_EXPORT_ROWS} contacts: narrow it (a segment or a tag)")
    return rows


def produce_export(ctx: ServiceContext, request: ApprovalRequest) -> dict[str, Any]:
    """The ``export`` executor: produce the file once (a second run returns what the first made)."""
    with ctx.reader() as uow:
        existing = uow.approvals.artifact(request.id)
        why = frozen_reason(uow)
        rows = [] if existing or why else _rows(uow, request.payload)
    if existing is not None:
        return {"file": existing.name, "rows": None, "produced": False, "expires_at": existing.expires_at.isoformat()}
    if why:
        raise ExportsFrozen(why)
    fmt = str(request.payload["format"])
    fields = [str(f) for f in request.payload["fields"]]
    now = ctx.clock.now()
    data, media_type = render(request, rows, fields, fmt, now)
    name = export_name(request.id, fmt)
    with ctx.uow() as uow:
        if uow.approvals.artifact(request.id) is not None:  # a concurrent run got there first
            return {"file": name, "rows": None, "produced": False}
        artifact = store_artifact(ctx, uow, request, name=name, media_type=media_type, data=data)
        uow.audit.record(request.decided_by_label or "system", "export.produce", f"approval:{request.id}", {
            "file": name, "rows": len(rows), "fields": list(fields), "format": fmt, "sha256": artifact.sha256,
            "bytes": artifact.size, "requested_by": request.requested_by_label}, now)
        uow.commit()
    return {"file": name, "rows": len(rows), "produced": True, "sha256": artifact.sha256,
            "expires_at": (now + ARTIFACT_TTL).isoformat()}


def download_export(ctx: ServiceContext, actor: Actor, request_id: str) -> Pickup:
    """The export file, for its requester only, within 24 h of production; refused while exports are frozen."""
    return pick_up(ctx, actor, request_id, frozen=frozen_reason)
