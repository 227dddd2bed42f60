"""Approval requests and their artifacts on SQL (``domain.governance.approval_ports.ApprovalRepository``)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, Row, insert, select, update

from touchflow.domain.governance.approval_ports import ApprovalArtifact
from touchflow.domain.governance.approvals import ApprovalRequest, ApprovalState
from touchflow.store.tables import approval_artifacts, approval_requests

__all__ = ["SqlApprovalRepository"]

_R = approval_requests
_A = approval_artifacts


def _values(request: ApprovalRequest) -> dict[str, Any]:
    return {"kind": request.kind, "subject": request.subject, "payload": dict(request.payload),
            "requested_by": request.requested_by, "requested_by_label": request.requested_by_label,
            "reason": request.reason, "state": request.state, "requested_at": request.requested_at,
            "expires_at": request.expires_at, "decided_by": request.decided_by,
            "decided_by_label": request.decided_by_label, "decided_at": request.decided_at, "note": request.note,
            "finished_at": request.finished_at, "result": dict(request.result)}


def _request(row: Row[Any]) -> ApprovalRequest:
    return ApprovalRequest(row.id, row.kind, row.subject, dict(row.payload), row.requested_by,
                           row.requested_by_label, row.reason, cast(ApprovalState, row.state), row.requested_at,
                           row.expires_at, row.decided_by, row.decided_by_label, row.decided_at, row.note,
                           row.finished_at, dict(row.result or {}))


def _artifact(row: Row[Any]) -> ApprovalArtifact:
    return ApprovalArtifact(row.request_id, row.name, row.media_type, int(row.size), row.sha256, row.produced_at,
                            row.expires_at, row.sealed_key,
                            bytes(row.ciphertext) if row.ciphertext is not None else None, int(row.downloads),
                            row.purged_at, bool(row.one_time))


class SqlApprovalRepository:
    def __init__(self, connection: Connection) -> None:
        self._c = connection
        self._pg = connection.dialect.name == "postgresql"

    def add(self, request: ApprovalRequest) -> None:
        self._c.execute(insert(_R).values(id=request.id, **_values(request)))

    def get(self, request_id: str, *, lock: bool = False) -> ApprovalRequest | None:
        query = select(_R).where(_R.c.id == request_id)
        if lock and self._pg:  # SQLite: the writer lock taken at BEGIN IMMEDIATE already serialises deciders
            query = query.with_for_update()
        row = self._c.execute(query).first()
        return None if row is None else _request(row)

    def save(self, request: ApprovalRequest) -> None:
        self._c.execute(update(_R).where(_R.c.id == request.id).values(**_values(request)))

    def find(self, *, states: Collection[str] | None, kind: str | None, limit: int) -> list[ApprovalRequest]:
        query = select(_R).order_by(_R.c.requested_at.desc(), _R.c.id.desc()).limit(limit)
        if states is not None:
            query = query.where(_R.c.state.in_(list(states)))
        if kind is not None:
            query = query.where(_R.c.kind == kind)
        return [_request(row) for row in self._c.execute(query)]

    def expire_pending(self, now: datetime) -> list[str]:
        due = [str(r) for r in self._c.execute(select(_R.c.id).where(_R.c.state == "pending",
                                                                      _R.c.expires_at <= now)).scalars()]
        if due:
            self._c.execute(update(_R).where(_R.c.id.in_(due), _R.c.state == "pending").values(state="expired"))
        return due

    def add_artifact(self, artifact: ApprovalArtifact) -> None:
        self._c.execute(insert(_A).values(
            request_id=artifact.request_id, name=artifact.name, media_type=artifact.media_type, size=artifact.size,
            sha256=artifact.sha256, produced_at=artifact.produced_at, expires_at=artifact.expires_at,
            sealed_key=artifact.sealed_key, ciphertext=artifact.ciphertext, downloads=artifact.downloads,
            purged_at=artifact.purged_at, one_time=artifact.one_time))

    def artifact(self, request_id: str) -> ApprovalArtifact | None:
        row = self._c.execute(select(_A).where(_A.c.request_id == request_id)).first()
        return None if row is None else _artifact(row)

    def count_download(self, request_id: str, at: datetime) -> None:
        self._c.execute(update(_A).where(_A.c.request_id == request_id).values(downloads=_A.c.downloads + 1))

    def purge_artifact(self, request_id: str, at: datetime) -> None:
        self._c.execute(update(_A).where(_A.c.request_id == request_id, _A.c.purged_at.is_(None))
                        .values(sealed_key=None, ciphertext=None, purged_at=at))

    def artifacts_due(self, now: datetime) -> list[str]:
        query = select(_A.c.request_id).where(_A.c.purged_at.is_(None), _A.c.expires_at <= now)
        return [str(r) for r in self._c.execute(query).scalars()]

    def sealed_keys(self) -> list[tuple[str, str]]:
        query = select(_A.c.request_id, _A.c.sealed_key).where(_A.c.sealed_key.is_not(None))
        return [(str(r.request_id), str(r.sealed_key)) for r in self._c.execute(query)]

    def set_sealed_key(self, request_id: str, sealed_key: str) -> None:
        self._c.execute(update(_A).where(_A.c.request_id == request_id, _A.c.sealed_key.is_not(None))
                        .values(sealed_key=sealed_key))
