"""The content library's records as plain JSON data: the one shape the CLI's ``--json`` and the API print."""

from __future__ import annotations

from typing import Any

from touchflow.domain.content.ports import AssetRecord, ReviewRecord, TemplateVersion

__all__ = ["asset_document", "review_document", "template_document"]


def template_document(t: TemplateVersion, *, with_body: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": t.name, "version": t.version, "channel": t.channel, "layout": t.layout, "status": t.status,
        "subject": t.subject, "tags": list(t.tags), "findings": list(t.findings),
        "review_reasons": t.review_reasons,
        "created_at": t.created_at.isoformat(), "created_by": t.created_by}
    if with_body:
        data.update(body=t.body, text_body=t.text_body)
    return data


def review_document(r: ReviewRecord) -> dict[str, Any]:
    return {"id": r.id, "template": r.template_name, "version": r.template_version, "status": r.status,
            "requested_at": r.requested_at.isoformat(), "requested_by": r.requested_by,
            "decided_at": r.decided_at.isoformat() if r.decided_at else None, "reviewer": r.reviewer,
            "comment": r.comment}


def asset_document(a: AssetRecord) -> dict[str, Any]:
    return {"id": a.id, "name": a.name, "version": a.version, "kind": a.kind, "content_type": a.content_type,
            "size": a.size, "sha256": a.sha256, "metadata": a.metadata, "created_at": a.created_at.isoformat(),
            "created_by": a.created_by}
